"""The demo's real-DICOM templates are cached per user, so a new process skips pydicom.

Every start here is a new Python process (as ``hi-widgets sandbox`` is) or a fresh call of
the cache with the real builder; the demo each one serves over HTTP is compared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("pydicom")
pytest.importorskip("imagecodecs")

from hi_widgets.sandbox.demo import cache as demo_cache
from hi_widgets.sandbox.demo import dicom_sources as demo_dicom

# A new process starts the demo, reads a few image sets' metadata and one frame over real
# HTTP with boto3, and says whether pydicom (and numpy, imagecodecs) were imported.
CHILD = textwrap.dedent(
    """
    import gzip, hashlib, json, sys
    from hi_widgets import sandbox

    with sandbox.start(seed=0, quotas=False, clock=sandbox.ManualClock()) as sb:
        client = sb.client(max_attempts=1)
        datastore = sb.store.datastore_ids()[0]
        image_sets = sb.store.image_set_ids(datastore)[:4]
        documents = [
            json.loads(gzip.decompress(client.get_image_set_metadata(
                datastoreId=datastore, imageSetId=image_set)["imageSetMetadataBlob"].read()))
            for image_set in image_sets
        ]
        (series,) = documents[0]["Study"]["Series"].values()
        instance = next(iter(series["Instances"].values()))
        blob = client.get_image_frame(
            datastoreId=datastore, imageSetId=image_sets[0],
            imageFrameInformation={"imageFrameId": instance["ImageFrames"][0]["ID"]},
        )["imageFrameBlob"].read()
    print(json.dumps({
        "documents": documents,
        "frame_sha256": hashlib.sha256(blob).hexdigest(),
        "pydicom_imported": "pydicom" in sys.modules,
        "heavy_imported": sorted({"numpy", "imagecodecs"} & set(sys.modules)),
    }))
    """
)


def _start_demo_in_new_process() -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _cache_files() -> list:
    return sorted(demo_cache.cache_dir().glob("demo-templates-*.json"))


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    """A new, empty cache folder for this test (the environment passes to children)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(demo_cache.CACHE_DIR_VARIABLE, str(folder))
    return folder


@pytest.fixture(scope="module")
def reference_templates():
    """The templates read straight from the files, without any cache."""
    sources = demo_cache.source_paths(demo_dicom.SOURCE_FILES)
    assert sources is not None, "pydicom's test files are where the cache looks for them"
    return demo_dicom._read_templates(sources)


class CountingBuilder:
    """The real builder, counting how often the cache had to call it."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, sources):
        self.calls += 1
        return demo_dicom._read_templates(sources)


def _templates(builder: CountingBuilder):
    sources = demo_cache.source_paths(demo_dicom.SOURCE_FILES)
    assert sources is not None, "pydicom's test files are installed"
    return demo_cache.cached(sources, builder)


@pytest.mark.slow
def test_second_start_in_a_new_process_serves_the_same_demo_without_pydicom(empty_cache):
    first = _start_demo_in_new_process()
    assert first["pydicom_imported"]  # nothing cached yet: read from the files
    (written,) = _cache_files()
    assert written.parent == empty_cache

    second = _start_demo_in_new_process()
    assert not second["pydicom_imported"]
    assert second["heavy_imported"] == []
    assert second["documents"] == first["documents"]
    assert second["frame_sha256"] == first["frame_sha256"]
    assert _cache_files() == [written]


def test_cached_templates_equal_the_files_read_again(empty_cache, reference_templates):
    builder = CountingBuilder()
    assert _templates(builder) == reference_templates
    assert _templates(builder) == reference_templates
    assert builder.calls == 1
    assert len(reference_templates) == len(demo_dicom.SOURCE_FILES)
    # Every Frame field survives, including float-or-int pixel bounds and the HTJ2K bytes.
    sources = demo_cache.source_paths(demo_dicom.SOURCE_FILES)
    loaded = demo_cache.load(demo_cache.cache_key(sources))
    assert loaded is not None
    for cached, real in zip(loaded, reference_templates, strict=True):
        for cached_frame, real_frame in zip(cached.frames, real.frames, strict=True):
            assert cached_frame.htj2k == real_frame.htj2k
            assert type(cached_frame.min_pixel_value) is type(real_frame.min_pixel_value)


@pytest.mark.parametrize(
    "damage",
    [
        b"",
        b"{not json",
        b'{"key": {}, "instances": []}',
        b"[1, 2, 3]",
    ],
    ids=["empty", "truncated", "other-key", "not-an-object"],
)
def test_a_damaged_cache_file_is_rebuilt_from_the_files(empty_cache, reference_templates, damage):
    _templates(CountingBuilder())
    (written,) = _cache_files()
    written.write_bytes(damage)

    builder = CountingBuilder()
    assert _templates(builder) == reference_templates
    assert builder.calls == 1
    assert demo_cache.load(json.loads(written.read_bytes())["key"]) == reference_templates


def test_cache_with_a_corrupt_frame_is_rebuilt(empty_cache, reference_templates):
    _templates(CountingBuilder())
    (written,) = _cache_files()
    document = json.loads(written.read_bytes())
    document["instances"][0]["frames"][0]["htj2k"] = "not base64!"
    written.write_text(json.dumps(document))

    builder = CountingBuilder()
    assert _templates(builder) == reference_templates
    assert builder.calls == 1


@pytest.mark.slow
def test_corrupt_cache_file_in_a_new_process_still_serves_the_same_demo(empty_cache):
    first = _start_demo_in_new_process()
    (written,) = _cache_files()
    written.write_bytes(written.read_bytes()[:1000])

    again = _start_demo_in_new_process()
    assert again["pydicom_imported"]  # rebuilt from the files
    assert again["documents"] == first["documents"]
    assert again["frame_sha256"] == first["frame_sha256"]


def test_an_unwritable_cache_folder_falls_back_to_the_files(
    tmp_path, monkeypatch, reference_templates
):
    # A folder below a regular file cannot be created, even by root.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(demo_cache.CACHE_DIR_VARIABLE, str(blocker / "cache"))

    builder = CountingBuilder()
    assert _templates(builder) == reference_templates
    assert _templates(builder) == reference_templates
    assert builder.calls == 2  # nothing could be cached
    assert list(tmp_path.iterdir()) == [blocker]

    started = _start_demo_in_new_process()
    assert started["pydicom_imported"]
    assert started["documents"]


def test_another_version_rebuilds_into_its_own_file(empty_cache, monkeypatch, reference_templates):
    builder = CountingBuilder()
    _templates(builder)
    (first_file,) = _cache_files()

    monkeypatch.setattr(demo_cache, "__version__", "999.0.0")
    assert _templates(builder) == reference_templates
    assert builder.calls == 2
    assert len(_cache_files()) == 2
    assert _templates(builder) == reference_templates
    assert builder.calls == 2
    assert first_file in _cache_files()


def test_a_changed_source_file_rebuilds(empty_cache, tmp_path, reference_templates):
    sources = demo_cache.source_paths(demo_dicom.SOURCE_FILES)
    copies = {}
    for name, path in sources.items():
        copies[name] = tmp_path / name
        copies[name].write_bytes(path.read_bytes())
    builder = CountingBuilder()
    demo_cache.cached(copies, builder)
    demo_cache.cached(copies, builder)
    assert builder.calls == 1

    first = next(iter(copies.values()))
    stat = first.stat()  # same bytes, a newer modification time
    os.utime(first, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert demo_cache.cached(copies, builder) == reference_templates
    assert builder.calls == 2


def test_the_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(demo_cache.CACHE_DIR_VARIABLE, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert demo_cache.cache_dir() == tmp_path / "xdg" / "hi-widgets"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert demo_cache.cache_dir() == tmp_path / "home" / ".cache" / "hi-widgets"
    monkeypatch.setenv(demo_cache.CACHE_DIR_VARIABLE, str(tmp_path / "explicit"))
    assert demo_cache.cache_dir() == tmp_path / "explicit"
