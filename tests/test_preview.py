"""Image previews: choosing frames, GetImageFrame through Stubber, HTJ2K decoding, windowing."""

from __future__ import annotations

import base64
import gzip
import io
import json
import sys
import threading

import boto3
import numpy as np
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from hi_widgets.api.errors import InvalidIdentifierError
from hi_widgets.images._pixels import display_pixels
from hi_widgets.images.preview import (
    FrameDecodeError,
    ImageFrameCache,
    MissingCodecError,
    choose_image_frames,
    decode_image_frame,
    preview_image_set,
    window_pixels,
)
from hi_widgets.plots.images import plot_previews

imagecodecs = pytest.importorskip("imagecodecs")

DS = "a" * 32
IS = "b" * 32
SERIES_1, SERIES_2 = "1.2.3.1", "1.2.3.2"


def instance(uid: str, number: int | None, frames: int = 1, **dicom) -> tuple[str, dict]:
    tags = {"SOPInstanceUID": uid, **dicom}
    if number is not None:
        tags["InstanceNumber"] = number
    return uid, {
        "DICOM": tags,
        "ImageFrames": [{"ID": f"{uid}-f{i}", "FrameSizeInBytes": 1} for i in range(frames)],
    }


def document(*series: tuple[str, int | None, dict, dict]) -> dict:
    return {
        "SchemaVersion": "1.1",
        "Study": {
            "DICOM": {"StudyDescription": "CT"},
            "Series": {
                uid: {"DICOM": {"SeriesNumber": number, **dicom}, "Instances": instances}
                for uid, number, dicom, instances in series
            },
        },
    }


def pixels(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 4096, size=(24, 32), dtype=np.uint16)


@pytest.fixture
def client():
    client = boto3.client(
        "medical-imaging",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    yield client
    client.close()


def frame_response(blob: bytes, content_type: str = "image/jph") -> dict:
    return {
        "imageFrameBlob": StreamingBody(io.BytesIO(blob), len(blob)),
        "contentType": content_type,
    }


def frame_params(frame_id: str) -> dict:
    return {
        "datastoreId": DS,
        "imageSetId": IS,
        "imageFrameInformation": {"imageFrameId": frame_id},
    }


# ------------------------------------------------------------------------- choosing


def test_first_middle_last_of_the_first_series_by_instance_number():
    shuffled = dict(instance(f"1.{n}", n) for n in (4, 1, 5, 3, 2))
    no_frames = {"1.9": {"DICOM": {"InstanceNumber": 0}, "ImageFrames": []}}
    later = dict([instance("2.1", 1)])
    doc = document((SERIES_2, 2, {}, later), (SERIES_1, 1, {}, {**shuffled, **no_frames}))
    refs = choose_image_frames(doc)
    assert [(r.position, r.instance_number, r.frame_id) for r in refs] == [
        ("first", 1, "1.1-f0"),
        ("middle", 3, "1.3-f0"),
        ("last", 5, "1.5-f0"),
    ]
    assert {r.series_uid for r in refs} == {SERIES_1}


def test_few_instances_multiframe_and_none():
    two = document((SERIES_1, None, {}, dict([instance("1.a", None), instance("1.b", None)])))
    assert [(r.position, r.sop_instance_uid) for r in choose_image_frames(two)] == [
        ("first", "1.a"),
        ("last", "1.b"),
    ]
    multi = document((SERIES_1, 1, {}, dict([instance("1.m", 1, frames=9)])))
    assert [(r.frame_id, r.frame_index) for r in choose_image_frames(multi)] == [
        ("1.m-f0", 0),
        ("1.m-f4", 4),
        ("1.m-f8", 8),
    ]
    assert choose_image_frames({"Study": {"Series": {}}}) == []
    with pytest.raises(TypeError, match="metadata"):
        choose_image_frames(["not", "a", "document"])


# ------------------------------------------------------------------------ windowing


def test_window_follows_the_dicom_linear_function_after_rescale():
    center, width = 40.0, 400.0
    low, high = center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2
    stored = np.array([low, center - 0.5, high, low - 100, high + 100]) + 1024  # intercept
    out = window_pixels(stored, center=center, width=width, slope=1.0, intercept=-1024.0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0.0, 0.5, 1.0, 0.0, 1.0], atol=1e-6)
    halved = window_pixels(stored * 2, center=center, width=width, slope=0.5, intercept=-1024)
    np.testing.assert_allclose(halved, out, atol=1e-6)
    inverted = window_pixels(stored, center=center, width=width, intercept=-1024, invert=True)
    np.testing.assert_allclose(inverted, 1 - out, atol=1e-6)


def test_window_without_centre_uses_a_robust_min_max():
    values = np.arange(1000, dtype=np.int16).reshape(25, 40)
    values[0, 0] = -30000  # an outlier the percentiles ignore
    out = window_pixels(values)
    low, high = np.percentile(values, (0.5, 99.5))
    assert out[values <= low].max() == 0.0 and out[values >= high].min() == 1.0
    middle = values == 500
    np.testing.assert_allclose(out[middle], (500 - low) / (high - low), rtol=1e-6)
    assert not window_pixels(np.full((4, 4), 7)).any()  # constant: zeros
    assert window_pixels(np.arange(16), width=0, center=3).max() == 1.0  # bad width ignored
    colour = np.full((2, 2, 3), 255, dtype=np.uint8)
    assert (window_pixels(colour) == 1.0).all()


def test_palette_colour_uses_inline_tables_and_falls_back_to_grey():
    indices = np.array([[10, 11], [12, 99]], dtype=np.uint8)
    ramp = np.arange(256, dtype=np.uint8)  # 8-bit entries packed, first mapped value 10
    tables = {"Red": ramp, "Green": ramp[::-1].copy(), "Blue": np.zeros(256, dtype=np.uint8)}
    attributes = {"PhotometricInterpretation": "PALETTE COLOR"}
    for colour, table in tables.items():
        attributes[f"{colour}PaletteColorLookupTableDescriptor"] = [256, 10, 8]
        data = base64.b64encode(table.tobytes()).decode()
        attributes[f"{colour}PaletteColorLookupTableData"] = data
    rgb = display_pixels(indices, attributes)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.float32
    np.testing.assert_allclose(rgb[..., 0], [[0, 1 / 255], [2 / 255, 89 / 255]], atol=1e-6)
    np.testing.assert_allclose(rgb[..., 1], 1 - rgb[..., 0], atol=1e-6)
    assert not rgb[..., 2].any()
    # Tables kept out of the metadata (a BulkDataURI): the indices are shown in grey.
    del attributes["BluePaletteColorLookupTableData"]
    np.testing.assert_array_equal(display_pixels(indices, attributes), window_pixels(indices))


def test_colour_frames_are_scaled_by_bits_stored():
    twelve_bit = np.full((2, 2, 3), 4095, dtype=np.uint16)
    assert (display_pixels(twelve_bit, {"BitsStored": 12}) == 1.0).all()
    assert display_pixels(twelve_bit, {}).max() == pytest.approx(4095 / 65535)


# ------------------------------------------------------------------------- decoding


def test_decode_htj2k_octet_stream_and_raw():
    image = pixels(1)
    blob = imagecodecs.htj2k_encode(image)
    np.testing.assert_array_equal(decode_image_frame(blob, "image/jph"), image)
    np.testing.assert_array_equal(decode_image_frame(blob, "application/octet-stream"), image)
    raw = image.astype("<u2").tobytes()
    attributes = {"Rows": 24, "Columns": 32, "BitsAllocated": 16, "PixelRepresentation": 0}
    np.testing.assert_array_equal(
        decode_image_frame(raw, "application/octet-stream", attributes), image
    )
    with pytest.raises(FrameDecodeError, match=r"1535 bytes .*expected 1536"):
        decode_image_frame(raw[:-1], "application/octet-stream", attributes)


def test_corrupt_and_unsupported_frames_say_why():
    with pytest.raises(FrameDecodeError) as caught:
        decode_image_frame(b"\xff\x4f\xff\x51" + b"\x00" * 60, "image/jph")
    assert "64 bytes of image/jph" in str(caught.value)
    with pytest.raises(FrameDecodeError, match="video"):
        decode_image_frame(b"\x00" * 10, "video/mp4")
    with pytest.raises(FrameDecodeError, match="empty"):
        decode_image_frame(b"", "image/jph")
    with pytest.raises(FrameDecodeError, match="Rows/Columns"):
        decode_image_frame(b"\x01\x02", "application/octet-stream")


def test_missing_codecs_name_the_extra(monkeypatch):
    blob = imagecodecs.htj2k_encode(pixels(0))
    monkeypatch.setitem(sys.modules, "imagecodecs", None)
    monkeypatch.setitem(sys.modules, "openjpeg", None)
    with pytest.raises(MissingCodecError, match=r'pip install "hi-widgets\[images\]"'):
        decode_image_frame(blob, "image/jph")


def test_without_imagecodecs_pylibjpeg_openjpeg_decodes(monkeypatch):
    pytest.importorskip("openjpeg")
    blob = imagecodecs.htj2k_encode(pixels(0))
    monkeypatch.setitem(sys.modules, "imagecodecs", None)
    np.testing.assert_array_equal(decode_image_frame(blob, "image/jph"), pixels(0))


# -------------------------------------------------------------------------- preview


WINDOW = {"WindowCenter": ["2000", "40"], "WindowWidth": [3000, 400], "RescaleIntercept": "0"}


def three_frames_document() -> dict:
    instances = dict(instance(f"1.{n}", n) for n in (1, 2, 3))
    return document((SERIES_1, 1, WINDOW, instances))


def test_preview_fetches_decodes_windows_and_caches(client):
    images = {n: pixels(n) for n in (1, 2, 3)}
    doc = three_frames_document()
    cache = ImageFrameCache()
    calls = []
    with Stubber(client) as stub:
        blob = gzip.compress(json.dumps(doc).encode())
        stub.add_response(
            "get_image_set_metadata",
            {
                "imageSetMetadataBlob": StreamingBody(io.BytesIO(blob), len(blob)),
                "contentType": "application/json",
                "contentEncoding": "gzip",
            },
            {"datastoreId": DS, "imageSetId": IS},
        )
        for n in (1, 2, 3):
            encoded = imagecodecs.htj2k_encode(images[n])
            stub.add_response(
                "get_image_frame", frame_response(encoded), frame_params(f"1.{n}-f0")
            )
        previews = preview_image_set(
            client, DS, IS, cache=cache, progress=lambda p: calls.append((p.done, p.total))
        )
        stub.assert_no_pending_responses()
        # Again, from the cache: Stubber would refuse any request now.
        again = preview_image_set(client, DS, IS, metadata=doc, cache=cache)
    assert calls == [(1, 3), (2, 3), (3, 3)]
    assert [p.title for p in previews] == ["first (#1)", "middle (#2)", "last (#3)"]
    for n, preview in zip((1, 2, 3), previews, strict=True):
        assert preview.ok and preview.error is None and preview.content_type == "image/jph"
        expected = window_pixels(images[n], center=2000, width=3000, intercept=0.0)
        np.testing.assert_array_equal(preview.image, expected)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(previews, again, strict=True))
    assert len(cache) == 3


def test_a_bad_frame_does_not_stop_the_others(client):
    doc = three_frames_document()
    with Stubber(client) as stub:
        good = imagecodecs.htj2k_encode(pixels(1))
        stub.add_response("get_image_frame", frame_response(good), frame_params("1.1-f0"))
        corrupt = b"\xff\x4f\xff\x51" + b"\x13" * 96
        stub.add_response("get_image_frame", frame_response(corrupt), frame_params("1.2-f0"))
        stub.add_client_error(
            "get_image_frame",
            service_error_code="AccessDeniedException",
            service_message="no",
            http_status_code=403,
            expected_params=frame_params("1.3-f0"),
        )
        previews = preview_image_set(client, DS, IS, metadata=doc, cache=ImageFrameCache(0))
    assert [p.ok for p in previews] == [True, False, False]
    assert "cannot decode 100 bytes of image/jph" in previews[1].error
    assert (previews[1].size, previews[1].content_type) == (100, "image/jph")
    assert previews[2].error.startswith("could not fetch frame 1.3-f0: Access denied")


def test_cancel_stops_before_the_next_frame_and_ids_are_checked_first(client):
    cancel = threading.Event()
    with Stubber(client) as stub:
        good = imagecodecs.htj2k_encode(pixels(1))
        stub.add_response("get_image_frame", frame_response(good), frame_params("1.1-f0"))
        previews = preview_image_set(
            client,
            DS,
            IS,
            metadata=three_frames_document(),
            cache=ImageFrameCache(0),
            progress=lambda step: cancel.set(),
            cancel=cancel,
        )
        with pytest.raises(InvalidIdentifierError):
            preview_image_set(client, "nope", IS, metadata=three_frames_document())
    assert len(previews) == 1 and previews[0].ok


def test_frame_cache_is_bounded():
    cache = ImageFrameCache(max_frames=2, max_bytes=10)
    cache.put(("d", "i", "1"), b"1234", "image/jph")
    cache.put(("d", "i", "2"), b"5678", "image/jph")
    assert cache.get(("d", "i", "1")) == (b"1234", "image/jph")  # now the most recent
    cache.put(("d", "i", "3"), b"9", None)
    assert cache.get(("d", "i", "2")) is None and len(cache) == 2
    cache.put(("d", "i", "4"), b"abcdefgh", None)  # over max_bytes with the others
    assert cache.get(("d", "i", "1")) is None and cache.get(("d", "i", "4")) is not None
    cache.put(("d", "i", "5"), b"x" * 11, None)  # larger than the cache: not kept
    assert cache.get(("d", "i", "5")) is None


def test_plot_frames_draws_images_and_errors_without_pyplot(client):
    import matplotlib.pyplot as plt

    doc = three_frames_document()
    with Stubber(client) as stub:
        for n in (1, 2):
            blob = imagecodecs.htj2k_encode(pixels(n))
            stub.add_response("get_image_frame", frame_response(blob), frame_params(f"1.{n}-f0"))
        stub.add_response("get_image_frame", frame_response(b"\x00" * 8, "video/mp4"))
        previews = preview_image_set(client, DS, IS, metadata=doc, cache=ImageFrameCache(0))
    figure = plot_previews(previews)
    assert plt.get_fignums() == []
    axes = figure.axes
    assert [len(ax.images) for ax in axes] == [1, 1, 0]
    assert "video" in axes[2].texts[0].get_text()
    assert [ax.get_title() for ax in axes] == ["first (#1)", "middle (#2)", "last (#3)"]
    assert figure._repr_png_().startswith(b"\x89PNG")
    assert plot_previews([]).axes[0].texts[0].get_text() == "No image frames"
