"""The one progress protocol: every long operation calls ``progress(Progress(...))``.

:func:`hi_widgets.iter_versions`, :func:`hi_widgets.fetch_history`,
:func:`hi_widgets.fetch_versions`, :func:`hi_widgets.fetch_datastore`,
:func:`hi_widgets.refresh`, :func:`hi_widgets.fetch_changes` and
:func:`hi_widgets.preview_image_set` all take ``progress=``, a callable given one
:class:`Progress` after each step. The widgets' progress bars and the command line's tqdm
bar are such callables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Progress", "ProgressCallback", "report"]


@dataclass(frozen=True)
class Progress:
    """How far a long operation has come, passed to its ``progress`` callback.

    Attributes
    ----------
    done
        Units finished so far (failed ones included).
    total
        Units known so far, or None while unknown (e.g. before the first page of a
        version listing). It can grow while work is being found (a datastore's search
        pages).
    unit
        What is counted: ``"versions"``, ``"image sets"``, ``"documents"``, ``"frames"``,
        ``"jobs"`` or ``"files"`` (an import job's output lines).
    item
        ``(datastoreId, imageSetId)`` of the image set that just finished, for operations
        over many image sets; else None.

    Examples
    --------
    >>> from hi_widgets.api.progress import Progress
    >>> step = Progress(3, 4, "image sets")
    >>> step.fraction, str(step)
    (0.75, '3 / 4 image sets')
    """

    done: int
    total: int | None
    unit: str
    item: tuple[str, str] | None = None

    @property
    def fraction(self) -> float | None:
        """``done / total`` in [0, 1], or None while the total is unknown."""
        if self.total is None:
            return None
        return min(1.0, self.done / self.total) if self.total > 0 else 1.0

    def __str__(self) -> str:
        counted = f"{self.done}" if self.total is None else f"{self.done} / {self.total}"
        return f"{counted} {self.unit}"


ProgressCallback = Callable[[Progress], object]
"""``progress(Progress(done, total, unit, item))``; what it returns is ignored.

Bulk operations call it from worker threads, one call at a time: make it thread-safe.
If it raises, the operation stops and the exception propagates."""


def report(
    progress: ProgressCallback | None,
    done: int,
    total: int | None,
    unit: str,
    item: tuple[str, str] | None = None,
) -> None:
    """Call ``progress`` with a :class:`Progress`, if there is a callback."""
    if progress is not None:
        progress(Progress(done, total, unit, item))
