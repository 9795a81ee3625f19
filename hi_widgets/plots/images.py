"""Image frames drawn side by side: the previews of :func:`hi_widgets.preview_image_set`."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg

from hi_widgets.images.preview import ImagePreview
from hi_widgets.plots.axes import _DisplayFigure

__all__ = ["plot_previews"]


def plot_previews(previews: Sequence[ImagePreview], axes: Sequence[Any] | None = None) -> Any:
    """Draw previews side by side, in grey, with their captions and errors.

    Parameters
    ----------
    previews
        Results of :func:`preview_image_set`.
    axes
        One Axes per preview to draw on; default a new pyplot-free Figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on (shown as a PNG in Jupyter). A preview without an image
        shows its error, wrapped (and cut short when long), in place of the picture;
        no previews give one empty panel saying so.

    Examples
    --------
    >>> previews = hw.preview_image_set(client, datastore_id, image_set_id)
    >>> figure = hw.plot_previews(previews)
    >>> len(figure.axes) >= 1
    True
    """
    previews = list(previews)
    if axes is None:
        count = max(1, len(previews))
        figure = _DisplayFigure(figsize=(3.2 * count, 3.6), layout="constrained")
        FigureCanvasAgg(figure)
        axes = list(np.atleast_1d(figure.subplots(1, count)))
    elif len(axes) != len(previews):
        raise ValueError(f"axes must hold one Axes per preview ({len(previews)}), got {len(axes)}")
    if not previews:
        axes[0].text(0.5, 0.5, "No image frames", ha="center", va="center", color="0.4")
        axes[0].set_axis_off()
        return axes[0].figure
    for ax, preview in zip(axes, previews, strict=True):
        ax.set_axis_off()
        ax.set_title(preview.title, fontsize="medium")
        if preview.image is not None:
            ax.imshow(preview.image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="antialiased")
        else:
            # The panel holds a few lines; the whole message stays in preview.error.
            text = textwrap.fill(preview.error or "no image", width=32, max_lines=9)
            ax.text(
                0.5,
                0.5,
                text,
                ha="center",
                va="center",
                color="#a50f15",
                fontsize="small",
                transform=ax.transAxes,
                wrap=True,
            )
    return axes[0].figure
