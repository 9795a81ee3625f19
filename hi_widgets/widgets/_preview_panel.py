"""PreviewPanel: a few frames of an image set, fetched on request in the background.

"Show images" runs :func:`hi_widgets.preview_image_set` on the owner's runner (progress
per frame, Cancel), keeps encoded frames in one :class:`~hi_widgets.images.preview.ImageFrameCache`
per panel (a second look sends no GetImageFrame), and draws the result with
:func:`hi_widgets.plot_previews` into one PNG. Only that picture and short captions reach
widget state: the metadata document and the pixels stay in the kernel.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import ipywidgets as w

from hi_widgets.images.preview import (
    ImageFrameCache,
    ImagePreview,
    MissingCodecError,
    preview_image_set,
)
from hi_widgets.plots.axes import figure_to_png
from hi_widgets.plots.images import plot_previews
from hi_widgets.widgets._frontend import PlotImage
from hi_widgets.widgets._runner import BackgroundRunner
from hi_widgets.widgets._status import StatusArea

if TYPE_CHECKING:
    from mypy_boto3_medical_imaging import HealthImagingClient

__all__ = ["PreviewPanel", "PreviewTarget", "show_png"]


def show_png(image: PlotImage, png: bytes, alt: str) -> None:
    """Show a PNG at its own width (never wider than its container), with its ``alt`` text."""
    image.value = png
    image.width = str(int.from_bytes(png[16:20], "big"))  # IHDR: width, big-endian
    image.alt = alt
    image.layout.display = ""


class PreviewTarget(NamedTuple):
    """What to preview: a client and an image set (version None: the latest)."""

    client: HealthImagingClient
    datastore_id: str
    image_set_id: str
    version_id: int | str | None = None

    @property
    def label(self) -> str:
        version = "latest version" if self.version_id is None else f"version {self.version_id}"
        return f"image set {self.image_set_id}, {version}"


class PreviewPanel(w.VBox):
    """First, middle and last frame of the first series, on request.

    Parameters
    ----------
    runner, status
        The owning widget's background runner and status area.
    target
        Returns the :class:`PreviewTarget` to show now, or None when there is none (the
        status area is told why by the owner, or by the returned message).
    cache
        Encoded frames by frame id; default a new cache for this panel.

    Attributes
    ----------
    previews : list of ImagePreview or None
        The last result (kernel only, never synced).
    shown : PreviewTarget or None
        Whose images are on screen.
    show_button : ipywidgets.Button
        Class ``hi-preview-show``.
    image : PlotImage
        Class ``hi-preview-image``: the frames as one PNG, their titles as its ``alt``.
    message : ipywidgets.HTML
        Class ``hi-preview-message``: which image set, and why a frame has no picture.
    """

    def __init__(
        self,
        runner: BackgroundRunner,
        status: StatusArea,
        target: Callable[[], PreviewTarget | None],
        cache: ImageFrameCache | None = None,
    ) -> None:
        self.runner = runner
        self.status = status
        self._target = target
        self.cache = ImageFrameCache() if cache is None else cache
        self.previews: list[ImagePreview] | None = None
        self.shown: PreviewTarget | None = None
        self.show_button = w.Button(
            description="Show images",
            icon="image",
            layout=w.Layout(width="auto", min_width="fit-content"),
        )
        self.show_button.add_class("hi-preview-show")
        runner.on_click(self.show_button, self.show)
        self.message = w.HTML(
            value="<i>Show the first, middle and last image of the first series "
            "(GetImageFrame, on request).</i>"
        )
        self.message.add_class("hi-preview-message")
        self.image = PlotImage(layout=w.Layout(max_width="100%", display="none"))
        self.image.add_class("hi-preview-image")
        super().__init__([w.HBox([self.show_button]), self.message, self.image])
        self.add_class("hi-preview")

    def show(self) -> bool:
        """Fetch, decode and draw the frames in the background.

        Returns
        -------
        bool
            False if nothing started (a job is running, or there is nothing to show).
        """
        if self.runner.busy:
            return False
        target = self._target()
        if target is None:
            # Say why instead of doing nothing (issue 22): the form marks the field at fault.
            self.message.value = (
                "<span class='hi-preview-error' role='alert'>Nothing to show yet: connect, "
                "then choose a datastore and an image set (the fields say what is missing "
                "or malformed).</span>"
            )
            return False

        def job(cancel: threading.Event) -> tuple[list[ImagePreview], bytes]:
            previews = preview_image_set(
                target.client,
                target.datastore_id,
                target.image_set_id,
                version_id=target.version_id,
                cache=self.cache,
                progress=self.runner.report,
                cancel=cancel,
            )
            return previews, figure_to_png(plot_previews(previews))

        return self.runner.start(
            job,
            on_success=lambda result: self._show(target, *result),
            on_error=lambda error: self._failed(target, error),
            label=f"Loading images of {target.label}…",
            unit="frames",
        )

    def _show(self, target: PreviewTarget, previews: list[ImagePreview], png: bytes) -> None:
        self.previews = previews
        self.shown = target
        titles = "; ".join(p.title for p in previews) or "no frames"
        show_png(self.image, png, alt=f"Image frames of {target.label}: {titles}")
        failed = [p for p in previews if not p.ok]
        lines = [f"Images of {html.escape(target.label)}."]
        lines += [
            f"<span class='hi-preview-error' style='color:#b00020'>{html.escape(p.title)}: "
            f"{html.escape(p.error or 'no image')}</span>"
            for p in failed
        ]
        self.message.value = "<br>".join(lines)
        if self.runner.cancelled:
            self.status.show(f"Cancelled: {len(previews)} frames shown.", "warning")
        elif not previews:
            self.status.show(f"No image frames in {target.label}.", "warning")
        elif failed:
            self.status.show(
                f"{len(failed)} of {len(previews)} frames could not be shown (see the panel).",
                "warning",
            )
        else:
            self.status.show(f"{len(previews)} frames of {target.label}.", "info")

    def _failed(self, target: PreviewTarget, error: BaseException) -> None:
        """Say why in the panel (and the status area); earlier images stay, marked so."""
        if isinstance(error, MissingCodecError):
            why = str(error)  # names the extra to install
            self.status.show(why, "error")
        else:
            why = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
            self.status.show_error(error, context="Could not show images")
        text = f"No images of {html.escape(target.label)}: {html.escape(why)}"
        if self.shown is not None:
            text += (
                f"<br><i>Shown: the images of {html.escape(self.shown.label)}, from before.</i>"
            )
        self.message.value = f"<span class='hi-preview-error' style='color:#b00020'>{text}</span>"
