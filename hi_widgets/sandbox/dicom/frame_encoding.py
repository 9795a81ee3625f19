"""Image frames as GetImageFrame serves them: pixel data encoded as HTJ2K.

HealthImaging transcodes imported pixel data losslessly to High-Throughput JPEG 2000 and
GetImageFrame returns the encoded frame; the botocore model names the payload
``imageFrameBlob`` (a streaming body) and the ``Content-Type`` header ``contentType``,
which the API reference documents as ``image/jph`` for the stored transfer syntax
1.2.840.10008.1.2.4.202 (HTJ2K lossless, RPCL).

Frames are encoded once, when an import job reads them, and only the encoded bytes are
kept (:class:`FrameStore`). Why at import time rather than on first request: the import
must decode every frame anyway (pixel data verification, MinPixelValue, MaxPixelValue and
the checksum in the metadata); HTJ2K lossless is several times smaller than the decoded
pixels and needs no copy of the source file afterwards; encoding all of pydicom's test
files takes a fraction of a second; and GetImageFrame then does no CPU work while a
request waits.

``imagecodecs`` and ``numpy`` are imported when a frame is encoded or decoded, so
importing the sandbox does not need them.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

# numpy and imagecodecs (the optional `sandbox` extra) load only to encode or decode a
# frame: the sandbox starts and serves metadata without them.
if TYPE_CHECKING:
    import numpy as np

HTJ2K_TRANSFER_SYNTAX_UID = "1.2.840.10008.1.2.4.202"
"""The stored transfer syntax of every imported frame (HTJ2K lossless RPCL)."""

CONTENT_TYPE = "image/jph"
"""GetImageFrame's ``Content-Type`` for :data:`HTJ2K_TRANSFER_SYNTAX_UID`."""


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
    """Decode an HTJ2K frame (for example the body of a GetImageFrame response)."""
    import imagecodecs

    return imagecodecs.htj2k_decode(blob)


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
