"""A deterministic, obviously synthetic demo dataset.

Layout (the same for every seed; the seed changes identifiers, timestamps and tags):

* ``demo-radiology``: ``image_sets`` image sets (30 by default). Image set 0 has a single
  version; **image set 1 has 73 versions** and image set 3 has 57, so
  ListImageSetVersions needs two pages of 50; the others have 1 to about 40 versions.
* ``demo-oncology``: 14 image sets; image set 0 has 51 versions and image set 1 exactly
  50 (the page-size boundaries).
* Every ImageSetState and ImageSetWorkflowStatus of the installed botocore model appears:
  the latest versions of ``demo-radiology`` image sets 6, 7, ... show the in-progress and
  failed statuses (UPDATING, COPYING, DELETED, IMPORT_FAILED, ...), continuing in
  ``demo-oncology`` from image set 2 when the first datastore is small.
* Failed versions carry a ``message``; some versions have ``overrides.forced``; patient
  names look like ``DEMO^PATIENT^017`` and ids like ``DEMO-0017``.

Use :data:`LONG_HISTORY` to find the 73-version image set without hard-coding ids.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

from ..model import image_set_states, storage_tiers, workflow_statuses
from .backend import Backend
from .clock import to_millis
from .models import Datastore, ImageSet, Version, make_id

DEMO_EPOCH = datetime(2024, 1, 8, 9, 0, tzinfo=timezone.utc)
"""The earliest createdAt of the demo data."""

SECOND_DATASTORE_SIZE = 14
LONG_HISTORY = (0, 1)
"""(datastore index, image set index) of the demo image set with 73 versions."""

FIXED_LENGTHS: dict[tuple[int, int], int] = {(0, 0): 1, (0, 1): 73, (0, 2): 2, (0, 3): 57}
FIXED_LENGTHS.update({(1, 0): 51, (1, 1): 50})

FAILURE_MESSAGES = {
    "UPDATE_FAILED": "Update failed: StudyDate in updatableAttributes is not a DICOM DA value",
    "COPY_FAILED": "Copy failed: the destination image set changed while the copy was running",
    "IMPORT_FAILED": "Import failed: 3 of 12 DICOM instances could not be parsed",
}

# Latest-version showcases: workflow status -> (state, single-version history).
SHOWCASES: dict[str, tuple[str, bool]] = {
    "CREATED": ("ACTIVE", True),
    "IMPORTING": ("LOCKED", True),
    "IMPORT_FAILED": ("ACTIVE", True),
    "UPDATING": ("LOCKED", False),
    "UPDATING_FOR_STUDY_CONSISTENCY": ("LOCKED", False),
    "COPYING": ("LOCKED", False),
    "COPYING_WITH_READ_ONLY_ACCESS": ("LOCKED", False),
    "DELETING": ("LOCKED", False),
    "DELETED": ("DELETED", False),
    "UPDATE_FAILED": ("ACTIVE", False),
    "COPY_FAILED": ("ACTIVE", False),
}
FIRST_SHOWCASE_INDEX = 6

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


def _ms(value: datetime) -> datetime:
    return to_millis(value)


def _history_length(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.2:
        return 1
    if roll < 0.75:
        return rng.randint(2, 10)
    if roll < 0.95:
        return rng.randint(11, 25)
    return rng.randint(26, 40)


def _series(rng: random.Random, seed: int, key: str, number: int, modality: tuple) -> tuple:
    name, sop_class, parts = modality
    series_uid = _uid(seed, key, "series", number)
    instances = {}
    for instance_number in range(1, rng.randint(1, 4) + 1):
        sop_uid = _uid(seed, key, "instance", number, instance_number)
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
                    "ID": make_id("frame", seed, key, number, instance_number),
                    "FrameSizeInBytes": size * size * 2,
                    "MinPixelValue": 0,
                    "MaxPixelValue": 4095,
                    "PixelDataChecksumFromBaseToFullResolution": [
                        {"Width": size, "Height": size, "Checksum": rng.randrange(2**31)}
                    ],
                }
            ],
        }
    dicom = {
        "Modality": name,
        "SeriesInstanceUID": series_uid,
        "SeriesNumber": number,
        "SeriesDescription": f"DEMO SERIES {number}",
        "BodyPartExamined": rng.choice(parts),
    }
    return series_uid, {"DICOM": dicom, "Instances": instances}


def _base_document(
    rng: random.Random, seed: int, key: str, number: int, created: datetime
) -> dict[str, Any]:
    patient_number = (number + 1) // 2  # two studies per demo patient
    modality = rng.choice(MODALITIES)
    series = dict(_series(rng, seed, key, n, modality) for n in range(1, rng.randint(1, 3) + 1))
    first = next(iter(series.values()))["DICOM"]
    study_day = created - timedelta(days=rng.randint(0, 20), minutes=rng.randint(0, 600))
    patient_rng = random.Random(f"hi-widgets-demo-patient:{seed}:{patient_number}")
    birth = datetime(1940, 1, 1) + timedelta(days=patient_rng.randint(0, 70 * 365))
    return {
        "Patient": {
            "DICOM": {
                "PatientName": f"DEMO^PATIENT^{patient_number:03d}",
                "PatientID": f"DEMO-{patient_number:04d}",
                "PatientBirthDate": birth.strftime("%Y%m%d"),
                "PatientSex": patient_rng.choice(("F", "M", "O")),
            }
        },
        "Study": {
            "DICOM": {
                "StudyInstanceUID": _uid(seed, key, "study"),
                "StudyID": f"DEMO{number:04d}",
                "AccessionNumber": f"DEMOACC{number:05d}",
                "StudyDate": study_day.strftime("%Y%m%d"),
                "StudyTime": study_day.strftime("%H%M%S"),
                "StudyDescription": f"DEMO {modality[0]} {first['BodyPartExamined']}",
            },
            "Series": series,
        },
    }


def _revise(document: dict[str, Any], version_id: int) -> dict[str, Any]:
    study = document["Study"]
    description = study["DICOM"]["StudyDescription"].split(" REV ")[0]
    return {
        **document,
        "Study": {
            **study,
            "DICOM": {**study["DICOM"], "StudyDescription": f"{description} REV {version_id}"},
        },
    }


def _add_series(
    rng: random.Random, document: dict[str, Any], seed: int, key: str, version_id: int
) -> dict[str, Any]:
    study = document["Study"]
    if len(study["Series"]) >= 5:
        return _revise(document, version_id)
    number = 100 + version_id
    uid, series = _series(rng, seed, key, number, rng.choice(MODALITIES))
    return {**document, "Study": {**study, "Series": {**study["Series"], uid: series}}}


def _build_history(
    rng: random.Random,
    seed: int,
    key: str,
    number: int,
    length: int,
    showcase: str | None,
    long_history: bool,
) -> list[Version]:
    created = _ms(DEMO_EPOCH + timedelta(days=rng.uniform(0, 150)))
    document = _base_document(rng, seed, key, number, created)
    is_primary = rng.random() < 0.85
    spacing_days = min(4.0, 400.0 / max(length, 1))
    versions: list[Version] = []
    for version_id in range(1, length + 1):
        if version_id > 1:
            created = _ms(created + timedelta(days=rng.uniform(0.1, spacing_days)))
            roll = rng.random()
            if long_history and version_id in (5, 13, 9):
                status = {5: "UPDATE_FAILED", 9: "COPIED", 13: "COPY_FAILED"}[version_id]
            elif roll < 0.78:
                status = "UPDATED"
            elif roll < 0.88:
                status = "COPIED"
            elif roll < 0.95:
                status = "UPDATE_FAILED"
            else:
                status = "COPY_FAILED"
        else:
            status = "IMPORTED"
        forced = None
        if status == "UPDATED":
            document = _revise(document, version_id)
            if rng.random() < 0.08 or (long_history and version_id == 7):
                forced = True
        elif status == "COPIED":
            document = _add_series(rng, document, seed, key, version_id)
        updated = _ms(created + timedelta(seconds=rng.uniform(3, 900)))
        versions.append(
            Version(
                version_id=version_id,
                state="ACTIVE",
                workflow_status=status,
                created_at=created,
                updated_at=updated,
                document=document,
                message=FAILURE_MESSAGES.get(status),
                forced=forced,
                is_primary=is_primary,
            )
        )
    if showcase is not None:
        _apply_showcase(versions[-1], showcase)
    return versions


def _apply_showcase(version: Version, status: str) -> None:
    state = SHOWCASES.get(status, ("ACTIVE", False))[0]
    version.workflow_status = status
    version.state = state
    version.message = FAILURE_MESSAGES.get(status)
    if state == "LOCKED":
        version.updated_at = version.created_at
    if status == "DELETED":
        version.deleted_at = version.updated_at


def populate(store: Backend, *, seed: int = 0, image_sets: int = 30) -> None:
    """Fill ``store`` with the demo datastores, image sets and version histories.

    Parameters
    ----------
    store
        An empty store.
    seed
        Changes identifiers, timestamps and tag values, never the layout.
    image_sets
        Size of the first datastore (``demo-radiology``), at least 1. Larger values give a
        bigger datastore for benchmarks (about 9 versions per image set on average).
    """
    if image_sets < 1:
        raise ValueError(f"image_sets must be >= 1, got {image_sets}")
    statuses = workflow_statuses()
    showcases = [s for s in SHOWCASES if s in statuses]
    showcases += [
        s for s in statuses if s not in SHOWCASES and s not in ("UPDATED", "COPIED", "IMPORTED")
    ]
    sizes = (image_sets, SECOND_DATASTORE_SIZE)
    slots = [(0, i) for i in range(FIRST_SHOWCASE_INDEX, image_sets)]
    slots += [(1, i) for i in range(2, SECOND_DATASTORE_SIZE)]
    assigned = dict(zip(slots, showcases, strict=False))
    tiers = storage_tiers() or (None,)
    number = 0
    built: list[ImageSet] = []
    for ds_index, (name, size) in enumerate(
        zip(("demo-radiology", "demo-oncology"), sizes, strict=True)
    ):
        datastore_id = make_id("demo", seed, "datastore", ds_index)
        created = DEMO_EPOCH - timedelta(days=30 - ds_index)
        datastore = Datastore(
            datastore_id=datastore_id,
            name=name,
            status="ACTIVE",
            arn=store.datastore_arn(datastore_id),
            created_at=created,
            updated_at=created + timedelta(minutes=4, seconds=12),
            tags={"project": "hi-widgets-demo", "seed": str(seed)},
        )
        for index in range(size):
            number += 1
            key = f"{ds_index}:{index}"
            rng = random.Random(f"hi-widgets-demo:{seed}:{key}")
            showcase = assigned.get((ds_index, index))
            if (ds_index, index) in FIXED_LENGTHS:
                length = FIXED_LENGTHS[(ds_index, index)]
            elif showcase is not None and SHOWCASES.get(showcase, ("", False))[1]:
                length = 1
            else:
                length = _history_length(rng)
                if showcase is not None:
                    length = max(length, 2)
            versions = _build_history(
                rng, seed, key, number, length, showcase, (ds_index, index) == LONG_HISTORY
            )
            image_set_id = make_id("demo", seed, "imageset", ds_index, index)
            last = versions[-1].updated_at
            datastore.image_sets[image_set_id] = ImageSet(
                datastore_id=datastore_id,
                image_set_id=image_set_id,
                arn=store.image_set_arn(datastore_id, image_set_id),
                versions=versions,
                last_accessed_at=_ms(last + timedelta(days=rng.uniform(0, 60))),
                storage_tier=tiers[0] if rng.random() < 0.75 else tiers[-1],
            )
        store.add_datastore(datastore)
        built.extend(datastore.image_sets.values())
    _cover_states(built)


def _cover_states(image_sets: list[ImageSet]) -> None:
    """Make sure every ImageSetState of the model appears (states newer than this code)."""
    seen = {version.state for image_set in image_sets for version in image_set.versions}
    latest_versions = [image_set.latest for image_set in image_sets]
    missing = [state for state in image_set_states() if state not in seen]
    for state, version in zip(missing, reversed(latest_versions), strict=False):
        version.state = state
