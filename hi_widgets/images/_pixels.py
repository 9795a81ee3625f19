"""Pixels of image frames: decoding what GetImageFrame returns, and windowing for display.

GetImageFrame answers each frame in the format its ``contentType`` names (API reference):
``image/jph`` is a JPH *file* (the JP2 boxes around an HTJ2K codestream; AWS's SDK for
Python example decodes it with pylibjpeg-openjpeg in JP2 mode), ``image/jphc`` an HTJ2K
codestream, ``image/j2c`` a JPEG 2000 codestream, ``image/jpeg`` baseline JPEG and
``application/octet-stream`` uncompressed pixels. Boxed files and bare codestreams are
both recognised by their leading bytes, whatever the content type says.

Decoding needs a codec from the optional extra ``images``: imagecodecs (every format), or
pylibjpeg-openjpeg (JPEG 2000 and HTJ2K, boxed or bare). They are imported when a frame is
decoded, not before.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any, cast

import numpy as np

__all__ = [
    "INSTALL_HINT",
    "FrameDecodeError",
    "MissingCodecError",
    "decode_image_frame",
    "dicom_number",
    "display_pixels",
    "window_pixels",
]

INSTALL_HINT = 'pip install "hi-widgets[images]"'
CODECS = ("imagecodecs", "openjpeg")
"""The decoders :func:`decode_image_frame` can use: imagecodecs, or pylibjpeg-openjpeg."""

# Leading bytes of the encodings GetImageFrame returns (the content type says the same,
# but a sandbox or proxy may answer application/octet-stream for all of them).
_J2K_CODESTREAM = b"\xff\x4f\xff\x51"
_JP2_BOX = b"\x00\x00\x00\x0cjP  "
_JPEG = b"\xff\xd8\xff"
_HTJ2K_TYPES = ("image/jph", "image/jphc")
_J2C_TYPE = "image/j2c"
_VIDEO_PREFIX = "video/"


class MissingCodecError(ImportError):
    """No codec that decodes this image frame (imagecodecs, pylibjpeg-openjpeg) is installed."""


class FrameDecodeError(ValueError):
    """An image frame's bytes could not be turned into pixels."""


def dicom_number(value: Any) -> float | None:
    """Return the first value of a numeric DICOM attribute (number, text or multi-valued)."""
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    if isinstance(value, str):
        value = value.split("\\")[0].strip()
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


# ------------------------------------------------------------------------ decoding


def _imagecodecs() -> Any:
    try:
        import imagecodecs
    except ImportError as error:
        raise MissingCodecError(
            f"Decoding image frames needs imagecodecs: {INSTALL_HINT}"
        ) from error
    return imagecodecs


def _openjpeg() -> Any:
    try:
        import openjpeg
    except ImportError as error:
        raise MissingCodecError(
            f"Decoding with codec='openjpeg' needs pylibjpeg-openjpeg: {INSTALL_HINT}"
        ) from error
    return openjpeg


def _installed_codec() -> str:
    """Return the first importable codec of :data:`CODECS` (imagecodecs if none is)."""
    import importlib

    for name in CODECS:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        return name
    return CODECS[0]


def _raw(blob: bytes, attributes: Mapping[str, Any]) -> np.ndarray:
    rows, columns = dicom_number(attributes.get("Rows")), dicom_number(attributes.get("Columns"))
    if rows is None or columns is None:
        raise FrameDecodeError("uncompressed pixels, but Rows/Columns are not in the metadata")
    bits = int(dicom_number(attributes.get("BitsAllocated")) or 16)
    samples = int(dicom_number(attributes.get("SamplesPerPixel")) or 1)
    signed = dicom_number(attributes.get("PixelRepresentation")) == 1
    if bits not in (8, 16, 32):
        raise FrameDecodeError(f"uncompressed pixels of {bits} bits are not supported")
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
    shape = (int(rows), int(columns)) + ((samples,) if samples > 1 else ())
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(blob) != expected:
        raise FrameDecodeError(
            f"uncompressed pixels: expected {expected} bytes for {shape} of {dtype}"
        )
    return np.frombuffer(blob, dtype=dtype).reshape(shape)


def decode_image_frame(
    blob: bytes,
    content_type: str | None = None,
    attributes: Mapping[str, Any] | None = None,
    *,
    codec: str | None = None,
) -> np.ndarray:
    """Decode the bytes GetImageFrame returned into a pixel array.

    Parameters
    ----------
    blob
        The frame's bytes.
    content_type
        The response's content type: ``image/jph`` or ``image/jphc`` (HTJ2K),
        ``image/j2c`` (JPEG 2000), ``image/jpeg``, or ``application/octet-stream``
        (uncompressed, or any of the above recognised by its leading bytes).
    attributes
        DICOM attributes of the instance; ``Rows``, ``Columns``, ``BitsAllocated``,
        ``PixelRepresentation`` and ``SamplesPerPixel`` are needed for uncompressed pixels.
    codec
        ``"imagecodecs"`` or ``"openjpeg"`` (pylibjpeg-openjpeg, JPEG 2000 and HTJ2K only);
        default: the first of them that is installed.

    Returns
    -------
    numpy.ndarray
        The stored pixel values, (rows, columns) or (rows, columns, samples).

    Raises
    ------
    FrameDecodeError
        Saying why (content type, size, the decoder's message).
    MissingCodecError
        When a compressed frame needs a codec that is not installed.
    """
    if codec is not None and codec not in CODECS:
        raise ValueError(f"codec must be one of {CODECS} or None, got {codec!r}")
    kind = (content_type or "").split(";")[0].strip().lower()
    data = bytes(blob)
    what = f"{len(data)} bytes of {kind or 'unknown content type'}"
    if kind.startswith(_VIDEO_PREFIX):
        raise FrameDecodeError(f"cannot decode {what}: a video, not a still image frame")
    if not data:
        raise FrameDecodeError(f"cannot decode {what}: the frame is empty")
    try:
        return _decode(data, kind, attributes or {}, codec or _installed_codec())
    except MissingCodecError:
        raise
    except Exception as error:  # the codecs raise their own RuntimeError subclasses
        reason = str(error) or type(error).__name__
        raise FrameDecodeError(f"cannot decode {what}: {reason}") from error


def _decode(data: bytes, kind: str, attributes: Mapping[str, Any], codec: str) -> np.ndarray:
    if data.startswith(_JPEG) or kind == "image/jpeg":
        return cast("np.ndarray", _imagecodecs().jpeg8_decode(data))
    boxed = data.startswith(_JP2_BOX)
    if boxed or data.startswith(_J2K_CODESTREAM) or kind in (*_HTJ2K_TYPES, _J2C_TYPE):
        return _decode_jpeg2000(data, kind, boxed, codec)
    return _raw(data, attributes)


def _decode_jpeg2000(data: bytes, kind: str, boxed: bool, codec: str) -> np.ndarray:
    """Decode JPEG 2000 or HTJ2K, as a JP2/JPH file (``boxed``) or a bare codestream."""
    if codec == "openjpeg":
        # openjpeg >= 2.5 reads HTJ2K too; format 2 is the JP2 file, 0 the codestream.
        return np.asarray(_openjpeg().decode(data, 2 if boxed else 0))
    codecs = _imagecodecs()
    if kind == _J2C_TYPE:
        return cast("np.ndarray", codecs.jpeg2k_decode(data))
    try:
        # OpenJPH, through imagecodecs, reads JPH files and HTJ2K codestreams.
        return cast("np.ndarray", codecs.htj2k_decode(data))
    except Exception:
        if kind in _HTJ2K_TYPES:
            raise
        # A classic JPEG 2000 codestream or JP2 file sent as octet-stream: openjpeg reads it.
        return cast("np.ndarray", codecs.jpeg2k_decode(data))


# ----------------------------------------------------------------------- windowing


def window_pixels(
    pixels: np.ndarray,
    *,
    center: float | None = None,
    width: float | None = None,
    slope: float | None = None,
    intercept: float | None = None,
    invert: bool = False,
    percentiles: tuple[float, float] = (0.5, 99.5),
    bits_stored: int | None = None,
) -> np.ndarray:
    """Map stored pixel values to 0..1 for display.

    Parameters
    ----------
    pixels
        Stored values (as :func:`decode_image_frame` returns them).
    center, width
        The VOI window (DICOM WindowCenter / WindowWidth, in rescaled units). Applied
        with the DICOM linear function (PS3.3 C.11.2.1.2.1) when both are given and
        ``width >= 1``; otherwise the window spans the ``percentiles`` of the pixels.
    slope, intercept
        The modality rescale (RescaleSlope / RescaleIntercept), applied first.
    invert
        Flip the result (MONOCHROME1: low values are white).
    percentiles
        Lower and upper percentiles of the robust min/max.
    bits_stored
        DICOM BitsStored of colour frames: their range is ``2**bits_stored - 1``.

    Returns
    -------
    numpy.ndarray
        ``float32`` in [0, 1], same shape. Colour (3-sample) frames are scaled by their
        range instead (``bits_stored``, else their type's), without a window. A constant
        image gives zeros.
    """
    values = np.asarray(pixels)
    if values.ndim == 3 and values.shape[-1] in (3, 4):
        return _scale_colour(values, bits_stored)
    data = values.astype(np.float64)
    if slope is not None or intercept is not None:
        data = data * (1.0 if slope is None else slope) + (0.0 if intercept is None else intercept)
    if center is not None and width is not None and width >= 1:
        # DICOM's linear VOI: c - 0.5 - (w - 1) / 2 maps to 0, c - 0.5 + (w - 1) / 2 to 1.
        out = (data - (center - 0.5)) / (width - 1) + 0.5 if width > 1 else data >= center
    else:
        finite = data[np.isfinite(data)]
        low, high = np.percentile(finite, percentiles) if finite.size else (0.0, 0.0)
        out = (data - low) / (high - low) if high > low else np.zeros_like(data)
    out = np.clip(np.nan_to_num(np.asarray(out, dtype=np.float64)), 0.0, 1.0)
    return (1.0 - out if invert else out).astype(np.float32)


def _scale_colour(values: np.ndarray, bits_stored: int | None) -> np.ndarray:
    if bits_stored is not None and 1 <= bits_stored <= 8 * values.dtype.itemsize:
        top = float(2**bits_stored - 1)
    elif values.dtype.kind in "ui":
        top = float(np.iinfo(values.dtype).max)
    else:
        top = max(float(values.max()), 1.0)
    return np.clip(values.astype(np.float64) / top, 0, 1).astype(np.float32)


def _binary(value: Any) -> bytes | None:
    """Return the bytes of a binary (OW/OB) metadata value: base64 text inline, or None."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str):
        return None  # absent, or kept out of the metadata (a BulkDataURI)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _palette_lut(attributes: Mapping[str, Any], colour: str) -> tuple[np.ndarray, int] | None:
    """Return one channel's lookup table in 0..1 and its first mapped value, or None."""
    descriptor = attributes.get(f"{colour}PaletteColorLookupTableDescriptor")
    data = _binary(attributes.get(f"{colour}PaletteColorLookupTableData"))
    if not isinstance(descriptor, (list, tuple)) or len(descriptor) != 3 or not data:
        return None
    entries, first, bits = (int(dicom_number(v) or 0) for v in descriptor)
    entries = entries or 65536  # PS3.3 C.7.6.3.1.5: 0 means 2**16 entries
    if bits not in (8, 16):
        return None
    # 8-bit entries are usually padded to 16-bit words, but some writers pack them.
    dtype = np.dtype("u1" if bits == 8 and len(data) == entries else "<u2")
    table = np.frombuffer(data[: len(data) - len(data) % dtype.itemsize], dtype=dtype)
    if table.size < entries:
        return None
    return table[:entries].astype(np.float32) / np.float32(2**bits - 1), first


def _apply_palette(pixels: np.ndarray, attributes: Mapping[str, Any]) -> np.ndarray | None:
    """Map PALETTE COLOR indices to RGB in 0..1 (PS3.3 C.7.6.3.1.5), or None."""
    found = [_palette_lut(attributes, colour) for colour in ("Red", "Green", "Blue")]
    luts = [lut for lut in found if lut is not None]
    if pixels.ndim != 2 or len(luts) != len(found):
        return None
    channels = []
    for table, first in luts:
        index = np.clip(pixels.astype(np.int64) - first, 0, table.size - 1)
        channels.append(table[index])
    return np.stack(channels, axis=-1)


def display_pixels(pixels: np.ndarray, attributes: Mapping[str, Any]) -> np.ndarray:
    """Map stored pixels to 0..1 for display with the instance's own DICOM attributes.

    PALETTE COLOR frames go through their lookup tables when the metadata holds them
    (inline, base64); otherwise frames are windowed by :func:`window_pixels`.
    """
    photometric = str(attributes.get("PhotometricInterpretation") or "").upper()
    if photometric == "PALETTE COLOR":
        coloured = _apply_palette(np.asarray(pixels), attributes)
        if coloured is not None:
            return coloured
    bits = dicom_number(attributes.get("BitsStored"))
    return window_pixels(
        pixels,
        center=dicom_number(attributes.get("WindowCenter")),
        width=dicom_number(attributes.get("WindowWidth")),
        slope=dicom_number(attributes.get("RescaleSlope")),
        intercept=dicom_number(attributes.get("RescaleIntercept")),
        invert=photometric == "MONOCHROME1",
        bits_stored=None if bits is None else int(bits),
    )
