"""HealthImaging's rules for metadata updates and copies, as the developer guide states them.

Sources (AWS HealthImaging Developer Guide):

* "Updating image set metadata" (``devguide/update-image-set-metadata.html``), quoted [U];
* "DICOM metadata constraints" (``devguide/dicom-metadata-constraints.html``), quoted [C];
* "Understanding image sets" (``devguide/understanding-image-sets.html``), quoted [I];
* the ``force`` member of UpdateImageSetMetadata and CopyImageSet in the API reference [A].

Where the guide is silent, the choice made here is marked "Sandbox choice".

Two kinds of failure
--------------------
* Request validation, answered at once with a 400 ValidationException: what the request
  alone shows to be malformed (blobs that are not JSON, keys outside the metadata layout;
  see :func:`check_layout` and the wire layer's model checks).
* Constraint violations, found while the operation runs: the "DICOM metadata constraints"
  [C] and the copy's consistency rule [A]. They raise :class:`ConstraintViolation`; the
  backend accepts the request (LOCKED) and ends the version ``UPDATE_FAILED`` or
  ``COPY_FAILED`` with the ``message`` (``INVALID_REQUEST: ...``), as the developer guide
  says to find them ("If the UpdateImageSetMetadata action is not successful, call
  GetImageSet and review the message"; "If the CopyImageSet action is not successful,
  call GetImageSet and review the message property") and as the CLI reference example of
  ``list-image-set-versions`` shows (version 2 ``COPY_FAILED``, ``INVALID_REQUEST: Series
  of SourceImageSet and DestinationImageSet don't match.``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from hi_widgets.sandbox.backend.errors import validation_error
from hi_widgets.sandbox.dicom.levels import KEYWORDS_BY_LEVEL

_ABSENT = object()

SERIES_MISMATCH = "Series of SourceImageSet and DestinationImageSet don't match."
"""The message of the CLI reference example's COPY_FAILED version (after ``INVALID_REQUEST: ``)."""


class ConstraintViolation(Exception):
    """A documented rule broken by an accepted operation: its version ends ``*_FAILED``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def version_message(self) -> str:
        """The ``message`` of the failed version, in the CLI example's form."""
        return f"INVALID_REQUEST: {self.message}"


def violation(message: str) -> ConstraintViolation:
    """Return a :class:`ConstraintViolation` (found while the operation runs)."""
    return ConstraintViolation(message)


def check_layout(updates: Mapping[str, Any] | None) -> None:
    """Raise ValidationException (400) if an update document leaves the metadata layout."""
    for _ in _leaves(updates or {}):
        pass


GENERATED_ATTRIBUTES = frozenset(
    {
        "SchemaVersion",
        "DatastoreID",
        "ImageSetID",
        "PixelData",
        "Checksum",
        "Width",
        "Height",
        "MinPixelValue",
        "MaxPixelValue",
        "FrameSizeInBytes",
        "ImageFrames",
    }
)
"""[C] "Cannot update the following AWS HealthImaging generated attributes: SchemaVersion,
DatastoreID, ImageSetID, PixelData, Checksum, Width, Height, MinPixelValue, MaxPixelValue,
FrameSizeInBytes". Sandbox choice: the ``ImageFrames`` list that holds them is generated too."""

UID_ATTRIBUTES = frozenset({"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"})
FORCE_ATTRIBUTES = UID_ATTRIBUTES | {"StudyID"}
"""[U] force "allows the following updates to an image set: Updating the
Tag.StudyInstanceUID, Tag.SeriesInstanceUID, Tag.SOPInstanceUID, and Tag.StudyID
attributes; Adding, removing, or updating instance level private DICOM data elements"."""

_PRIVATE_TAG = re.compile(r"\(?([0-9A-Fa-f]{4}),?([0-9A-Fa-f]{4})\)?")


def is_private_tag(key: str) -> bool:
    """Return whether ``key`` names a private data element (odd group number)."""
    match = _PRIVATE_TAG.fullmatch(key)
    return match is not None and int(match.group(1), 16) % 2 == 1


def _leaves(updates: Mapping[str, Any]) -> Iterator[tuple[str, str | None, str | None, str, Any]]:
    """Yield ``(level, series_uid, instance_uid, attribute, value)`` for every leaf.

    Raises ValidationException for a document that does not follow the metadata layout
    (``Patient.DICOM``, ``Study.DICOM``, ``Study.Series.<uid>.DICOM``,
    ``Study.Series.<uid>.Instances.<uid>.DICOM``).
    """

    def attributes(
        level: str, node: Any, path: str, series: str | None, instance: str | None
    ) -> Iterator[tuple[str, str | None, str | None, str, Any]]:
        if not isinstance(node, Mapping):
            raise validation_error(f"{path} must be a JSON object of DICOM attributes")
        for attribute, value in node.items():
            yield level, series, instance, attribute, value

    for top, branch in updates.items():
        if not isinstance(branch, Mapping):
            raise validation_error(f"{top} must be a JSON object")
        for key, node in branch.items():
            if key == "DICOM":
                yield from attributes(top, node, f"{top}.DICOM", None, None)
            elif top == "Study" and key == "Series" and isinstance(node, Mapping):
                for series_uid, series in node.items():
                    yield from _series_leaves(series_uid, series)
            elif key in GENERATED_ATTRIBUTES:
                yield top, None, None, key, node
            else:
                raise validation_error(
                    f"{top}.{key} is not part of the image set metadata layout; attributes "
                    f"go under {top}.DICOM"
                )


def _series_leaves(
    series_uid: str, series: Any
) -> Iterator[tuple[str, str, str | None, str, Any]]:
    path = f"Study.Series.{series_uid}"
    if not isinstance(series, Mapping):
        raise validation_error(f"{path} must be a JSON object")
    for key, node in series.items():
        if key == "DICOM" and isinstance(node, Mapping):
            for attribute, value in node.items():
                yield "Series", series_uid, None, attribute, value
        elif key == "Instances" and isinstance(node, Mapping):
            for instance_uid, instance in node.items():
                if not isinstance(instance, Mapping):
                    raise validation_error(f"{path}.Instances.{instance_uid} must be an object")
                for ikey, inode in instance.items():
                    if ikey == "DICOM" and isinstance(inode, Mapping):
                        for attribute, value in inode.items():
                            yield "Instance", series_uid, instance_uid, attribute, value
                    else:
                        yield "Instance", series_uid, instance_uid, ikey, inode
        else:
            yield "Series", series_uid, None, key, node


def _current(
    document: Mapping[str, Any], level: str, series: str | None, instance: str | None
) -> Mapping[str, Any] | None:
    """Return the DICOM attributes at a leaf's level in ``document`` (None if absent)."""
    if level == "Patient":
        result: Mapping[str, Any] | None = document.get("Patient", {}).get("DICOM", {})
        return result
    study = document.get("Study", {})
    if level == "Study":
        result = study.get("DICOM", {})
        return result
    series_node = study.get("Series", {}).get(series)
    if series_node is None:
        return None
    if level == "Series":
        result = series_node.get("DICOM", {})
        return result
    instance_node = series_node.get("Instances", {}).get(instance)
    return None if instance_node is None else instance_node.get("DICOM", {})


def check_update(
    document: Mapping[str, Any],
    updatable: Mapping[str, Any] | None,
    removable: Mapping[str, Any] | None,
    *,
    force: bool,
    is_primary: bool,
) -> None:
    """Raise ValidationException if an UpdateImageSetMetadata breaks a documented rule.

    ``updatable`` and ``removable`` are the parsed ``DICOMUpdates`` documents; ``document``
    is the image set's latest metadata.
    """
    for name, updates, removing in (
        ("updatableAttributes", updatable, False),
        (
            "removableAttributes",
            removable,
            True,
        ),
    ):
        if not updates:
            continue
        for level, series, instance, attribute, value in _leaves(updates):
            where = ".".join(p for p in (level, series, instance, attribute) if p)
            _check_leaf(
                document,
                name,
                where,
                level,
                series,
                instance,
                attribute,
                value,
                removing=removing,
                force=force,
                is_primary=is_primary,
            )


def check_removed_parts_exist(document: Mapping[str, Any], removable: Mapping[str, Any]) -> None:
    """Raise ValidationException if ``removable`` removes a series or instance that is absent.

    Sandbox choice: the guide lets updates "remove Series and SOP Instances" [U] and refuses
    updates of absent modules [C]; removing an absent one is refused in the same way.
    """
    for series_uid, series in removable.get("Study", {}).get("Series", {}).items():
        present = document.get("Study", {}).get("Series", {}).get(series_uid)
        if present is None:
            raise violation(f"removableAttributes: the image set has no series {series_uid}")
        if isinstance(series, Mapping):
            for instance_uid in series.get("Instances", {}) or {}:
                if instance_uid not in present.get("Instances", {}):
                    raise violation(
                        f"removableAttributes: series {series_uid} has no instance {instance_uid}"
                    )


def _check_leaf(
    document: Mapping[str, Any],
    name: str,
    where: str,
    level: str,
    series: str | None,
    instance: str | None,
    attribute: str,
    value: Any,
    *,
    removing: bool,
    force: bool,
    is_primary: bool,
) -> None:
    # [C] "Cannot update the following AWS HealthImaging generated attributes: ..."
    if attribute in GENERATED_ATTRIBUTES:
        raise violation(f"{name}: {where} is generated by HealthImaging and cannot be updated")
    # [C] "Cannot update attributes if the associated attribute module is not present in
    # existing ImageSetMetadata" (a series, or an instance, that the image set lacks).
    current = _current(document, level, series, instance)
    if current is None:
        missing = (
            f"series {series}"
            if level == "Series" or instance is None
            else (f"instance {instance} of series {series}")
        )
        raise violation(f"{name}: the image set has no {missing}, so {where} cannot be updated")
    private = is_private_tag(attribute)
    # [C] "Cannot update attributes across modules. For example, if a Patient level
    # attribute is given at the Study level ... the request can be invalidated."
    # Sandbox choice: an attribute in none of the level tables is accepted at any level.
    if not private:
        for other, members in KEYWORDS_BY_LEVEL.items():
            if other != level and attribute in members:
                raise violation(
                    f"{name}: {attribute} is a {other} level attribute, given at {level} "
                    f"level ({where})"
                )
    # [U] "The Patient and Series level metadata elements can not be updated for primary
    # image sets." (Removing a whole series stays possible: not a leaf here.)
    if is_primary and level in ("Patient", "Series"):
        raise violation(
            f"{name}: {level} level elements cannot be updated on a primary image set "
            f"({where}); copy it to a non-primary image set to change them"
        )
    # AWS SDK for Python example (UpdateImageSetMetadata, remove_attributes): "Attribute key
    # and value must match the existing attribute." A removal naming another value (or an
    # absent attribute) removes nothing: the update fails and keeps the stored value.
    if removing and not isinstance(value, Mapping) and current.get(attribute, _ABSENT) != value:
        stored = current.get(attribute, _ABSENT)
        what = "absent" if stored is _ABSENT else repr(stored)
        raise violation(
            f"{name}: {where} is {what} in the image set, not {value!r}; key and value must "
            "match the existing attribute to remove it"
        )
    changed = removing or current.get(attribute) != value
    if private:
        # [U] force allows "Adding, removing, or updating instance level private DICOM data
        # elements"; sandbox choice: private elements at other levels are refused.
        if level != "Instance":
            raise violation(
                f"{name}: private element {where} can only be changed at instance level"
            )
        if changed and not force:
            raise violation(f"{name}: changing private element {where} requires force=true")
        return
    if attribute in FORCE_ATTRIBUTES and changed:
        # [U] "The UpdateImageSet will not support --force to update StudyInstanceUID,
        # SeriesInstanceUID, and SOPInstanceUID for primary image sets."
        if is_primary and attribute in UID_ATTRIBUTES:
            raise violation(
                f"{name}: {attribute} of a primary image set cannot be changed, even with force"
            )
        # [C] "Cannot update the following DICOM attributes unless the force flag is set:
        # Tag.PixelData, Tag.StudyInstanceUID, Tag.SeriesInstanceUID, Tag.SOPInstanceUID,
        # Tag.StudyID"
        if not force:
            raise violation(f"{name}: updating {attribute} requires force=true")
    # [C] "Cannot update attributes with VR type SQ (nested attributes) unless the force
    # flag is set" / "Cannot update multivalued attributes unless the force flag is set"
    if not removing and isinstance(value, (list, Mapping)) and not force:
        raise violation(
            f"{name}: {where} is a sequence or multivalued attribute; updating it requires "
            "force=true"
        )


def check_copy_selection(source: Mapping[str, Any], selection: Mapping[str, Any]) -> None:
    """Raise :class:`ConstraintViolation` if ``copiableAttributes`` names absent parts.

    A copy of series or SOP instances the source does not hold would copy nothing; it fails
    rather than make an empty image set (sandbox choice; the guide documents no message).
    """
    held = source.get("Study", {}).get("Series", {})
    for series_uid, series in (selection.get("Study", {}).get("Series") or {}).items():
        if series_uid not in held:
            raise violation(f"copiableAttributes: the source image set has no series {series_uid}")
        instances = series.get("Instances") if isinstance(series, Mapping) else None
        for instance_uid in instances or {}:
            if instance_uid not in held[series_uid].get("Instances", {}):
                raise violation(
                    f"copiableAttributes: series {series_uid} of the source image set has no "
                    f"SOP instance {instance_uid}"
                )


def check_copy_consistency(source: Mapping[str, Any], destination: Mapping[str, Any]) -> None:
    """Raise :class:`ConstraintViolation` if a copy's source and destination disagree.

    [A] CopyImageSet ``force``: "Providing this parameter will force completion of the
    CopyImageSet operation, even if there are inconsistent Patient, Study, and/or Series
    level metadata elements between the sourceImageSet and destinationImageSet." So
    without force, every Patient, Study and Series element present in both must agree, and
    (one series per image set) the series must be the same.
    """
    source_series = set(source.get("Study", {}).get("Series", {}))
    destination_series = set(destination.get("Study", {}).get("Series", {}))
    if source_series and destination_series and source_series != destination_series:
        # The message of the CLI reference example (list-image-set-versions, version 2).
        raise violation(SERIES_MISMATCH)
    for level in ("Patient", "Study"):
        a = source.get(level, {}).get("DICOM", {})
        b = destination.get(level, {}).get("DICOM", {})
        differing = sorted(k for k in a.keys() & b.keys() if a[k] != b[k])
        if differing:
            raise violation(
                f"The source and destination disagree on {level} level elements {differing}; "
                "pass force=true to copy anyway"
            )
    for uid in source_series & destination_series:
        a = source["Study"]["Series"][uid].get("DICOM", {})
        b = destination["Study"]["Series"][uid].get("DICOM", {})
        differing = sorted(k for k in a.keys() & b.keys() if a[k] != b[k])
        if differing:
            raise violation(
                f"The source and destination disagree on Series level elements {differing}; "
                "pass force=true to copy anyway"
            )
