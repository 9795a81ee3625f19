"""The preview end to end: real DICOM imported by the sandbox, real boto3 over real HTTP.

pydicom's own test files are copied to a folder the sandbox imports at start-up; every
previewed frame must decode (HTJ2K, lossless) to exactly what pydicom reads from the file,
and be windowed with the file's own attributes.
"""

from __future__ import annotations

import copy
import shutil
import textwrap
import warnings

import numpy as np
import pytest

pydicom = pytest.importorskip("pydicom")
pytest.importorskip("imagecodecs")

from pydicom.data import get_testdata_file  # noqa: E402
from pydicom.pixels import apply_color_lut  # noqa: E402

from hi_widgets import sandbox  # noqa: E402
from hi_widgets.api.fetch import get_image_set_metadata  # noqa: E402
from hi_widgets.images.preview import ImageFrameCache, preview_image_set, window_pixels  # noqa: E402
from hi_widgets.plots.images import plot_previews  # noqa: E402

CT = "CT_small.dcm"  # signed 16 bit, rescale intercept -1024, no window
MR = "MR_small.dcm"  # signed 16 bit, WindowCenter 600 / WindowWidth 1600
RTDOSE = "rtdose.dcm"  # 15 frames of unsigned 32 bit
COLOUR = "examples_ybr_color.dcm"  # 30 frames of JPEG baseline YBR (RGB once decoded)
PALETTE = "examples_palette.dcm"  # PALETTE COLOR with 16-bit lookup tables
FILES = (CT, MR, RTDOSE, COLOUR, PALETTE)


def read(name: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(get_testdata_file(name))


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dicom")
    for name in FILES:
        shutil.copy(get_testdata_file(name), folder / name)
    with sandbox.start(import_from=str(folder), quotas=False) as sb:
        client = sb.client()
        datastore_id = next(
            d["datastoreId"]
            for d in client.list_datastores()["datastoreSummaries"]
            if d["datastoreName"] == "imported-dicom"
        )
        yield sb, client, datastore_id
        client.close()


@pytest.fixture(scope="module")
def image_sets(imported):
    """File name to (image set id, metadata document), one image set per file."""
    _, client, datastore_id = imported
    by_sop = {str(read(name).SOPInstanceUID): name for name in FILES}
    found = {}
    for image_set_id in imported[0].store.image_set_ids(datastore_id):
        document = get_image_set_metadata(client, datastore_id, image_set_id)
        series = next(iter(document["Study"]["Series"].values()))
        (sop_uid,) = series["Instances"]
        found[by_sop[sop_uid]] = (image_set_id, document)
    assert set(found) == set(FILES)
    return found


def stored_frames(name: str) -> list[np.ndarray]:
    dataset = read(name)
    pixels = dataset.pixel_array
    return list(pixels) if int(dataset.get("NumberOfFrames") or 1) > 1 else [pixels]


@pytest.mark.parametrize("name", FILES)
def test_every_frame_is_the_dicom_pixel_data_losslessly(imported, image_sets, name):
    _, client, datastore_id = imported
    image_set_id, document = image_sets[name]
    dataset = read(name)
    previews = preview_image_set(
        client, datastore_id, image_set_id, metadata=document, cache=ImageFrameCache()
    )
    frames = stored_frames(name)
    expected_positions = ["first", "middle", "last"] if len(frames) > 1 else ["first"]
    assert [p.ref.position for p in previews] == expected_positions
    for preview in previews:
        assert preview.ok, preview.error
        assert preview.content_type == "image/jph"
        assert preview.ref.frame_count == len(frames)
        assert preview.pixels.shape[:2] == (dataset.Rows, dataset.Columns)
        np.testing.assert_array_equal(preview.pixels, frames[preview.ref.frame_index])
        assert preview.image.shape[:2] == (dataset.Rows, dataset.Columns)
    if len(frames) > 1:
        assert [p.ref.frame_index for p in previews] == [0, len(frames) // 2, len(frames) - 1]
        assert previews[-1].title.endswith(f"frame {len(frames)}/{len(frames)})")


def rescale(dataset) -> dict:
    slope, intercept = dataset.get("RescaleSlope"), dataset.get("RescaleIntercept")
    return {
        "slope": None if slope is None else float(slope),
        "intercept": None if intercept is None else float(intercept),
    }


def test_windowing_uses_the_file_window_when_present(imported, image_sets):
    _, client, datastore_id = imported
    mr = read(MR)
    assert (float(mr.WindowCenter), float(mr.WindowWidth)) == (600.0, 1600.0)
    (preview,) = preview_image_set(
        client, datastore_id, image_sets[MR][0], cache=ImageFrameCache()
    )
    windowed = window_pixels(mr.pixel_array, center=600.0, width=1600.0, **rescale(mr))
    np.testing.assert_array_equal(preview.image, windowed)
    assert not np.array_equal(preview.image, window_pixels(mr.pixel_array, **rescale(mr)))

    ct = read(CT)
    assert "WindowCenter" not in ct and float(ct.RescaleIntercept) == -1024.0
    (preview,) = preview_image_set(
        client, datastore_id, image_sets[CT][0], cache=ImageFrameCache()
    )
    np.testing.assert_array_equal(preview.image, window_pixels(ct.pixel_array, **rescale(ct)))


def test_colour_and_palette_frames_are_shown_in_colour(imported, image_sets):
    _, client, datastore_id = imported
    palette = read(PALETTE)
    (preview,) = preview_image_set(
        client, datastore_id, image_sets[PALETTE][0], cache=ImageFrameCache()
    )
    rgb = apply_color_lut(palette.pixel_array, palette)  # 16-bit tables
    np.testing.assert_allclose(preview.image, rgb / 65535.0, atol=1e-6)

    colour = preview_image_set(
        client, datastore_id, image_sets[COLOUR][0], cache=ImageFrameCache()
    )
    frames = stored_frames(COLOUR)
    for preview in colour:
        expected = frames[preview.ref.frame_index] / 255.0
        np.testing.assert_allclose(preview.image, expected, atol=1e-6)


def test_a_second_preview_is_served_from_the_cache(imported, image_sets):
    sb, client, datastore_id = imported
    image_set_id, _ = image_sets[RTDOSE]
    cache = ImageFrameCache()
    sb.clear_requests()
    first = preview_image_set(client, datastore_id, image_set_id, cache=cache)
    sent = [entry.operation for entry in sb.requests]
    assert sent == ["GetImageSetMetadata"] + ["GetImageFrame"] * 3
    sb.clear_requests()
    again = preview_image_set(client, datastore_id, image_set_id, cache=cache)
    assert [entry.operation for entry in sb.requests] == ["GetImageSetMetadata"]
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.pixels, b.pixels)


def test_a_frame_id_that_does_not_exist_is_a_per_frame_error(imported, image_sets):
    sb, client, datastore_id = imported
    image_set_id, document = image_sets[RTDOSE]
    document = copy.deepcopy(document)
    series = next(iter(document["Study"]["Series"].values()))
    instance = next(iter(series["Instances"].values()))
    missing = "0" * 32
    instance["ImageFrames"][0]["ID"] = missing
    sb.clear_requests()
    previews = preview_image_set(
        client, datastore_id, image_set_id, metadata=document, cache=ImageFrameCache(0)
    )
    assert [p.ok for p in previews] == [False, True, True]
    error = previews[0].error
    assert error.startswith(f"could not fetch frame {missing}: Not found: image frame {missing}")
    assert "ImageFrames[].ID" in error
    assert (sb.requests[0].operation, sb.requests[0].error) == (
        "GetImageFrame",
        "ResourceNotFoundException",
    )
    figure = plot_previews(previews)
    assert [len(ax.images) for ax in figure.axes] == [0, 1, 1]
    shown = figure.axes[0].texts[0].get_text()
    assert "Not found: image frame" in " ".join(shown.split())
    assert len(shown.splitlines()) <= 9 < len(textwrap.wrap(error, 32))  # cut short
