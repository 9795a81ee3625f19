"""A per-user cache of the demo's source files as the import pipeline read them.

Reading pydicom's test files and re-encoding their frames as HTJ2K costs most of a sandbox
start (importing pydicom alone about half a second), and the result only changes when the
files or the code reading them do. So the read instances (levels, VRs, every frame field
and the HTJ2K bytes) are kept in one JSON file, bytes in base64, under
``$HI_WIDGETS_CACHE_DIR``, else ``$XDG_CACHE_HOME/hi-widgets``, else
``~/.cache/hi-widgets``. A start that finds a file with its key reads it back without
importing pydicom, numpy or imagecodecs.

The key is this package's version, pydicom's and imagecodecs' versions (read from the
installed distributions' metadata, which imports neither), the source file names, sizes
and modification times, and the sizes and modification times of the pipeline modules
that read them (so a development checkout does not serve stale frames). The file is
written atomically (temporary file, fsync, ``os.replace``). Any problem with the cache
(missing, corrupt, another key, an unwritable folder) is logged at debug level and the
templates are rebuilt from the files: the cache never fails a sandbox start.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from importlib import metadata, util
from pathlib import Path
from typing import Any

from hi_widgets._version import __version__
from hi_widgets.export.atomic import atomic_write
from hi_widgets.sandbox.dicom.read import Frame, Instance

LOGGER = logging.getLogger(__name__)

CACHE_DIR_VARIABLE = "HI_WIDGETS_CACHE_DIR"
"""Environment variable naming the cache folder (tests point it at a temporary one)."""

FORMAT = 1
"""Version of the cache file's layout; part of the key."""

# The modules whose code decides what the templates hold (relative to the sandbox folder).
_PIPELINE_MODULES = (
    "dicom/read.py",
    "dicom/levels.py",
    "dicom/frame_encoding.py",
    "demo/dicom_sources.py",
)


def cache_dir() -> Path:
    """Return the folder of hi-widgets' per-user cache files (it may not exist yet)."""
    explicit = os.environ.get(CACHE_DIR_VARIABLE)
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "hi-widgets"


def source_paths(names: Sequence[str]) -> dict[str, Path] | None:
    """Return where pydicom's test files ``names`` are, found without importing pydicom.

    They are next to pydicom's package. None when pydicom is not installed or a file is
    not there (pydicom may fetch it from elsewhere; only it knows).
    """
    try:
        spec = util.find_spec("pydicom")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" / "test_files"
    paths = {name: folder / name for name in names}
    return paths if all(path.is_file() for path in paths.values()) else None


def _stat(path: Path) -> list[Any]:
    status = path.stat()
    return [str(path), status.st_size, status.st_mtime_ns]


def cache_key(sources: dict[str, Path]) -> dict[str, Any]:
    """Return what the templates read from ``sources`` (name: path) depend on.

    Raises OSError or PackageNotFoundError when a file or a distribution is missing.
    """
    here = Path(__file__).parents[1]
    return {
        "format": FORMAT,
        "hi_widgets": __version__,
        "pydicom": metadata.version("pydicom"),
        "imagecodecs": metadata.version("imagecodecs"),
        "source_files": list(sources),
        "sources": [_stat(path) for path in sources.values()],
        "pipeline": [_stat(here / name) for name in _PIPELINE_MODULES],
    }


def cache_file(key: dict[str, Any]) -> Path:
    """Return the cache file of ``key`` (one file per key, so environments do not thrash)."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / f"demo-templates-{digest}.json"


# ----------------------------------------------------------------------- encoding


def _encode_frame(frame: Frame) -> dict[str, Any]:
    return {
        "frame_id": frame.frame_id,
        "rows": frame.rows,
        "columns": frame.columns,
        "min_pixel_value": frame.min_pixel_value,
        "max_pixel_value": frame.max_pixel_value,
        "checksum": frame.checksum,
        "htj2k": base64.b64encode(frame.htj2k).decode("ascii"),
    }


def _encode_instance(instance: Instance) -> dict[str, Any]:
    return {
        "input_file": instance.input_file,
        "levels": instance.levels,
        "vrs": instance.vrs,
        "frames": [_encode_frame(frame) for frame in instance.frames],
    }


def _expect(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
    # bool is an int to isinstance; no cached field is a bool.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"{what} is {type(value).__name__}, expected {kind}")
    return value


def _decode_frame(item: dict[str, Any]) -> Frame:
    return Frame(
        frame_id=_expect(item["frame_id"], str, "frame_id"),
        rows=_expect(item["rows"], int, "rows"),
        columns=_expect(item["columns"], int, "columns"),
        min_pixel_value=_expect(item["min_pixel_value"], (int, float), "min_pixel_value"),
        max_pixel_value=_expect(item["max_pixel_value"], (int, float), "max_pixel_value"),
        checksum=_expect(item["checksum"], int, "checksum"),
        htj2k=base64.b64decode(_expect(item["htj2k"], str, "htj2k"), validate=True),
    )


def _decode_instance(item: dict[str, Any]) -> Instance:
    levels = _expect(item["levels"], dict, "levels")
    for level in ("Patient", "Study", "Series", "Instance"):
        _expect(levels[level], dict, f"levels[{level!r}]")
    return Instance(
        input_file=_expect(item["input_file"], str, "input_file"),
        levels=levels,
        vrs=_expect(item["vrs"], dict, "vrs"),
        frames=[_decode_frame(frame) for frame in _expect(item["frames"], list, "frames")],
    )


# ---------------------------------------------------------------------- load, save


def load(key: dict[str, Any]) -> tuple[Instance, ...] | None:
    """Return the templates cached under ``key``, or None (logged) if there are none."""
    path = cache_file(key)
    try:
        document = json.loads(path.read_bytes())
        if _expect(document, dict, "the cache")["key"] != key:
            raise ValueError("the file holds another key")
        return tuple(
            _decode_instance(_expect(item, dict, "an instance"))
            for item in _expect(document["instances"], list, "instances")
        )
    except FileNotFoundError:
        LOGGER.debug("no demo template cache at %s", path)
    except (OSError, ValueError, KeyError, TypeError, binascii.Error) as error:
        LOGGER.debug("demo template cache %s not used: %s", path, error)
    return None


def save(key: dict[str, Any], instances: Sequence[Instance]) -> Path | None:
    """Write ``instances`` under ``key`` atomically; return the file, or None (logged)."""
    path = cache_file(key)
    payload = {"key": key, "instances": [_encode_instance(item) for item in instances]}
    try:
        data = json.dumps(payload, separators=(",", ":")).encode()
        with atomic_write(path, make_folder=True) as handle:
            handle.write(data)
    except (OSError, ValueError, TypeError) as error:
        LOGGER.debug("demo template cache %s not written: %s", path, error)
        return None
    return path


def cached(
    sources: dict[str, Path], build: Callable[[dict[str, Path]], tuple[Instance, ...]]
) -> tuple[Instance, ...]:
    """Return the templates of ``sources`` (name: path) from the cache, else ``build`` them.

    What ``build(sources)`` returns is cached unless it is empty.
    """
    try:
        key = cache_key(sources)
    except (OSError, metadata.PackageNotFoundError) as error:
        LOGGER.debug("demo template cache not used: %s", error)
        return build(sources)
    found = load(key)
    if found is not None:
        return found
    built = build(sources)
    if built:
        save(key, built)
    return built
