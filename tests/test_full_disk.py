"""A full or failing disk never loses fetched versions (issue 21), on a real full filesystem.

``small_disk`` mounts a real 256 KiB tmpfs (root, and a machine that allows mounts) and
fills it; where that is not permitted those tests skip with the reason, and the tests
with a writer that raises ENOSPC at a known point cover the same paths.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hi_widgets import fetch_versions
from hi_widgets.bulk import _checkpoint
from hi_widgets.cli import _versions_output
from hi_widgets.cli.main import main
from hi_widgets.export.files import read_frame

SANDBOX_OPTIONS = {"seed": 4, "quotas": False}  # 30 image sets, 320 versions
PAGE = 4096


@pytest.fixture
def env(sb, monkeypatch):
    """The sandbox's AWS variables, for the CLI run in this process."""
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    for key, value in sb.env().items():
        monkeypatch.setenv(key, value)
    return sb.env()


@pytest.fixture
def small_disk(tmp_path):
    """A real 256 KiB tmpfs (a whole checkpoint of 30 image sets fits), unmounted after."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command: the ENOSPC writer tests cover a full disk")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        reason = mounted.stderr.strip() or f"exit status {mounted.returncode}"
        pytest.skip(f"cannot mount a tmpfs here ({reason}): the ENOSPC writer tests cover it")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def fill(disk: Path, leave_pages: int = 0) -> None:
    """Fill ``disk`` until the filesystem says ENOSPC, then free ``leave_pages`` pages."""
    with open(disk / "filler", "wb", buffering=0) as file:
        while True:
            try:
                file.write(b"\0" * PAGE)
            except OSError as error:
                assert error.errno == errno.ENOSPC
                break
        file.truncate(max(0, file.seek(0, os.SEEK_END) - leave_pages * PAGE))
    if not leave_pages:
        with pytest.raises(OSError, match="No space left"):
            (disk / "probe").write_bytes(b"x" * PAGE)
        (disk / "probe").unlink()


def history(sb, ds, image_sets):
    return sorted((i, int(v["versionId"])) for i in image_sets for v in sb.store.versions(ds, i))


def rows(frame):
    return sorted(zip(frame["imageSetId"], frame["versionId"].astype(int), strict=True))


def verified_items(path: Path) -> list[str]:
    """Image sets of a checkpoint, asserting that every line verifies and none is torn."""
    data = path.read_bytes()
    assert data.endswith(b"\n")
    header, *lines = data.split(b"\n")[:-1]
    key = bytes.fromhex(json.loads(header)["key"])
    entries = [_checkpoint.verified_entry(key, line) for line in lines]
    verified = [entry for entry in entries if entry is not None]
    assert len(verified) == len(entries)
    return [item[1] for item, _ in verified]


class FullAfterLines:
    """A raw file that stores ``lines`` whole lines, then half of the next, then ENOSPC."""

    def __init__(self, raw, lines: int) -> None:
        self._raw = raw
        self._left = lines
        self._torn = False

    def write(self, data) -> int:
        if self._left == 0:
            if not self._torn:  # a disk filling up mid-line: part of it lands
                self._torn = True
                return self._raw.write(bytes(data)[: len(data) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        written = self._raw.write(data)
        if bytes(data[:written]).endswith(b"\n"):
            self._left -= 1
        return written

    def __getattr__(self, name):
        return getattr(self._raw, name)


def ids_of(sb):
    ds = sb.store.datastore_ids()[0]
    return ds, sb.store.image_set_ids(ds)


def sent_for(sb, since):
    return {r.params.get("imageSetId") for r in sb.requests[since:]} - {None}


# ------------------------------------------------------------------- library: checkpoint


def test_a_checkpoint_write_failing_at_a_known_line_keeps_every_version(sb, tmp_path, monkeypatch):
    ds, image_sets = ids_of(sb)
    items = [(ds, i) for i in image_sets]
    path = tmp_path / "run.checkpoint"
    real_open = open

    def opening(file, mode="r", *args, **kwargs):
        raw = real_open(file, mode, *args, **kwargs)
        return FullAfterLines(raw, 3) if "a" in mode else raw

    monkeypatch.setattr(_checkpoint, "open", opening, raising=False)
    result = fetch_versions(sb.client(), items, checkpoint=path)
    monkeypatch.undo()

    assert result.ok and rows(result.frame) == history(sb, ds, image_sets)
    (warning,) = result.warnings
    assert warning.startswith(f"cannot write checkpoint {path}: [Errno 28] No space left")
    assert "1 warning(s)" in result.summary()
    kept = verified_items(path)  # the half line was cut off: three whole lines remain
    assert len(kept) == 3
    sent = len(sb.requests)
    again = fetch_versions(sb.client(), items, checkpoint=path)
    assert again.ok and not again.warnings and rows(again.frame) == rows(result.frame)
    assert sent_for(sb, sent) == set(image_sets) - set(kept)


def test_a_checkpoint_on_a_full_disk_keeps_every_version(sb, small_disk):
    ds, image_sets = ids_of(sb)
    items = [(ds, i) for i in image_sets]
    fill(small_disk, leave_pages=3)  # the header fits, and a few lines
    path = small_disk / "run.checkpoint"
    result = fetch_versions(sb.client(), items, checkpoint=path)
    assert result.ok and rows(result.frame) == history(sb, ds, image_sets)
    (warning,) = result.warnings
    assert f"cannot write checkpoint {path}: [Errno 28] No space left on device" in warning
    kept = verified_items(path)
    assert len(kept) < len(image_sets)

    (small_disk / "filler").unlink()  # room again: the rerun fetches only the rest
    sent = len(sb.requests)
    again = fetch_versions(sb.client(), items, checkpoint=path)
    assert again.ok and not again.warnings and rows(again.frame) == rows(result.frame)
    assert sent_for(sb, sent) == set(image_sets) - set(kept)
    assert sorted(verified_items(path)) == sorted(image_sets)


# ------------------------------------------------------------------------------- the CLI


def versions_argv(ds, image_sets, out, *extra):
    return ["versions", "--datastore", ds, "--image-set", *image_sets, "-o", str(out), *extra]


def test_cli_checkpoint_on_a_full_disk_warns_and_writes_everything_to_o(
    sb, env, small_disk, tmp_path, capsys
):
    ds, image_sets = ids_of(sb)
    fill(small_disk, leave_pages=1)
    checkpoint, out = small_disk / "run.checkpoint", tmp_path / "out.csv"
    argv = versions_argv(ds, image_sets, out, "--checkpoint", str(checkpoint), "--no-progress")
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 0, err
    assert f"warning: cannot write checkpoint {checkpoint}: [Errno 28] No space left" in err
    assert f"wrote {out}" in err and "Traceback" not in err
    assert rows(read_frame(out)) == history(sb, ds, image_sets)


def test_a_real_process_with_checkpoint_and_output_on_a_full_disk_exits_3(
    sb, small_disk, tmp_path
):
    ds, image_sets = ids_of(sb)
    fill(small_disk, leave_pages=1)
    spill = tmp_path / "spill"  # the temporary folder: the last fallback
    spill.mkdir()
    checkpoint, out = small_disk / "run.checkpoint", small_disk / "out.csv"
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_SESSION_TOKEN")}
    env.update(sb.env(), TMPDIR=str(spill), PYTHONPATH=os.pathsep.join(sys.path))
    argv = versions_argv(ds, image_sets, out, "--checkpoint", str(checkpoint), "--no-progress")
    done = subprocess.run(
        [sys.executable, "-m", "hi_widgets.cli", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    err = done.stderr
    assert done.returncode == 3, err
    assert "Traceback" not in err
    assert f"warning: cannot write checkpoint {checkpoint}: [Errno 28] No space left" in err
    assert err.count("cannot write checkpoint") == 1  # said once, not logged again
    assert f"error: cannot write {out}: No space left on device" in err
    (saved,) = spill.glob("out.partial-*.csv")
    assert f"saved the fetched versions to {saved} instead: {out} was not written" in err
    assert rows(read_frame(saved)) == history(sb, ds, image_sets)
    assert not out.exists()


def test_o_failing_with_enospc_exits_3_and_names_the_fallback(
    sb, env, tmp_path, monkeypatch, capsys
):
    import tempfile

    ds, image_sets = ids_of(sb)
    full = tmp_path / "full"
    full.mkdir()
    real = _versions_output.export_frame

    def export_frame(df, path, **options):
        if Path(path).parent == full:  # the disk of -o is full
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(df, path, **options)

    monkeypatch.setattr(_versions_output, "export_frame", export_frame)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    out = full / "out.parquet"
    assert main(versions_argv(ds, image_sets[:4], out, "--no-progress")) == 3
    err = capsys.readouterr().err
    (saved,) = tmp_path.glob("out.partial-*.parquet")
    assert f"error: cannot write {out}: No space left on device" in err
    assert f"saved the fetched versions to {saved} instead" in err
    assert rows(read_frame(saved)) == history(sb, ds, image_sets[:4])
    assert not out.exists()


def test_a_checkpoint_that_cannot_be_created_exits_2_before_any_request(
    sb, env, small_disk, tmp_path, capsys
):
    ds, image_sets = ids_of(sb)
    fill(small_disk)
    checkpoint, out = small_disk / "run.checkpoint", tmp_path / "out.csv"
    argv = versions_argv(ds, image_sets, out, "--checkpoint", str(checkpoint), "--no-progress")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --checkpoint {checkpoint}: ")
    assert "No space left on device" in err and "nothing was requested" in err
    assert sb.requests == []
    assert not out.exists() and not checkpoint.exists()
    assert [p.name for p in small_disk.iterdir()] == ["filler"]  # no temporary file left
