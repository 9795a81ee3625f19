"""The DICOM import pipeline: P10 files in, image set drafts and failures out.

HealthImaging "attempts to organize imported P10 data according to the DICOM hierarchy of
Study, Series, and Instance" and image sets "resemble a DICOM Series" ("Understanding image
sets"); "the instances corresponding to a DICOM Series will be automatically combined in a
single image set, denoted primary" ("Understanding import jobs"). The grouping elements
are Patient ID, Study Instance UID, Study Date, Accession Number, Study ID, Series Instance
UID and Series Number (:data:`~hi_widgets.sandbox.dicom.levels.IMAGE_SET_KEY_KEYWORDS`).

So :func:`group_instances` makes one draft per series. Where the docs are silent on one
job's own conflicts, this pipeline chooses: the instances are taken in input file order;
the first instance of a series sets the series' grouping values and its draft is the
primary candidate; instances of the same series with other grouping values go to a
non-primary draft per distinct set of values (the docs: conflicting data "will be
persisted as non-primary"). An instance imported twice replaces the earlier copy ("the
latest version will overwrite any older version"); both files are reported as imported.
Patient, Study and Series attributes of a draft come from its first instance.

Entry points: :func:`run_pipeline` over ``(name, bytes)`` pairs (what an import job reads
from S3), and :func:`import_local` over local files and folders (demo data, tests).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hi_widgets.sandbox.dicom.levels import IMAGE_SET_KEY_KEYWORDS, level_of
from hi_widgets.sandbox.dicom.limits import JobBudget
from hi_widgets.sandbox.dicom.read import Failure, Frame, Instance, read_instance

Identity = tuple[Any, ...]
"""The values of the grouping elements of an instance, in IMAGE_SET_KEY_KEYWORDS order."""


def identity_of(instance: Instance) -> Identity:
    """Return the grouping values that decide which image set an instance joins."""
    return tuple(instance.attribute(keyword) for keyword in IMAGE_SET_KEY_KEYWORDS)


def document_identity(document: dict[str, Any]) -> Identity:
    """Return the grouping values of an image set metadata document (its first series)."""
    study: dict[str, Any] = document.get("Study", {})
    first_series: dict[str, Any] = next(iter(study.get("Series", {}).values()), {})
    levels = {
        "Patient": document.get("Patient", {}).get("DICOM", {}),
        "Study": study.get("DICOM", {}),
        "Series": first_series.get("DICOM", {}),
    }
    return tuple(levels[level_of(keyword)].get(keyword) for keyword in IMAGE_SET_KEY_KEYWORDS)


@dataclass
class ImageSetDraft:
    """The instances of one future image set (or of one new version of an existing one)."""

    identity: Identity
    is_primary: bool
    instances: dict[str, Instance] = field(default_factory=dict)
    """By SOPInstanceUID, in the order first seen; a later file replaces an earlier one."""
    input_files: list[str] = field(default_factory=list)

    @property
    def study_instance_uid(self) -> str:
        result: str = self.identity[IMAGE_SET_KEY_KEYWORDS.index("StudyInstanceUID")]
        return result

    @property
    def series_instance_uid(self) -> str:
        result: str = self.identity[IMAGE_SET_KEY_KEYWORDS.index("SeriesInstanceUID")]
        return result

    def add(self, instance: Instance) -> None:
        """Add (or replace) an instance and remember its input file."""
        self.instances[instance.sop_instance_uid] = instance
        self.input_files.append(instance.input_file)

    def frames(self) -> Iterator[Frame]:
        """Every frame of every instance."""
        for instance in self.instances.values():
            yield from instance.frames

    def document(self) -> dict[str, Any]:
        """Return the image set metadata document (Patient and Study; no ids).

        :func:`hi_widgets.sandbox.backend.metadata.full_document` adds ``SchemaVersion``,
        ``DatastoreID`` and ``ImageSetID`` as GetImageSetMetadata returns it.
        """
        first = next(iter(self.instances.values()))
        return {
            "Patient": {"DICOM": dict(first.levels["Patient"])},
            "Study": {
                "DICOM": dict(first.levels["Study"]),
                "Series": {
                    self.series_instance_uid: {
                        "DICOM": dict(first.levels["Series"]),
                        "Instances": {
                            uid: instance.instance_metadata()
                            for uid, instance in self.instances.items()
                        },
                    }
                },
            },
        }


@dataclass
class PipelineResult:
    """What the pipeline made of its input files."""

    image_sets: list[ImageSetDraft]
    failures: list[Failure]
    scanned_files: int

    @property
    def imported_files(self) -> int:
        """Number of input files that landed in an image set."""
        return sum(len(draft.input_files) for draft in self.image_sets)


def group_instances(instances: Iterable[Instance]) -> list[ImageSetDraft]:
    """Group instances into image set drafts (one primary candidate per series).

    See the module docstring for the rules; drafts come back in the order their first
    instance was seen.
    """
    drafts: dict[Identity, ImageSetDraft] = {}
    primary_identity: dict[tuple[str, str], Identity] = {}
    for instance in instances:
        identity = identity_of(instance)
        series_key = (instance.study_instance_uid, instance.series_instance_uid)
        primary = primary_identity.setdefault(series_key, identity)
        draft = drafts.get(identity)
        if draft is None:
            draft = drafts[identity] = ImageSetDraft(identity, is_primary=identity == primary)
        draft.add(instance)
    return list(drafts.values())


def run_pipeline(
    files: Iterable[tuple[str, bytes | Failure]],
    *,
    progress: Callable[[int], None] | None = None,
    budget: JobBudget | None = None,
) -> PipelineResult:
    """Read DICOM P10 files and group them into image set drafts.

    Parameters
    ----------
    files
        ``(input_file, data)`` pairs, read one at a time (only the encoded frames of each
        instance are kept, not the file); ``data`` is a Failure for an object the reader
        refused (too large to read).
    progress
        Called with the number of files read so far after each file.
    budget
        The job's limits and use so far (:mod:`.limits`); default: each file on its own
        within the default limits.

    Returns
    -------
    PipelineResult
        The drafts, and one :class:`~hi_widgets.sandbox.dicom.read.Failure` per file
        that was not imported. Nothing is raised for bad files.
    """
    instances: list[Instance] = []
    failures: list[Failure] = []
    scanned = 0
    for input_file, data in files:
        scanned += 1
        result = data if isinstance(data, Failure) else read_instance(input_file, data, budget)
        if isinstance(result, Failure):
            failures.append(result)
        else:
            instances.append(result)
        if progress is not None:
            progress(scanned)
    return PipelineResult(group_instances(instances), failures, scanned)


def iter_local_files(
    paths: Iterable[str | os.PathLike[str]], *, max_bytes: int | None = None
) -> Iterator[tuple[str, bytes | Failure]]:
    """Yield ``(path, bytes)`` for each file, and for every file under each folder.

    Folders are walked recursively in sorted order, so the result is deterministic. A
    file larger than ``max_bytes`` comes as a :class:`Failure`, unread.
    """
    for path in map(Path, paths):
        children = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for child in children:
            size = child.stat().st_size
            if max_bytes is not None and size > max_bytes:
                yield (
                    str(child),
                    Failure(
                        str(child),
                        f"The file is {size} bytes, more than {max_bytes} "
                        "(the sandbox's max_object_bytes)",
                    ),
                )
            else:
                yield str(child), child.read_bytes()


def import_local(
    paths: Iterable[str | os.PathLike[str]],
    *,
    progress: Callable[[int], None] | None = None,
) -> PipelineResult:
    """Run the pipeline over local DICOM files and folders (no S3 involved).

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> result = import_local([get_testdata_file("CT_small.dcm")])  # doctest: +SKIP
    >>> [len(draft.instances) for draft in result.image_sets]  # doctest: +SKIP
    [1]
    """
    return run_pipeline(iter_local_files(paths), progress=progress)


def merge_documents(existing: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Return ``existing`` with the instances of ``new`` added, as a later import does.

    Used when instances of a series arrive in a later import job without conflicting with
    its primary image set: they join it as a new version. Patient, Study and Series
    attributes of ``new`` replace the old ones; an instance present in both is replaced
    whole ("the latest version will overwrite any older version").
    """
    study = existing.get("Study", {})
    series = dict(study.get("Series", {}))
    for uid, incoming in new["Study"]["Series"].items():
        current = series.get(uid, {})
        instances = {**current.get("Instances", {}), **incoming["Instances"]}
        series[uid] = {**current, "DICOM": incoming["DICOM"], "Instances": instances}
    return {
        **existing,
        "Patient": {**existing.get("Patient", {}), "DICOM": new["Patient"]["DICOM"]},
        "Study": {**study, "DICOM": new["Study"]["DICOM"], "Series": series},
    }
