"""The demo datastores are made of real DICOM (pydicom test files) via the import pipeline."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("pydicom")
imagecodecs = pytest.importorskip("imagecodecs")

from hi_widgets import sandbox  # noqa: E402
from hi_widgets.sandbox.demo import dicom_sources as demo_dicom  # noqa: E402


@pytest.fixture(scope="module")
def sb():
    with sandbox.start(seed=0, quotas=False, clock=sandbox.ManualClock()) as running:
        yield running


@pytest.fixture(scope="module")
def client(sb):
    client = sb.client(max_attempts=1)
    yield client
    client.close()


def test_every_demo_frame_is_real_pixel_data(sb, client):
    sources = {t.levels["Instance"]["SOPClassUID"] for t in demo_dicom.templates()}
    assert len(demo_dicom.templates()) == len(demo_dicom.SOURCE_FILES)
    ds = sb.store.datastore_ids()[0]
    for image_set in sb.store.image_set_ids(ds)[:6]:
        document = client.get_image_set_metadata(datastoreId=ds, imageSetId=image_set)
        metadata = sb.store.metadata_document(ds, image_set)
        assert document["contentEncoding"] == "gzip"
        (series,) = metadata["Study"]["Series"].values()
        for instance in series["Instances"].values():
            assert instance["DICOM"]["SOPClassUID"] in sources  # the real file's class
            for frame in instance["ImageFrames"]:
                blob = client.get_image_frame(
                    datastoreId=ds,
                    imageSetId=image_set,
                    imageFrameInformation={"imageFrameId": frame["ID"]},
                )
                assert blob["contentType"] == "image/jph"  # HTJ2K
                pixels = imagecodecs.htj2k_decode(blob["imageFrameBlob"].read())
                rows, columns = instance["DICOM"]["Rows"], instance["DICOM"]["Columns"]
                assert pixels.shape[:2] == (rows, columns)


def test_identifiers_are_obviously_fake(sb):
    for ds in sb.store.datastore_ids():
        for image_set in sb.store.image_set_ids(ds):
            document = sb.store.metadata_document(ds, image_set)
            patient = document["Patient"]["DICOM"]
            assert re.fullmatch(r"DEMO\^PATIENT\^\d{3}", patient["PatientName"])
            assert re.fullmatch(r"DEMO-\d{4}", patient["PatientID"])
            study = document["Study"]["DICOM"]
            assert study["StudyInstanceUID"].startswith("2.25.")
            assert study["AccessionNumber"].startswith("DEMOACC")
            for uid, series in document["Study"]["Series"].items():
                assert uid.startswith("2.25.")
                assert all(i.startswith("2.25.") for i in series["Instances"])


def test_the_real_demo_is_deterministic():
    a = sandbox.Sandbox(seed=3, clock=sandbox.ManualClock(), image_sets=4)
    b = sandbox.Sandbox(seed=3, clock=sandbox.ManualClock(), image_sets=4)
    ds = a.store.datastore_ids()[0]
    for image_set in a.store.image_set_ids(ds):
        assert a.store.versions(ds, image_set) == b.store.versions(ds, image_set)
        assert a.store.metadata_document(ds, image_set) == b.store.metadata_document(ds, image_set)
