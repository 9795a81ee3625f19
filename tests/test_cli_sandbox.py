"""``hi-widgets sandbox`` run in-process: the ``--quota-scale`` flag."""

from __future__ import annotations

import botocore.config
import botocore.exceptions
import pytest

from hi_widgets import sandbox
from hi_widgets.cli.main import main
from hi_widgets.sandbox import ManualClock

# ListImageSetVersions' published quota is 25 requests/s, burst 50: a burst of 90 is
# above it, and below the burst of 100 at --quota-scale 2.
BURST = 90


@pytest.fixture
def frozen_quotas(monkeypatch):
    """Sandboxes started by the command run on a ManualClock: no bucket refills mid-burst."""
    from hi_widgets.sandbox import runner

    start = runner.start
    monkeypatch.setattr(runner, "start", lambda **options: start(clock=ManualClock(), **options))


def throttled_in_a_burst(served) -> int:
    """Send BURST single-attempt ListImageSetVersions calls in a row; count the 429s."""
    client = served.client(total_max_attempts=1, mode="standard")
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


@pytest.mark.parametrize(("scale", "throttled"), [("1", BURST - 50), ("2", 0)])
def test_quota_scale_raises_every_rate_and_burst(
    scale, throttled, frozen_quotas, serve_sandbox_command
):
    served = serve_sandbox_command(["--image-sets", "2", "--quota-scale", scale])
    # The published burst is 50; at x2 it is 100 and none of the 90 calls is throttled.
    assert throttled_in_a_burst(served) == throttled
    assert ("quotas on, x2)" in served.stderr) == (scale == "2")
    served.shut_down()


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "x"])
def test_quota_scale_must_be_a_positive_number(value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["sandbox", "--quota-scale", value])
    assert exit_info.value.code == 2
    assert "--quota-scale" in capsys.readouterr().err
