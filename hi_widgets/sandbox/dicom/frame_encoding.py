"""Image frames as GetImageFrame serves them: the file format of each stored transfer syntax.

HealthImaging transcodes imported pixel data losslessly, by default to High-Throughput JPEG
2000 (transfer syntax 1.2.840.10008.1.2.4.202, HTJ2K lossless RPCL), or to JPEG 2000
lossless when the datastore's ``losslessStorageFormat`` is ``JPEG_2000_LOSSLESS``. The
API reference of GetImageFrame lists the ``contentType`` per stored transfer syntax
(https://docs.aws.amazon.com/healthimaging/latest/APIReference/API_GetImageFrame.html):
``image/jph`` for 1.2.840.10008.1.2.4.202 "or if the stored transfer syntax is missing",
``image/jphc`` for 1.2.840.10008.1.2.4.203, ``image/j2c`` for 1.2.840.10008.1.2.4.91.
The body is in the format its content type names: ``image/jph`` is a JPH *file* (ISO/IEC
15444-15 Annex D: the JP2 box structure around an HTJ2K codestream), which is why AWS's
SDK for Python example decodes GetImageFrame bodies with pylibjpeg-openjpeg in JP2 (file)
mode, ``openjpeg.utils.decode(path, 2)``; ``image/jphc`` and ``image/j2c`` are bare
codestreams.

Sandbox choice: the API reference names no content type for JPEG 2000 lossless
(1.2.840.10008.1.2.4.90); the sandbox answers ``image/j2c`` with a JPEG 2000 codestream,
the type it lists for the other JPEG 2000 Part 1 syntax.

Frames are encoded once, when an import job reads them, and only the HTJ2K codestream is
kept (:class:`FrameStore`): the import must decode every frame anyway (pixel data
verification, MinPixelValue, MaxPixelValue and the checksum in the metadata). Boxing a
codestream as a JPH file costs a few bytes of header and no pixel work; a JPEG 2000
lossless frame is transcoded on its first request and kept.

``imagecodecs`` and ``numpy`` are imported when a frame is encoded or decoded, so
importing the sandbox does not need them.
"""

from __future__ import annotations

import struct
import threading
from typing import TYPE_CHECKING

# numpy and imagecodecs (the optional `sandbox` extra) load only to encode or decode a
# frame: the sandbox starts and serves metadata without them.
if TYPE_CHECKING:
    import numpy as np

HTJ2K_TRANSFER_SYNTAX_UID = "1.2.840.10008.1.2.4.202"
"""HTJ2K lossless RPCL: the stored transfer syntax of an ``HTJ2K`` datastore's frames."""

HTJ2K_CODESTREAM_TRANSFER_SYNTAX_UID = "1.2.840.10008.1.2.4.203"
"""HTJ2K (any): served as a bare codestream, ``image/jphc``."""

JPEG2000_LOSSLESS_TRANSFER_SYNTAX_UID = "1.2.840.10008.1.2.4.90"
"""JPEG 2000 lossless: the stored transfer syntax of a ``JPEG_2000_LOSSLESS`` datastore."""

TRANSFER_SYNTAX_BY_STORAGE_FORMAT = {
    "HTJ2K": HTJ2K_TRANSFER_SYNTAX_UID,
    "JPEG_2000_LOSSLESS": JPEG2000_LOSSLESS_TRANSFER_SYNTAX_UID,
}
"""The stored transfer syntax of imported frames, by the datastore's losslessStorageFormat."""

CONTENT_TYPES = {
    HTJ2K_TRANSFER_SYNTAX_UID: "image/jph",
    HTJ2K_CODESTREAM_TRANSFER_SYNTAX_UID: "image/jphc",
    "1.2.840.10008.1.2.4.91": "image/j2c",
    JPEG2000_LOSSLESS_TRANSFER_SYNTAX_UID: "image/j2c",  # sandbox choice, see above
}
"""GetImageFrame's ``contentType`` per stored transfer syntax (API reference)."""

CONTENT_TYPE = CONTENT_TYPES[HTJ2K_TRANSFER_SYNTAX_UID]
"""GetImageFrame's ``Content-Type`` for :data:`HTJ2K_TRANSFER_SYNTAX_UID`."""

_JP2_SIGNATURE = b"\r\n\x87\n"
_GREYSCALE, _SRGB = 17, 16  # EnumCS of the colour specification box (ISO/IEC 15444-1 I.5.3.3)


def encode(pixels: np.ndarray) -> bytes:
    """Encode one frame (rows x columns, or rows x columns x samples) as lossless HTJ2K.

    Parameters
    ----------
    pixels
        Integer pixel data in any byte order.

    Returns
    -------
    bytes
        The HTJ2K code stream; :func:`decode` gives back exactly ``pixels``.
    """
    import imagecodecs
    import numpy as np

    native = np.ascontiguousarray(pixels, dtype=pixels.dtype.newbyteorder("="))
    return bytes(imagecodecs.htj2k_encode(native))


def decode(blob: bytes) -> np.ndarray:
    """Decode an HTJ2K frame, codestream or JPH file (e.g. a GetImageFrame body)."""
    import imagecodecs

    return imagecodecs.htj2k_decode(blob)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _image_header(codestream: bytes) -> bytes:
    """Return the ``ihdr`` payload read from a codestream's SIZ marker segment."""
    if codestream[:4] != b"\xff\x4f\xff\x51":
        raise ValueError("not a JPEG 2000 codestream (no SOC and SIZ markers)")
    # SIZ: Lsiz Rsiz Xsiz Ysiz XOsiz YOsiz XTsiz YTsiz XTOsiz YTOsiz Csiz, then per
    # component Ssiz XRsiz YRsiz (ISO/IEC 15444-1 A.5.1).
    xsiz, ysiz, xosiz, yosiz = struct.unpack(">IIII", codestream[8:24])
    (components,) = struct.unpack(">H", codestream[40:42])
    depths = {codestream[42 + 3 * index] for index in range(components)}
    bpc = depths.pop() if len(depths) == 1 else 0xFF
    # HEIGHT WIDTH NC BPC C (7: JPEG 2000) UnkC IPR
    return struct.pack(">IIHBBBB", ysiz - yosiz, xsiz - xosiz, components, bpc, 7, 0, 0)


def file_format(codestream: bytes, brand: bytes = b"jph ") -> bytes:
    """Wrap a codestream in the JP2 box structure: a JPH file (``brand`` ``jph ``) or JP2.

    The boxes are the signature, the file type (``brand``, also its one compatible
    brand), the header superbox (image header from the codestream's SIZ segment, an
    enumerated greyscale or sRGB colour specification) and the contiguous codestream box
    (ISO/IEC 15444-1 Annex I; ISO/IEC 15444-15 Annex D for JPH).
    """
    header = _image_header(codestream)
    (components,) = struct.unpack(">H", header[8:10])
    colour = struct.pack(">BBBI", 1, 0, 0, _GREYSCALE if components == 1 else _SRGB)
    return b"".join(
        (
            _box(b"jP  ", _JP2_SIGNATURE),
            _box(b"ftyp", brand + struct.pack(">I", 0) + brand),
            _box(b"jp2h", _box(b"ihdr", header) + _box(b"colr", colour)),
            _box(b"jp2c", codestream),
        )
    )


def transcode_to_jpeg2000(htj2k: bytes) -> bytes:
    """Return a lossless (reversible) JPEG 2000 codestream of an HTJ2K frame."""
    import imagecodecs

    pixels = imagecodecs.htj2k_decode(htj2k)
    return bytes(imagecodecs.jpeg2k_encode(pixels, level=0, codecformat="J2K", reversible=True))


def served_frame(htj2k: bytes, transfer_syntax: str | None) -> tuple[bytes, str]:
    """Return GetImageFrame's body and content type for a frame stored as ``transfer_syntax``.

    ``htj2k`` is the frame's stored HTJ2K codestream; a missing ``transfer_syntax`` means
    HTJ2K lossless RPCL (developer guide, "Supported transfer syntaxes": "If the
    StoredTransferSyntaxUID key does not exist or is set to null, you can assume it is
    encoded as HTJ2K Lossless RPCL").
    """
    syntax = transfer_syntax or HTJ2K_TRANSFER_SYNTAX_UID
    if syntax == HTJ2K_TRANSFER_SYNTAX_UID:
        return file_format(htj2k), CONTENT_TYPES[syntax]
    if syntax == HTJ2K_CODESTREAM_TRANSFER_SYNTAX_UID:
        return htj2k, CONTENT_TYPES[syntax]
    if syntax == JPEG2000_LOSSLESS_TRANSFER_SYNTAX_UID:
        return transcode_to_jpeg2000(htj2k), CONTENT_TYPES[syntax]
    raise ValueError(f"the sandbox stores no frames as transfer syntax {syntax}")


class FrameStore:
    """Encoded frames by image frame id, safe to share between threads.

    Frame ids are derived from the frame's content (see
    :func:`hi_widgets.sandbox.dicom.read.frame_id`), so one store can serve every
    datastore: the same id always means the same pixels.
    """

    def __init__(self) -> None:
        self._frames: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put(self, frame_id: str, blob: bytes) -> None:
        """Keep the encoded frame ``blob`` under ``frame_id``."""
        with self._lock:
            self._frames[frame_id] = blob

    def get(self, frame_id: str) -> bytes | None:
        """Return the encoded frame, or None if no import stored it."""
        with self._lock:
            return self._frames.get(frame_id)

    def __contains__(self, frame_id: object) -> bool:
        with self._lock:
            return frame_id in self._frames

    def __len__(self) -> int:
        with self._lock:
            return len(self._frames)

    @property
    def nbytes(self) -> int:
        """Total size of the encoded frames held."""
        with self._lock:
            return sum(len(blob) for blob in self._frames.values())

    def __repr__(self) -> str:
        return f"FrameStore(frames={len(self)}, nbytes={self.nbytes})"
