import pytest

from hi_widgets import sandbox
from hi_widgets.cli import main
from hi_widgets.export import read_frame


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


def test_ctrl_c_writes_the_complete_histories_fetched_so_far(sb, ids, tmp_path, capsys):
    import _thread
    import threading

    ds, image_sets = ids
    sb.set_faults(latency_ms=100)
    out = tmp_path / "partial.parquet"
    timer = threading.Timer(1.0, _thread.interrupt_main)
    timer.start()
    try:
        argv = ["versions", "--datastore", ds, "--image-set", *image_sets, "-o", str(out)]
        status = main([*argv, "--max-workers", "1", "--no-progress"])
    finally:
        timer.cancel()
    assert status == 130
    frame = read_frame(out)
    fetched = sorted(set(frame["imageSetId"]))
    assert 0 < len(fetched) < len(image_sets)
    assert rows(frame) == history(sb, ds, fetched)  # whole histories only, nothing partial
    assert "interrupted" in capsys.readouterr().err


def test_cli_format_choices_match_the_exporter():
    from hi_widgets.cli import EXPORT_FORMATS
    from hi_widgets.export import FORMATS

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
