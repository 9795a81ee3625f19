import pytest

from hi_widgets import sandbox
from hi_widgets.cli.main import main
from hi_widgets.export.files import read_frame


@pytest.fixture
def sb(monkeypatch):
    with sandbox.start(seed=4, quotas=False) as box:
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        for key, value in box.env().items():
            monkeypatch.setenv(key, value)
        yield box


@pytest.fixture
def ids(sb):
    ds = sb.store.datastore_ids()[0]
    return ds, sb.store.image_set_ids(ds)


def history(sb, ds, image_sets):
    return sorted(
        (image_set, int(v["versionId"]))
        for image_set in image_sets
        for v in sb.store.versions(ds, image_set)
    )


def rows(frame):
    return sorted(zip(frame["imageSetId"], frame["versionId"].astype(int), strict=True))


def test_versions_to_parquet_with_progress_and_summary(sb, ids, tmp_path, capsys):
    ds, image_sets = ids
    out = tmp_path / "out.parquet"
    status = main(["versions", "--datastore", ds, "--image-set", *image_sets[:3], "-o", str(out)])
    assert status == 0
    frame = read_frame(out)
    assert rows(frame) == history(sb, ds, image_sets[:3])
    assert str(frame["createdAt"].dtype) == "datetime64[us, UTC]"
    err = capsys.readouterr().err
    assert "100%" in err  # the tqdm bar, on stderr
    assert f"wrote {out}" in err and "versions of 3/3 image sets" in err


def test_repeated_image_set_flags_and_csv_format(sb, ids, tmp_path):
    ds, image_sets = ids
    out = tmp_path / "out.data"
    argv = ["versions", "--datastore", ds, "--image-set", image_sets[0], "--image-set"]
    argv += [image_sets[1], "-o", str(out), "--format", "csv", "--no-progress"]
    assert main(argv) == 0
    assert rows(read_frame(out, format="csv")) == history(sb, ds, image_sets[:2])


def test_from_file_plain_list_and_csv(sb, ids, tmp_path):
    ds, image_sets = ids
    plain = tmp_path / "ids.txt"
    plain.write_text(f"# wanted\n{image_sets[0]}\n\n{image_sets[1]}\n")
    out = tmp_path / "a.json"
    argv = ["versions", "--datastore", ds, "--from-file", str(plain), "-o", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    assert rows(read_frame(out)) == history(sb, ds, image_sets[:2])

    table = tmp_path / "ids.csv"
    table.write_text(f"datastoreId,imageSetId\n{ds},{image_sets[2]}\n,{image_sets[3]}\n")
    out = tmp_path / "b.parquet"
    # The second row has no datastoreId: it comes from --datastore.
    argv = ["versions", "--datastore", ds, "--from-file", str(table), "-o", str(out)]
    assert main([*argv, "--no-progress"]) == 0
    assert rows(read_frame(out)) == history(sb, ds, image_sets[2:4])
    # Without --datastore every row must carry one.
    argv = ["versions", "--from-file", str(table), "-o", str(out), "--no-progress"]
    assert main(argv) == 2


def test_a_failing_item_exits_1_with_the_error_table(sb, ids, tmp_path, capsys):
    ds, image_sets = ids
    denied = image_sets[1]
    sb.deny("ListImageSetVersions", image_set_ids=[denied])
    sb.deny("GetImageSet", image_set_ids=[denied])
    out = tmp_path / "out.parquet"
    argv = ["versions", "--datastore", ds, "--image-set", *image_sets[:3], "-o", str(out)]
    assert main([*argv, "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "1 image set(s) failed" in err
    assert denied in err and "AccessDeniedError" in err
    # The other image sets were still written.
    assert rows(read_frame(out)) == history(sb, ds, [image_sets[0], image_sets[2]])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--datastore", "BAD", "--image-set", "{iset}"], "--datastore"),
        (["--datastore", "{ds}", "--image-set", "{iset}", "not-an-id"], "imageSetId"),
        (["--image-set", "{iset}"], "--datastore"),
        (["--datastore", "{ds}", "--from-file", "{tmp}/missing.csv"], "cannot read"),
        (["--datastore", "{ds}", "--image-set", "{iset}", "--max-workers", "0"], "max-workers"),
        (["--datastore", "{ds}", "--image-set", "{iset}", "--processes", "0"], "--processes"),
        (
            ["--datastore", "{ds}", "--image-set", "{iset}", "--quota", "ListImageSetVersion=9/9"],
            "unknown HealthImaging operation 'ListImageSetVersion'",
        ),
        (
            ["--datastore", "{ds}", "--image-set", "{iset}", "--quota", "GetImageSet=250"],
            "expected OPERATION=RATE/BURST",
        ),
        (
            ["--datastore", "{ds}", "--image-set", "{iset}", "--quota", "GetImageSet=0/5"],
            "GetImageSet",
        ),
    ],
)
def test_bad_arguments_exit_2_before_any_request(sb, ids, tmp_path, capsys, argv, message):
    ds, image_sets = ids
    values = {"ds": ds, "iset": image_sets[0], "tmp": str(tmp_path)}
    argv = [a.format(**values) for a in argv]
    status = main(["versions", *argv, "-o", str(tmp_path / "out.parquet"), "--no-progress"])
    assert status == 2
    assert message in capsys.readouterr().err
    assert sb.requests == []
    assert not (tmp_path / "out.parquet").exists()


def test_raised_quotas_and_request_processes(sb, ids, tmp_path, capsys):
    ds, image_sets = ids
    out = tmp_path / "versions.parquet"
    argv = ["versions", "--datastore", ds, "--image-set", *image_sets[:4], "-o", str(out)]
    argv += ["--quota", "ListImageSetVersions=250/500", "--processes", "2", "--no-progress"]
    assert main(argv) == 0
    assert rows(read_frame(out)) == history(sb, ds, image_sets[:4])
    assert {entry.operation for entry in sb.requests} == {"ListImageSetVersions"}


def test_output_problems_exit_2(sb, ids, tmp_path, capsys):
    ds, image_sets = ids
    base = ["versions", "--datastore", ds, "--image-set", image_sets[0], "--no-progress"]
    assert main([*base, "-o", str(tmp_path / "out.xlsx")]) == 2
    assert "--format" in capsys.readouterr().err
    assert main([*base, "-o", str(tmp_path / "nowhere" / "out.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert sb.requests == []


def test_argparse_errors_exit_2(sb, ids, tmp_path):
    ds, image_sets = ids
    with pytest.raises(SystemExit) as info:
        main(["versions", "--datastore", ds, "--image-set", image_sets[0]])  # no -o
    assert info.value.code == 2
    with pytest.raises(SystemExit) as info:
        main(["versions", "--datastore", ds, "-o", str(tmp_path / "x.csv")])  # no ids
    assert info.value.code == 2


def interrupt_after(monkeypatch, completed: int) -> None:
    """Press Ctrl-C once ``completed`` image sets are done, and hold the fetch until the
    CLI has acted on it (set its cancel event): a known point, not a timer."""
    import _thread

    from hi_widgets import bulk

    real = bulk.fetch_versions

    def fetch_versions(client, items, *, progress, cancel, **options):
        def on_progress(step):
            progress(step)
            if step.done == completed:
                _thread.interrupt_main()
                assert cancel.wait(60), "the CLI never acted on Ctrl-C"

        return real(client, items, progress=on_progress, cancel=cancel, **options)

    monkeypatch.setattr(bulk, "fetch_versions", fetch_versions)


def test_ctrl_c_writes_the_complete_histories_fetched_so_far(
    sb, ids, tmp_path, capsys, monkeypatch
):
    ds, image_sets = ids
    out = tmp_path / "partial.parquet"
    interrupt_after(monkeypatch, completed=3)
    argv = ["versions", "--datastore", ds, "--image-set", *image_sets, "-o", str(out)]
    status = main([*argv, "--max-workers", "1", "--no-progress"])
    assert status == 130
    frame = read_frame(out)
    fetched = sorted(set(frame["imageSetId"]))
    assert fetched == sorted(image_sets[:3])  # one worker: exactly the first three
    assert rows(frame) == history(sb, ds, fetched)  # whole histories only, nothing partial
    assert "interrupted" in capsys.readouterr().err


@pytest.mark.slow
def test_ctrl_c_on_a_real_hi_widgets_versions_process(sb, ids, tmp_path):
    import os
    import re
    import signal
    import subprocess
    import sys
    from pathlib import Path

    import hi_widgets

    ds, image_sets = ids
    out = tmp_path / "prev.csv"
    out.write_text("good data from an earlier run\n")
    sb.set_faults(latency_ms=150)  # 30 image sets, one worker: seconds of work left
    env = {**os.environ, "PYTHONPATH": str(Path(hi_widgets.__file__).parents[1])}
    argv = ["versions", "--datastore", ds, "--image-set", *image_sets, "-o", str(out)]
    child = subprocess.Popen(
        [sys.executable, "-m", "hi_widgets.cli", *argv, "--max-workers", "1"],
        env=env,
        stderr=subprocess.PIPE,
    )
    try:
        # A known point: the child's own progress bar shows 3 image sets done.
        seen = b""
        while not re.search(rb"\b([3-9]|\d\d)/30\b", seen):
            chunk = os.read(child.stderr.fileno(), 4096)
            assert chunk, f"the child ended early: {seen.decode()}"
            seen += chunk
        child.send_signal(signal.SIGINT)
        _, rest = child.communicate(timeout=60)
        err = (seen + rest).decode()
    finally:
        child.kill()
        child.wait()
    assert child.returncode == 130, err
    assert "interrupted" in err
    assert out.read_text() == "good data from an earlier run\n"  # not replaced
    (beside,) = tmp_path.glob("prev.partial-*.csv")
    assert str(beside) in err
    frame = read_frame(beside)
    fetched = sorted(set(frame["imageSetId"]))
    assert 0 < len(fetched) < len(image_sets)
    assert rows(frame) == history(sb, ds, fetched)


def write_previous(ds, image_sets, sb, out):
    assert (
        main(
            [
                "versions",
                "--datastore",
                ds,
                "--image-set",
                *image_sets[:4],
                "-o",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    return out.read_bytes()


def test_a_run_that_fetched_nothing_never_touches_the_file(sb, ids, tmp_path, capsys):
    ds, image_sets = ids
    out = tmp_path / "prev.parquet"
    before = write_previous(ds, image_sets, sb, out)
    sb.deny("ListImageSetVersions")
    sb.deny("GetImageSet")
    argv = ["versions", "--datastore", ds, "--image-set", *image_sets[4:6], "-o", str(out)]
    assert main([*argv, "--no-progress"]) == 1
    assert out.read_bytes() == before
    err = capsys.readouterr().err
    assert f"nothing was fetched: {out} left as it was" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prev.parquet"]


def test_an_incomplete_run_writes_beside_the_file_unless_forced(sb, ids, tmp_path, capsys):
    ds, image_sets = ids
    out = tmp_path / "prev.parquet"
    before = write_previous(ds, image_sets, sb, out)
    capsys.readouterr()
    sb.deny("ListImageSetVersions", image_set_ids=[image_sets[1]])
    sb.deny("GetImageSet", image_set_ids=[image_sets[1]])
    argv = ["versions", "--datastore", ds, "--image-set", *image_sets[:3], "-o", str(out)]
    assert main([*argv, "--no-progress"]) == 1
    assert out.read_bytes() == before
    (beside,) = [p for p in tmp_path.iterdir() if p.name != "prev.parquet"]
    assert beside.name.startswith("prev.partial-") and beside.suffix == ".parquet"
    assert rows(read_frame(beside)) == history(sb, ds, [image_sets[0], image_sets[2]])
    err = capsys.readouterr().err
    assert f"{out} is not replaced" in err and str(beside) in err and "--force" in err
    assert main([*argv, "--no-progress", "--force"]) == 1
    assert rows(read_frame(out)) == history(sb, ds, [image_sets[0], image_sets[2]])


def test_a_failed_final_write_saves_the_data_elsewhere(sb, ids, tmp_path, capsys, monkeypatch):
    import shutil
    import tempfile

    from hi_widgets import bulk

    ds, image_sets = ids
    folder = tmp_path / "vanishing"
    folder.mkdir()
    real = bulk.fetch_versions

    def fetch_then_lose_the_folder(*args, **kwargs):
        result = real(*args, **kwargs)
        shutil.rmtree(folder)  # the destination disappears during the fetch
        return result

    monkeypatch.setattr(bulk, "fetch_versions", fetch_then_lose_the_folder)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    argv = ["versions", "--datastore", ds, "--image-set", *image_sets[:2]]
    assert main([*argv, "-o", str(folder / "out.csv"), "--no-progress"]) == 3
    (saved,) = tmp_path.glob("out.partial-*.csv")
    assert rows(read_frame(saved)) == history(sb, ds, image_sets[:2])
    err = capsys.readouterr().err
    assert f"cannot write {folder / 'out.csv'}" in err
    assert f"saved the fetched versions to {saved} instead" in err


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("/proc/hi-widgets-test.csv", "/proc/hi-widgets-test.csv: "),
        ("/sys/hi-widgets-test.csv", "/sys/hi-widgets-test.csv"),
        ("{tmp}/out.xlsx", "--format"),
        ("{tmp}/nowhere/out.csv", "does not exist"),
    ],
)
def test_destinations_are_checked_before_the_first_request(
    sb, ids, tmp_path, capsys, output, message
):
    ds, image_sets = ids
    output = output.format(tmp=tmp_path)
    argv = ["versions", "--datastore", ds, "--image-set", image_sets[0], "-o", output]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.startswith("error: -o ")
    assert sb.requests == []
    assert "%" not in err  # no progress bar was drawn


def test_tilde_is_expanded(sb, ids, tmp_path, monkeypatch):
    ds, image_sets = ids
    monkeypatch.setenv("HOME", str(tmp_path))
    argv = ["versions", "--datastore", ds, "--image-set", image_sets[0], "-o", "~/v.csv"]
    assert main([*argv, "--no-progress"]) == 0
    assert rows(read_frame(tmp_path / "v.csv")) == history(sb, ds, image_sets[:1])


def test_a_malformed_id_is_reported_before_any_progress_bar(sb, ids, tmp_path, capsys):
    ds, image_sets = ids
    argv = ["versions", "--datastore", ds, "--image-set", image_sets[0], "NOT-AN-ID"]
    assert main([*argv, "-o", str(tmp_path / "v.csv")]) == 2
    err = capsys.readouterr().err
    assert "NOT-AN-ID" in err and "0/" not in err and "%" not in err
    assert sb.requests == []


@pytest.mark.parametrize(
    ("setup", "flag"),
    [
        ({"--profile": "nosuchprofile"}, "--profile"),
        ({"--profile": "empty"}, "--profile empty: the profile holds no credentials"),
        ({"unset": ["AWS_DEFAULT_REGION"]}, "--region"),
        ({"unset": ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]}, "AWS_ACCESS_KEY_ID"),
    ],
)
def test_configuration_problems_exit_2_naming_what_to_set(
    sb, ids, tmp_path, capsys, monkeypatch, setup, flag
):
    ds, image_sets = ids
    for name in setup.get("unset", []):
        monkeypatch.delenv(name)
    config = tmp_path.parent / f"{tmp_path.name}-config"
    config.write_text("[profile empty]\nregion = us-east-1\n")  # a profile without keys
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    argv = ["versions", "--datastore", ds, "--image-set", *image_sets[:3]]
    argv += ["-o", str(tmp_path / "v.csv")]
    if "--profile" in setup:
        argv += ["--profile", setup["--profile"]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert flag in err
    assert "hi_widgets." not in err and "region=" not in err  # no Python for CLI users
    assert err.count("\n") == 1 and "..." not in err  # one line, never cut off
    assert sb.requests == []
    assert list(tmp_path.iterdir()) == []


def test_cli_format_choices_match_the_exporter():
    from hi_widgets.cli.main import EXPORT_FORMATS
    from hi_widgets.export.files import FORMATS

    assert tuple(EXPORT_FORMATS) == tuple(FORMATS)


def test_all_fetches_every_image_set_the_datastore_search_returns(sb, ids, tmp_path, capsys):
    ds, _ = ids
    out = tmp_path / "all.parquet"
    assert main(["versions", "--datastore", ds, "--all", "-o", str(out), "--no-progress"]) == 0
    operations = {r.operation for r in sb.requests}
    assert {"SearchImageSets", "GetImageSet", "ListImageSetVersions"} <= operations
    searched = {
        s["imageSetId"]
        for s in sb.client().search_image_sets(datastoreId=ds, maxResults=50)[
            "imageSetsMetadataSummaries"
        ]
    }
    assert rows(read_frame(out)) == history(sb, ds, sorted(searched))
    assert main(["versions", "--all", "-o", str(out)]) == 2
    assert "give --datastore for --all" in capsys.readouterr().err


def test_checkpoint_resumes_and_refuses_other_inputs(sb, ids, tmp_path, capsys):
    ds, image_sets = ids
    out, saved = tmp_path / "out.csv", tmp_path / "run.checkpoint"
    base = ["versions", "--datastore", ds, "-o", str(out), "--no-progress"]
    argv = [*base, "--checkpoint", str(saved), "--image-set", *image_sets[:3]]
    assert main(argv) == 0
    sent = len(sb.requests)
    assert main(argv) == 0  # everything is in the checkpoint: nothing is requested
    assert len(sb.requests) == sent
    assert rows(read_frame(out, format="csv")) == history(sb, ds, image_sets[:3])
    assert main([*base, "--checkpoint", str(saved), "--image-set", image_sets[0]]) == 2
    assert "other inputs" in capsys.readouterr().err


PARKED_CLI = r"""
import sys, threading
from hi_widgets import bulk
from hi_widgets.cli.main import main

stop_after = int(sys.argv[1])
blocked, told = threading.Event(), threading.Lock()
real = bulk.fetch_datastore

def fetch_datastore(*args, progress, **options):
    def parked(step):  # called once the checkpoint holds the image set
        progress(step)
        if step.done >= stop_after:  # every worker parks here from the N-th image set on
            if told.acquire(blocking=False):
                print("STOPPED", flush=True)
            blocked.wait()

    return real(*args, progress=parked, **options)

bulk.fetch_datastore = fetch_datastore
main(sys.argv[2:])
"""


def test_all_resumed_after_kill_9_writes_the_file_of_an_uninterrupted_run(sb, ids, tmp_path):
    # Issue 21: rows of resumed single-version image sets lost imageSetArn, lastAccessedAt
    # and storageTier. The resumed file must equal an uninterrupted run's, column for column.
    import os
    import signal
    import subprocess
    import sys

    import pandas as pd

    ds, _ = ids
    whole, resumed = tmp_path / "whole.parquet", tmp_path / "resumed.parquet"
    saved = tmp_path / "run.checkpoint"
    base = ["versions", "--datastore", ds, "--all", "--no-progress"]
    assert main([*base, "-o", str(whole)]) == 0
    argv = [*base, "-o", str(resumed), "--checkpoint", str(saved)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(
        [sys.executable, "-c", PARKED_CLI, "10", *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "STOPPED"  # 10 image sets checkpointed
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()
    assert not resumed.exists()
    assert 10 <= len(saved.read_text().splitlines()) - 1 < len(ids[1])

    assert main(argv) == 0
    pd.testing.assert_frame_equal(read_frame(resumed), read_frame(whole))
    assert read_frame(whole)["imageSetArn"].notna().any()
