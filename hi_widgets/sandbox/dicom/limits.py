"""What one input object and one import job may read, decompress and hold.

A DICOM P10 file can be small on disk and enormous once read: the Deflated Explicit VR
Little Endian transfer syntax (1.2.840.10008.1.2.1.99) compresses the whole dataset with
zlib, whose ratio reaches about 1000:1 (a 2 MB file inflating to gigabytes), and a few
bytes of encapsulated pixel data may claim ``Rows x Columns x NumberOfFrames`` of any
size. The import reads one object at a time, in chunks, and checks each bound before the
work that would cross it: an object over its bound becomes a line of ``failure.ndjson``
saying which limit it crossed, and a job over its bound records every later file as a
failure too, so the sandbox never holds more than these limits.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

_MB = 1024 * 1024


@dataclass(frozen=True)
class ImportLimits:
    """Bounds on what an import reads, decompresses and holds (bytes).

    Parameters
    ----------
    max_object_bytes
        The largest input object read (its stored size).
    max_inflated_bytes
        The most a deflated dataset may inflate to.
    max_pixel_bytes
        The most decoded pixel data one object may hold (``Rows x Columns x
        SamplesPerPixel x BitsAllocated / 8 x NumberOfFrames``).
    max_job_decompressed_bytes
        The most one job may inflate and decode over all its objects.
    max_job_held_bytes
        The most one job may hold until it commits (its encoded image frames).

    Examples
    --------
    >>> from hi_widgets import sandbox
    >>> limits = sandbox.ImportLimits(max_inflated_bytes=64 * 1024 * 1024)
    >>> limits.max_inflated_bytes, limits.max_object_bytes
    (67108864, 536870912)
    >>> sandbox.ImportLimits(max_object_bytes=0)
    Traceback (most recent call last):
    ...
    ValueError: ImportLimits.max_object_bytes must be a whole number >= 1, got 0
    """

    max_object_bytes: int = 512 * _MB
    max_inflated_bytes: int = 256 * _MB
    max_pixel_bytes: int = 1024 * _MB
    max_job_decompressed_bytes: int = 8192 * _MB
    max_job_held_bytes: int = 2048 * _MB

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"ImportLimits.{name} must be a whole number >= 1, got {value!r}")


class LimitExceeded(Exception):
    """An object or a job crossed one of its :class:`ImportLimits`; the message says which."""


@dataclass
class JobBudget:
    """What one job has decompressed and holds so far, against its limits."""

    limits: ImportLimits = field(default_factory=ImportLimits)
    decompressed: int = 0
    held: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def decompress(self, size: int) -> None:
        """Account for ``size`` bytes about to be inflated or decoded; raise if too many."""
        with self._lock:
            if self.decompressed + size > self.limits.max_job_decompressed_bytes:
                raise LimitExceeded(
                    "The import job reached its limit of "
                    f"{self.limits.max_job_decompressed_bytes} decompressed bytes"
                )
            self.decompressed += size

    def hold(self, size: int) -> None:
        """Account for ``size`` bytes kept until the job commits; raise if too many."""
        with self._lock:
            if self.held + size > self.limits.max_job_held_bytes:
                raise LimitExceeded(
                    f"The import job reached its limit of {self.limits.max_job_held_bytes} "
                    "bytes of image frames held"
                )
            self.held += size
