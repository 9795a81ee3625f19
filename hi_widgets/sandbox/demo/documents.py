"""The demo's metadata documents: synthetic patients, studies and series with fake UIDs."""

from __future__ import annotations

import functools
import json
import random
from datetime import datetime, timedelta
from typing import Any

from hi_widgets.sandbox.backend.domain import make_id

MODALITIES = (
    ("CT", "1.2.840.10008.5.1.4.1.1.2", ("CHEST", "HEAD", "ABDOMEN")),
    ("MR", "1.2.840.10008.5.1.4.1.1.4", ("HEAD", "KNEE", "SPINE")),
    ("CR", "1.2.840.10008.5.1.4.1.1.1", ("CHEST", "HAND")),
    ("US", "1.2.840.10008.5.1.4.1.1.6.1", ("ABDOMEN", "PELVIS")),
    ("PT", "1.2.840.10008.5.1.4.1.1.128", ("WHOLEBODY",)),
)


def _uid(*parts: object) -> str:
    """Return a valid, obviously synthetic DICOM UID under the 2.25 (UUID) root."""
    return "2.25." + str(int(make_id("uid", *parts), 16))


def _instances(
    rng: random.Random, key: str, sop_class: str, first: int, count: int
) -> dict[str, Any]:
    instances = {}
    for instance_number in range(first, first + count):
        sop_uid = _uid(key, "instance", instance_number)
        size = rng.choice((256, 512))
        instances[sop_uid] = {
            "DICOM": {
                "SOPClassUID": sop_class,
                "SOPInstanceUID": sop_uid,
                "InstanceNumber": instance_number,
                "Rows": size,
                "Columns": size,
            },
            "ImageFrames": [
                {
                    "ID": make_id("frame", key, instance_number),
                    "FrameSizeInBytes": size * size * 2,
                    "MinPixelValue": 0,
                    "MaxPixelValue": 4095,
                    "PixelDataChecksumFromBaseToFullResolution": [
                        {"Width": size, "Height": size, "Checksum": rng.randrange(2**31)}
                    ],
                }
            ],
        }
    return instances


def skip_instances(rng: random.Random, count: int) -> None:
    """Draw from ``rng`` what :func:`_instances` draws for ``count`` instances, and no more.

    The deferred demo (:mod:`~hi_widgets.sandbox.demo.deferred`) keeps every later draw of
    an image set's generator as the builder's without making the instances.
    """
    for _ in range(count):
        rng.choice((256, 512))
        rng.randrange(2**31)


def _dicom_date(day: datetime) -> str:
    """Return ``day`` as a DICOM DA, ``YYYYMMDD`` (``strftime("%Y%m%d")``, faster)."""
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


@functools.lru_cache(maxsize=16)
def _patient_draws(seed: int, patient_number: int) -> tuple[str, str]:
    """Return a demo patient's birth date and sex (two studies, so cached, share them)."""
    patient_rng = random.Random(f"hi-widgets-demo-patient:{seed}:{patient_number}")
    birth = datetime(1940, 1, 1) + timedelta(days=patient_rng.randint(0, 70 * 365))
    return _dicom_date(birth), patient_rng.choice(("F", "M", "O"))


@functools.lru_cache(maxsize=16)
def _study_draws(seed: int, study_key: str) -> tuple[str, str, str, str, int, int]:
    """Return a demo study's UID, modality, SOP class, body part and date offsets.

    A study's two series (``data``'s image sets ``i % 5 == 3`` and ``4``) share them.
    """
    study_rng = random.Random(f"hi-widgets-demo-study:{seed}:{study_key}")
    name, sop_class, parts = study_rng.choice(MODALITIES)
    body_part = study_rng.choice(parts)
    days, minutes = study_rng.randint(0, 20), study_rng.randint(0, 600)
    return _uid(seed, study_key, "study"), name, sop_class, body_part, days, minutes


def study_levels(
    seed: int, study_key: str, series_number: int, day: datetime
) -> tuple[dict[str, Any], str]:
    """Return an imported image set's metadata without instances, and their SOP class.

    Draws only from generators of its own (the patient's and the study's).
    """
    number = int(study_key.split(":")[-1]) + 1 + 100 * int(study_key.split(":")[0])
    patient_number = (number + 1) // 2  # two studies per demo patient
    birth_date, sex = _patient_draws(seed, patient_number)
    study_uid, name, sop_class, body_part, days, minutes = _study_draws(seed, study_key)
    series_uid = _uid(f"{seed}:{study_key}:{series_number}", "series")
    study_day = day - timedelta(days=days, minutes=minutes)
    document = {
        "Patient": {
            "DICOM": {
                "PatientName": f"DEMO^PATIENT^{patient_number:03d}",
                "PatientID": f"DEMO-{patient_number:04d}",
                "PatientBirthDate": birth_date,
                "PatientSex": sex,
            }
        },
        "Study": {
            "DICOM": {
                "StudyInstanceUID": study_uid,
                "StudyID": f"DEMO{number:04d}",
                "AccessionNumber": f"DEMOACC{number:05d}",
                "StudyDate": _dicom_date(study_day),
                "StudyTime": f"{study_day.hour:02d}{study_day.minute:02d}{study_day.second:02d}",
                "StudyDescription": f"DEMO {name} {body_part}",
            },
            "Series": {
                series_uid: {
                    "DICOM": {
                        "Modality": name,
                        "SeriesInstanceUID": series_uid,
                        "SeriesNumber": series_number,
                        "SeriesDescription": f"DEMO SERIES {series_number}",
                        "BodyPartExamined": body_part,
                    },
                }
            },
        },
    }
    return document, sop_class


def imported_document(
    rng: random.Random, seed: int, study_key: str, series_number: int, day: datetime
) -> dict[str, Any]:
    """Return an imported image set's metadata: one study, one series of 1-4 instances."""
    document, sop_class = study_levels(seed, study_key, series_number, day)
    (series,) = document["Study"]["Series"].values()
    series_key = f"{seed}:{study_key}:{series_number}"
    series["Instances"] = _instances(rng, series_key, sop_class, 1, rng.randint(1, 4))
    return document


def late_import_document(rng: random.Random, document: dict[str, Any], key: str) -> dict[str, Any]:
    """Return the same series with 1-2 other instances: a late, conflicting import of it."""
    study = document["Study"]
    (uid, series), *_ = study["Series"].items()
    sop_class = next(iter(series["Instances"].values()))["DICOM"]["SOPClassUID"]
    late = _instances(rng, key, sop_class, 50, rng.randint(1, 2))
    return {**document, "Study": {**study, "Series": {uid: {**series, "Instances": late}}}}


def document_blob(document: dict[str, Any]) -> bytes:
    """Return a metadata document as the JSON bytes an update or import carries."""
    return json.dumps({"SchemaVersion": "1.1", **document}).encode()
