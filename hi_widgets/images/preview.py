"""A look at the images of an image set: a few frames, fetched, decoded and windowed.

:func:`preview_image_set` picks the first, middle and last instance of the first series
from the metadata document (:func:`choose_image_frames`), fetches their first frame with
GetImageFrame (kept in a small LRU cache, :class:`ImageFrameCache`), decodes it
(:func:`decode_image_frame`: HTJ2K, the service's default, and the other stored formats) and
maps it to 0..1 for display (:func:`window_pixels`: the modality rescale, then the
metadata's window centre/width, else a robust min/max; colour frames by their range,
PALETTE COLOR through the metadata's lookup tables). :func:`plot_previews` draws the
results on a pyplot-free Figure.

A frame that cannot be fetched or decoded does not stop the others: each result carries
either an image or an error saying why (content type, size, the decoder's words).

Decoding needs imagecodecs, the optional extra ``images``: ``pip install
"hi-widgets[images]"``. It is imported when a frame is decoded, not before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hi_widgets.api.errors import HealthImagingError, translate
from hi_widgets.api.fetch import get_image_set_metadata
from hi_widgets.api.ids import validate_datastore_id, validate_image_set_id
from hi_widgets.api.progress import ProgressCallback, report
from hi_widgets.images._pixels import (
    FrameDecodeError,
    MissingCodecError,
    decode_image_frame,
    dicom_number,
    display_pixels,
    window_pixels,
)

if TYPE_CHECKING:
    from mypy_boto3_medical_imaging import HealthImagingClient

__all__ = [
    "FrameDecodeError",
    "ImageFrameCache",
    "ImageFrameRef",
    "ImagePreview",
    "MissingCodecError",
    "choose_image_frames",
    "decode_image_frame",
    "fetch_image_frame",
    "preview_image_set",
    "window_pixels",
]

# ------------------------------------------------------------------------ choosing


@dataclass(frozen=True)
class ImageFrameRef:
    """One frame of the metadata document chosen for a preview.

    Attributes
    ----------
    frame_id
        The ``ImageFrames[].ID`` to pass to GetImageFrame.
    position
        ``"first"``, ``"middle"`` or ``"last"``.
    series_uid, sop_instance_uid
        Where the frame is.
    instance_number
        The instance's InstanceNumber, when present.
    frame_index
        Index of the frame within its instance (0 unless a single multi-frame instance).
    frame_count
        Number of frames of the instance.
    attributes
        DICOM attributes for decoding and display, instance level over series level.
    """

    frame_id: str
    position: str
    series_uid: str
    sop_instance_uid: str
    instance_number: int | None
    frame_index: int = 0
    frame_count: int = 1
    attributes: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


def _series_order(item: tuple[int, tuple[str, Any]]) -> tuple[Any, ...]:
    index, (_, series) = item
    dicom = series.get("DICOM", {}) if isinstance(series, Mapping) else {}
    number = dicom_number(dicom.get("SeriesNumber"))
    return (number is None, number or 0, index)


def _with_frames(series: Any) -> list[tuple[str, Mapping[str, Any]]]:
    instances = series.get("Instances") if isinstance(series, Mapping) else None
    if not isinstance(instances, Mapping):
        return []
    found = [
        (uid, instance)
        for uid, instance in instances.items()
        if isinstance(instance, Mapping) and instance.get("ImageFrames")
    ]

    def order(item: tuple[int, tuple[str, Mapping[str, Any]]]) -> tuple[Any, ...]:
        index, (_, instance) = item
        number = dicom_number(instance.get("DICOM", {}).get("InstanceNumber"))
        return (number is None, number or 0, index)

    return [pair for _, pair in sorted(enumerate(found), key=order)]


def choose_image_frames(metadata: Mapping[str, Any]) -> list[ImageFrameRef]:
    """Pick the frames to preview: first, middle and last instance of the first series.

    Parameters
    ----------
    metadata
        The image set metadata document (:func:`hi_widgets.get_image_set_metadata`).

    Returns
    -------
    list of ImageFrameRef
        The first series is the one with the lowest SeriesNumber (document order when
        absent) among those holding image frames; its instances are sorted by
        InstanceNumber when present (document order otherwise), and the first frame of
        the first, middle and last one is taken. One instance holding several frames
        gives its first, middle and last frame instead. Two instances give first and
        last, one gives first; no image frame at all gives an empty list.
    """
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a JSON object (dict), got {type(metadata).__name__}")
    study = metadata.get("Study")
    all_series = study.get("Series") if isinstance(study, Mapping) else None
    if not isinstance(all_series, Mapping):
        return []
    for _, (series_uid, series) in sorted(enumerate(all_series.items()), key=_series_order):
        instances = _with_frames(series)
        if not instances:
            continue
        series_dicom = series.get("DICOM", {}) if isinstance(series, Mapping) else {}
        if len(instances) == 1 and len(instances[0][1]["ImageFrames"]) > 1:
            picks = [(instances[0], i) for i in range(len(instances[0][1]["ImageFrames"]))]
        else:
            picks = [(instance, 0) for instance in instances]
        chosen: dict[int, str] = {}
        for position, index in (("first", 0), ("last", -1), ("middle", len(picks) // 2)):
            chosen.setdefault(index % len(picks), position)
        refs = []
        for index, position in sorted(chosen.items()):
            (sop_uid, instance), frame_index = picks[index]
            dicom = instance.get("DICOM", {})
            number = dicom_number(dicom.get("InstanceNumber"))
            refs.append(
                ImageFrameRef(
                    frame_id=str(instance["ImageFrames"][frame_index]["ID"]),
                    position=position,
                    series_uid=str(series_uid),
                    sop_instance_uid=str(sop_uid),
                    instance_number=None if number is None else int(number),
                    frame_index=frame_index,
                    frame_count=len(instance["ImageFrames"]),
                    attributes={**series_dicom, **dicom},
                )
            )
        return refs
    return []


# ------------------------------------------------------------------------ fetching


class ImageFrameCache:
    """A thread-safe LRU cache of encoded frames, bounded in count and in bytes.

    Parameters
    ----------
    max_frames
        Frames kept at most (0 disables the cache).
    max_bytes
        Encoded bytes kept at most.

    Examples
    --------
    >>> cache = hw.ImageFrameCache(max_frames=8)
    >>> previews = hw.preview_image_set(client, datastore_id, image_set_id, cache=cache)
    >>> len(cache) == len(previews)  # a second preview of these frames sends nothing
    True
    """

    def __init__(self, max_frames: int = 32, max_bytes: int = 128 * 2**20) -> None:
        if max_frames < 0 or max_bytes < 0:
            raise ValueError("max_frames and max_bytes must be >= 0")
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple[str, str, str], tuple[bytes, str | None]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: tuple[str, str, str]) -> tuple[bytes, str | None] | None:
        """Return a cached frame, marking it as recently used.

        Parameters
        ----------
        key
            ``(datastoreId, imageSetId, imageFrameId)``.

        Returns
        -------
        tuple or None
            ``(encoded bytes, content type)``, or None if the frame is not cached.
        """
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                self._items.move_to_end(key)
            return item

    def put(self, key: tuple[str, str, str], blob: bytes, content_type: str | None) -> None:
        """Keep a frame, dropping the least recently used ones beyond the bounds.

        Parameters
        ----------
        key
            ``(datastoreId, imageSetId, imageFrameId)``.
        blob
            The encoded frame (not kept if larger than ``max_bytes``).
        content_type
            GetImageFrame's ``contentType``.
        """
        if self.max_frames == 0 or len(blob) > self.max_bytes:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= len(old[0])
            self._items[key] = (blob, content_type)
            self._bytes += len(blob)
            while len(self._items) > self.max_frames or self._bytes > self.max_bytes:
                _, (dropped, _) = self._items.popitem(last=False)
                self._bytes -= len(dropped)

    def clear(self) -> None:
        """Forget every frame."""
        with self._lock:
            self._items.clear()
            self._bytes = 0


IMAGE_FRAME_CACHE = ImageFrameCache()
"""The cache :func:`fetch_image_frame` and :func:`preview_image_set` use unless given another."""


def fetch_image_frame(
    client: HealthImagingClient,
    datastore_id: str,
    image_set_id: str,
    frame_id: str,
    *,
    cache: ImageFrameCache | None = None,
) -> tuple[bytes, str | None]:
    """Fetch one encoded image frame with GetImageFrame, through the cache.

    Parameters
    ----------
    client
        A boto3 ``medical-imaging`` client.
    datastore_id, image_set_id
        The image set; checked before any request.
    frame_id
        An ``ImageFrames[].ID`` of its metadata.
    cache
        Where frames are kept; default :data:`IMAGE_FRAME_CACHE`.

    Returns
    -------
    tuple
        The encoded bytes and the response's content type (``image/jph`` for HTJ2K).

    Raises
    ------
    InvalidIdentifierError
        Before any request, for a malformed identifier.
    HealthImagingError
        The subclass matching the service error.
    """
    datastore_id = validate_datastore_id(datastore_id)
    image_set_id = validate_image_set_id(image_set_id)
    if not isinstance(frame_id, str) or not frame_id.strip():
        raise ValueError(f"frame_id must be a non-empty string, got {frame_id!r}")
    cache = IMAGE_FRAME_CACHE if cache is None else cache
    key = (datastore_id, image_set_id, frame_id)
    cached = cache.get(key)
    if cached is not None:
        return cached
    ids = {"datastoreId": datastore_id, "imageSetId": image_set_id}
    with translate("GetImageFrame", **ids, imageFrameId=frame_id):
        response = client.get_image_frame(**ids, imageFrameInformation={"imageFrameId": frame_id})
        with response["imageFrameBlob"] as body:
            blob = body.read()
    content_type = response.get("contentType")
    cache.put(key, blob, content_type)
    return blob, content_type


# ------------------------------------------------------------------------- preview


@dataclass(frozen=True, eq=False)
class ImagePreview:
    """The result for one previewed frame: an image in 0..1, or the reason there is none.

    Attributes
    ----------
    ref
        Which frame (:class:`ImageFrameRef`).
    image
        ``float32`` pixels in [0, 1] for display (see :func:`window_pixels`; RGB for
        colour and PALETTE COLOR frames), or None.
    pixels
        The decoded stored values (as :func:`decode_image_frame` returns them), or None.
    error
        Why there is no image (the fetch or decode error's message), or None.
    content_type, size
        Of the encoded frame, when it was fetched.

    Examples
    --------
    >>> first, *_ = hw.preview_image_set(client, datastore_id, image_set_id)
    >>> first.ok, first.title, first.image.dtype.name, first.content_type
    (True, 'first (#1)', 'float32', 'image/jph')
    """

    ref: ImageFrameRef
    image: np.ndarray | None = field(default=None, repr=False)
    pixels: np.ndarray | None = field(default=None, repr=False)
    error: str | None = None
    content_type: str | None = None
    size: int | None = None

    @property
    def ok(self) -> bool:
        """Whether there is an image."""
        return self.image is not None

    @property
    def title(self) -> str:
        """A short caption: position, instance number, and frame of a multi-frame instance."""
        ref = self.ref
        parts = [] if ref.instance_number is None else [f"#{ref.instance_number}"]
        if ref.frame_count > 1:
            parts.append(f"frame {ref.frame_index + 1}/{ref.frame_count}")
        return ref.position + (f" ({', '.join(parts)})" if parts else "")


def preview_image_set(
    client: HealthImagingClient,
    datastore_id: str,
    image_set_id: str,
    *,
    version_id: str | int | None = None,
    metadata: Mapping[str, Any] | None = None,
    cache: ImageFrameCache | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> list[ImagePreview]:
    """Fetch, decode and window a few frames of an image set (see :func:`choose_image_frames`).

    Parameters
    ----------
    client
        A boto3 ``medical-imaging`` client.
    datastore_id, image_set_id
        The image set; checked before any request.
    version_id
        Version whose metadata chooses the frames; default the latest.
    metadata
        The metadata document, when already fetched (no GetImageSetMetadata then).
    cache
        Encoded frames are kept here; default :data:`IMAGE_FRAME_CACHE`.
    progress
        Called with a :class:`~hi_widgets.api.progress.Progress` counting frames after
        each frame.
    cancel
        When set, no further frame is fetched; the frames done so far are returned.

    Returns
    -------
    list of ImagePreview
        One per chosen frame, in order, each with an image or an error (a frame that
        could not be fetched or decoded never stops the others). Empty when the image
        set has no image frame.

    Raises
    ------
    InvalidIdentifierError
        Before any request, for a malformed identifier.
    HealthImagingError
        If the metadata cannot be fetched.
    MissingCodecError
        If imagecodecs is needed and not installed (``pip install "hi-widgets[images]"``).

    Examples
    --------
    >>> previews = hw.preview_image_set(client, datastore_id, image_set_id)
    >>> [(preview.ref.position, preview.ok) for preview in previews]
    [('first', True), ('last', True)]
    >>> str(previews[0].image.dtype), float(previews[0].image.max()) <= 1.0
    ('float32', True)
    """
    datastore_id = validate_datastore_id(datastore_id)
    image_set_id = validate_image_set_id(image_set_id)
    if metadata is None:
        metadata = get_image_set_metadata(client, datastore_id, image_set_id, version_id)
    refs = choose_image_frames(metadata)
    results: list[ImagePreview] = []
    for done, ref in enumerate(refs, start=1):
        if cancel is not None and cancel.is_set():
            break
        results.append(_preview_one(client, datastore_id, image_set_id, ref, cache))
        report(progress, done, len(refs), "frames")
    return results


def _preview_one(
    client: HealthImagingClient,
    datastore_id: str,
    image_set_id: str,
    ref: ImageFrameRef,
    cache: ImageFrameCache | None,
) -> ImagePreview:
    try:
        blob, content_type = fetch_image_frame(
            client, datastore_id, image_set_id, ref.frame_id, cache=cache
        )
    except HealthImagingError as error:
        return ImagePreview(ref, error=f"could not fetch frame {ref.frame_id}: {error.message}")
    try:
        pixels = decode_image_frame(blob, content_type, ref.attributes)
        image = display_pixels(pixels, ref.attributes)
    except MissingCodecError:
        raise
    except Exception as error:  # one bad frame must not stop the preview of the others
        return ImagePreview(ref, error=str(error), content_type=content_type, size=len(blob))
    return ImagePreview(ref, image=image, pixels=pixels, content_type=content_type, size=len(blob))
