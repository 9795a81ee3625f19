"""``hi-widgets sandbox`` run in-process: the ``--quota-scale`` flag."""

from __future__ import annotations

import shlex
import threading
import time

import boto3
import botocore.config
import botocore.exceptions
import pytest

from hi_widgets import sandbox
from hi_widgets.cli import build_parser, main
from hi_widgets.sandbox.command import run as _run_sandbox

# ListImageSetVersions' published quota is 25 requests/s, burst 50: a burst of 90 is
# above it, and below the burst of 100 at --quota-scale 2.
BURST = 90


def serve(argv, capsys):
    """Run the sandbox command in a thread: its stop event, thread, exports and stderr."""
    args = build_parser().parse_args(["sandbox", "--port", "0", "--image-sets", "2", *argv])
    stop = threading.Event()
    thread = threading.Thread(target=_run_sandbox, args=(args, stop), daemon=True)
    thread.start()
    out = err = ""
    deadline = time.monotonic() + 10
    while out.count("export ") < 5:
        assert thread.is_alive() and time.monotonic() < deadline, "the sandbox did not start"
        time.sleep(0.02)
        captured = capsys.readouterr()
        out, err = out + captured.out, err + captured.err
    exported = dict(shlex.split(line)[1].split("=", 1) for line in out.splitlines())
    return stop, thread, exported, err


def throttled_in_a_burst(exported) -> int:
    """Send BURST single-attempt ListImageSetVersions calls at once; count the 429s."""
    client = boto3.Session(
        aws_access_key_id=exported["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=exported["AWS_SECRET_ACCESS_KEY"],
        region_name=exported["AWS_DEFAULT_REGION"],
    ).client(
        "medical-imaging",
        endpoint_url=exported["AWS_ENDPOINT_URL_MEDICAL_IMAGING"],
        config=botocore.config.Config(
            inject_host_prefix=False, retries={"total_max_attempts": 1, "mode": "standard"}
        ),
    )
    ds = sandbox.Sandbox(seed=0, image_sets=2).store.datastore_ids()[0]  # same seed: same ids
    image_set = client.search_image_sets(datastoreId=ds)["imageSetsMetadataSummaries"][0]
    throttled = 0
    try:
        for _ in range(BURST):
            try:
                client.list_image_set_versions(
                    datastoreId=ds, imageSetId=image_set["imageSetId"], maxResults=1
                )
            except botocore.exceptions.ClientError as error:
                assert error.response["Error"]["Code"] == "ThrottlingException"
                throttled += 1
    finally:
        client.close()
    return throttled


@pytest.mark.parametrize("scale", ["1", "2"])
def test_quota_scale_raises_every_rate_and_burst(scale, capsys):
    stop, thread, exported, banner = serve(["--quota-scale", scale], capsys)
    try:
        throttled = throttled_in_a_burst(exported)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    if scale == "1":  # the published burst: the burst above it is throttled
        assert throttled > 0
    else:  # burst 100 now: none of the 90 calls (sent well within a second) is throttled
        assert throttled == 0
    assert ("quotas on, x2)" in banner) == (scale == "2")


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "x"])
def test_quota_scale_must_be_a_positive_number(value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["sandbox", "--quota-scale", value])
    assert exit_info.value.code == 2
    assert "--quota-scale" in capsys.readouterr().err
