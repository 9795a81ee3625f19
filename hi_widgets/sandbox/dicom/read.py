"""Reading one DICOM P10 file as an import job does: attributes by level, and its frames.

:func:`read_instance` never raises for bad input: a file that is not DICOM P10, cannot be
parsed, lacks an attribute the import needs, breaks an element constraint or whose pixel
data does not decode comes back as a :class:`Failure` whose message says why, in the
words of the service's ``failure.ndjson`` ("DICOM attribute X does not exist").

What one file may inflate and decode is bounded (:mod:`.limits`): a deflated dataset is
inflated in chunks up to ``max_inflated_bytes`` before pydicom sees it, and the decoded
size of the pixel data is computed from Rows, Columns, SamplesPerPixel, BitsAllocated and
NumberOfFrames before any frame is decoded. A file over a limit is a :class:`Failure`.

Attribute values follow the DICOM JSON model (PS3.18 F.2.3) keyed by keyword, as image set
metadata is: numbers for IS, DS and the binary numeric VRs, strings for text, dates, times
and person names, lists for multi-valued elements and sequences, None for an empty value.
"""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hi_widgets.sandbox.dicom import frame_encoding as frames
from hi_widgets.sandbox.dicom.levels import LENGTH_LIMITS, level_of
from hi_widgets.sandbox.dicom.limits import ImportLimits, JobBudget, LimitExceeded

# pydicom, numpy and imagecodecs load when a file is read (pydicom and imagecodecs are the
# optional `sandbox` extra): the sandbox starts and serves without them.
if TYPE_CHECKING:
    import numpy as np
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset

REQUIRED_KEYWORDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")
"""Attributes without which an instance cannot be placed in an image set."""

INTEGER_VRS = frozenset({"IS", "SL", "SS", "UL", "US", "SV", "UV"})
DECIMAL_VRS = frozenset({"DS", "FL", "FD"})
BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
MAX_INLINE_BINARY = 1 << 20
"""Binary values above 1 MB are not kept in the metadata ("Understanding import jobs")."""

PIXEL_KEYWORDS = frozenset({"PixelData", "FloatPixelData", "DoubleFloatPixelData"})
DEFLATED_TRANSFER_SYNTAX_UID = "1.2.840.10008.1.2.1.99"
"""Deflated Explicit VR Little Endian: the dataset after the file meta is zlib-deflated."""
_LONG_LENGTH_VRS = frozenset(
    {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
)
_INFLATE_INPUT = 64 * 1024
_INFLATE_OUTPUT = 1024 * 1024


@dataclass(frozen=True)
class Failure:
    """One input file that was not imported, as a ``failure.ndjson`` line describes it."""

    input_file: str
    message: str
    exception_type: str = "ValidationException"

    def __post_init__(self) -> None:
        # One line per failure: parser errors often span several lines.
        object.__setattr__(self, "message", " ".join(self.message.split()))

    def record(self) -> dict[str, Any]:
        """Return the ``failure.ndjson`` record of this file."""
        return {
            "inputFile": self.input_file,
            "exception": {"exceptionType": self.exception_type, "message": self.message},
        }


@dataclass(frozen=True)
class Frame:
    """One decoded and re-encoded image frame of an instance."""

    frame_id: str
    rows: int
    columns: int
    min_pixel_value: int | float
    max_pixel_value: int | float
    checksum: int
    htj2k: bytes = field(repr=False)

    def metadata(self) -> dict[str, Any]:
        """Return the frame's ``ImageFrames`` entry of the image set metadata."""
        return {
            "ID": self.frame_id,
            "PixelDataChecksumFromBaseToFullResolution": [
                {"Width": self.columns, "Height": self.rows, "Checksum": self.checksum}
            ],
            "MinPixelValue": self.min_pixel_value,
            "MaxPixelValue": self.max_pixel_value,
            "FrameSizeInBytes": len(self.htj2k),
        }


@dataclass
class Instance:
    """A DICOM instance read from one input file, its attributes split by level."""

    input_file: str
    levels: dict[str, dict[str, Any]]
    """``{"Patient": {...}, "Study": {...}, "Series": {...}, "Instance": {...}}``."""
    vrs: dict[str, str]
    """VRs of attributes keyed by tag rather than keyword (private and unknown ones)."""
    frames: list[Frame]

    @property
    def sop_instance_uid(self) -> str:
        result: str = self.levels["Instance"]["SOPInstanceUID"]
        return result

    @property
    def study_instance_uid(self) -> str:
        result: str = self.levels["Study"]["StudyInstanceUID"]
        return result

    @property
    def series_instance_uid(self) -> str:
        result: str = self.levels["Series"]["SeriesInstanceUID"]
        return result

    def attribute(self, keyword: str) -> Any:
        """Return the value of ``keyword`` from whichever level holds it (None if absent)."""
        return self.levels[level_of(keyword)].get(keyword)

    def instance_metadata(self) -> dict[str, Any]:
        """Return the instance's entry under ``Instances`` in the image set metadata."""
        return {
            "DICOM": self.levels["Instance"],
            "DICOMVRs": self.vrs,
            "StoredTransferSyntaxUID": frames.HTJ2K_TRANSFER_SYNTAX_UID,
            "ImageFrames": [frame.metadata() for frame in self.frames],
        }


# ------------------------------------------------------------------------ values


def _scalar(value: Any, vr: str) -> Any:
    if value is None or str(value) == "":
        return None
    if vr in INTEGER_VRS:
        return int(value)
    if vr in DECIMAL_VRS:
        return float(value)
    return str(value)


def json_value(element: DataElement) -> Any:
    """Return an element's value in the DICOM JSON model (see the module docstring)."""
    vr = element.VR
    value = element.value
    if vr == "SQ":
        return [dataset_attributes(item)[0] for item in value]
    if vr in BINARY_VRS or isinstance(value, bytes | bytearray):
        if not value or len(value) > MAX_INLINE_BINARY:
            return None
        return base64.b64encode(bytes(value)).decode("ascii")
    if element.VM == 0:
        return None
    if element.VM > 1:
        return [_scalar(item, vr) for item in value]
    return _scalar(value, vr)


def _attribute_key(element: DataElement) -> str:
    return element.keyword or f"{element.tag.group:04X}{element.tag.element:04X}"


def dataset_attributes(dataset: Dataset) -> tuple[dict[str, Any], dict[str, str]]:
    """Return ``({keyword: value}, {tag: VR})`` for a dataset or a sequence item.

    File meta (group 0002), group lengths and pixel data are left out. Elements without a
    keyword (private or unknown tags) are keyed by their tag as ``GGGGEEEE`` and their VR
    goes into the second dict, as ``DICOMVRs`` does in image set metadata.
    """
    attributes: dict[str, Any] = {}
    vrs: dict[str, str] = {}
    for element in dataset:
        tag = element.tag
        if tag.group == 0x0002 or tag.element == 0x0000 or element.keyword in PIXEL_KEYWORDS:
            continue
        key = _attribute_key(element)
        attributes[key] = json_value(element)
        if not element.keyword:
            vrs[key] = element.VR
    return attributes, vrs


# ------------------------------------------------------------------------ frames


def frame_id(sop_instance_uid: str, index: int, pixels: bytes) -> str:
    """Return the 32-hex-character id of a frame, derived from its instance and pixels."""
    digest = hashlib.sha256(pixels).hexdigest()
    key = f"hi-widgets-frame:{sop_instance_uid}:{index}:{digest}".encode()
    return hashlib.md5(key, usedforsecurity=False).hexdigest()


def _decoded_frames(dataset: Dataset) -> list[np.ndarray]:
    """Decode every frame with pydicom, or with imagecodecs where pydicom has no plugin."""
    count = int(dataset.get("NumberOfFrames") or 1)
    try:
        # Dataset.pixel_array rather than pixels.iter_pixels: in pydicom 3.0.2 the latter
        # fails on read-only buffers (J2K_pixelrep_mismatch.dcm) where the former works.
        decoded = dataset.pixel_array
        return list(decoded) if count > 1 else [decoded]
    except (RuntimeError, NotImplementedError) as error:
        if not dataset.file_meta.TransferSyntaxUID.is_encapsulated:
            raise
        first_error = error
    import imagecodecs
    import numpy as np
    from pydicom.encaps import generate_frames

    frames_decoded = []
    try:
        for fragment in generate_frames(dataset.PixelData, number_of_frames=count):
            pixels = np.asarray(imagecodecs.imread(fragment))
            if dataset.get("PixelRepresentation") == 1 and pixels.dtype.kind == "u":
                pixels = pixels.view(pixels.dtype.str.replace("u", "i"))
            frames_decoded.append(pixels)
    except Exception as error:  # any codec failure is a verification failure
        raise ValueError(f"{first_error}; imagecodecs: {str(error).splitlines()[0]}") from None
    return frames_decoded


def _frames(dataset: Dataset, sop_instance_uid: str) -> list[Frame]:
    import numpy as np

    result = []
    rows, columns = int(dataset.Rows), int(dataset.Columns)
    for index, pixels in enumerate(_decoded_frames(dataset)):
        if pixels.shape[:2] != (rows, columns):
            raise ValueError(
                f"frame {index + 1} is {pixels.shape[0]}x{pixels.shape[1]} pixels, "
                f"not Rows x Columns {rows}x{columns}"
            )
        native = np.ascontiguousarray(pixels, dtype=pixels.dtype.newbyteorder("="))
        raw = native.tobytes()
        result.append(
            Frame(
                frame_id=frame_id(sop_instance_uid, index, raw),
                rows=rows,
                columns=columns,
                min_pixel_value=native.min().item(),
                max_pixel_value=native.max().item(),
                checksum=zlib.crc32(raw),
                htj2k=frames.encode(native),
            )
        )
    return result


# ------------------------------------------------------------------------ limits


def file_meta_end(data: bytes) -> tuple[str | None, int] | None:
    """Return ``(TransferSyntaxUID, offset of the dataset)`` of a P10 file, or None.

    Reads only the file meta group (0002), explicit VR little endian after the 128-byte
    preamble and ``DICM``; None when the prefix is missing or the group is malformed.
    """
    if data[128:132] != b"DICM":
        return None
    offset, syntax = 132, None
    while offset + 8 <= len(data):
        group, element = struct.unpack_from("<HH", data, offset)
        if group != 0x0002:
            return syntax, offset
        vr = data[offset + 4 : offset + 6]
        if vr in _LONG_LENGTH_VRS:
            if offset + 12 > len(data):
                return None
            (length,) = struct.unpack_from("<I", data, offset + 8)
            start = offset + 12
        else:
            (length,) = struct.unpack_from("<H", data, offset + 6)
            start = offset + 8
        if element == 0x0010:
            syntax = data[start : start + length].rstrip(b"\0 ").decode("ascii", "replace")
        offset = start + length
    return syntax, offset


def inflated_size(data: bytes, offset: int, limit: int) -> int:
    """Inflate ``data[offset:]`` (raw deflate) in chunks; return its size, at most ``limit``.

    Raises
    ------
    LimitExceeded
        As soon as more than ``limit`` bytes come out: nothing beyond about 1 MB of the
        output is ever held.
    """
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    view = memoryview(data)
    total = 0
    for start in range(offset, len(data), _INFLATE_INPUT):
        pending: Any = view[start : start + _INFLATE_INPUT]
        while pending:
            total += len(inflater.decompress(pending, _INFLATE_OUTPUT))
            if total > limit:
                raise LimitExceeded(
                    f"The deflated dataset inflates to more than {limit} bytes "
                    "(the sandbox's max_inflated_bytes)"
                )
            pending = inflater.unconsumed_tail
            if inflater.eof:
                return total
    return total


def pixel_bytes(dataset: Dataset) -> int:
    """Return the size of the dataset's pixel data once decoded, from its attributes."""
    rows = int(dataset.get("Rows") or 0)
    columns = int(dataset.get("Columns") or 0)
    samples = int(dataset.get("SamplesPerPixel") or 1)
    bits = int(dataset.get("BitsAllocated") or 8)
    count = int(dataset.get("NumberOfFrames") or 1)
    return rows * columns * samples * max(1, (bits + 7) // 8) * max(1, count)


def _check_before_parsing(data: bytes, limits: ImportLimits, budget: JobBudget | None) -> None:
    if len(data) > limits.max_object_bytes:
        raise LimitExceeded(
            f"The file is larger than {limits.max_object_bytes} bytes "
            "(the sandbox's max_object_bytes)"
        )
    meta = file_meta_end(data)
    if meta is not None and meta[0] == DEFLATED_TRANSFER_SYNTAX_UID:
        size = inflated_size(data, meta[1], limits.max_inflated_bytes)
        if budget is not None:
            budget.decompress(size)


def _check_pixels(dataset: Dataset, limits: ImportLimits, budget: JobBudget | None) -> None:
    size = pixel_bytes(dataset)
    if size > limits.max_pixel_bytes:
        raise LimitExceeded(
            f"The pixel data decodes to {size} bytes, more than {limits.max_pixel_bytes} "
            "(the sandbox's max_pixel_bytes)"
        )
    if budget is not None:
        budget.decompress(size)


# -------------------------------------------------------------------------- read


def _read_dataset(data: bytes) -> Dataset:
    import pydicom

    return pydicom.dcmread(io.BytesIO(data))


def _constraint_violation(instance_levels: dict[str, dict[str, Any]]) -> str | None:
    for keyword, limit in LENGTH_LIMITS.items():
        value = instance_levels[level_of(keyword)].get(keyword)
        if value is not None and len(str(value)) > limit:
            return f"DICOM attribute {keyword} is longer than {limit} characters"
    return None


def read_instance(
    input_file: str, data: bytes, budget: JobBudget | None = None
) -> Instance | Failure:
    """Read one DICOM P10 file as an import job does.

    Parameters
    ----------
    input_file
        The name the file is reported under (its S3 key, or a local path).
    data
        The file's bytes.
    budget
        The job's limits and what it used so far (default: :class:`.ImportLimits`'
        defaults for this file alone).

    Returns
    -------
    Instance or Failure
        The instance with its attributes by level and its encoded frames, or the reason
        the file cannot be imported. Nothing is raised for bad input.
    """
    with warnings.catch_warnings():
        # pydicom warns about every oddity of real-world files (invalid VR values, excess
        # padding); the import reads on, and what it cannot use becomes a failure entry.
        warnings.simplefilter("ignore")
        try:
            return _read_instance(input_file, data, budget)
        except LimitExceeded as error:
            return Failure(input_file, f"The DICOM file cannot be imported: {error}")
        except Exception as error:  # one bad file never stops an import
            return Failure(input_file, f"The DICOM file cannot be imported: {error}")


def _read_instance(input_file: str, data: bytes, budget: JobBudget | None) -> Instance | Failure:
    from pydicom.errors import InvalidDicomError

    limits = budget.limits if budget is not None else ImportLimits()
    _check_before_parsing(data, limits, budget)
    try:
        dataset = _read_dataset(data)
    except InvalidDicomError:
        return Failure(input_file, "The file is not DICOM P10: the 'DICM' prefix is missing")
    except Exception as error:  # every parser error is a per-file failure
        return Failure(input_file, f"The DICOM file cannot be parsed: {error}")
    if "TransferSyntaxUID" not in dataset.file_meta:
        return Failure(input_file, "DICOM attribute TransferSyntaxUID does not exist")
    try:
        attributes, vrs = dataset_attributes(dataset)
    except Exception as error:  # a value pydicom cannot convert
        return Failure(input_file, f"The DICOM file cannot be parsed: {error}")
    for keyword in REQUIRED_KEYWORDS:
        if not attributes.get(keyword):
            return Failure(input_file, f"DICOM attribute {keyword} does not exist")
    levels: dict[str, dict[str, Any]] = {"Patient": {}, "Study": {}, "Series": {}, "Instance": {}}
    for key, value in attributes.items():
        levels[level_of(key)][key] = value
    violation = _constraint_violation(levels)
    if violation is not None:
        return Failure(input_file, violation)
    image_frames: list[Frame] = []
    if any(keyword in dataset for keyword in PIXEL_KEYWORDS):
        _check_pixels(dataset, limits, budget)
        try:
            image_frames = _frames(dataset, levels["Instance"]["SOPInstanceUID"])
        except Exception as error:  # a frame that does not decode
            return Failure(input_file, f"Pixel data verification failed: {error}")
        if budget is not None:
            budget.hold(sum(len(frame.htj2k) for frame in image_frames))
    return Instance(input_file=input_file, levels=levels, vrs=vrs, frames=image_frames)
