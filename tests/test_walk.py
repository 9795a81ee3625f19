"""The one walk (hi_widgets.api.walk): every rule holds on the direct and the bulk path alike."""

from __future__ import annotations

import logging

import pytest
from records_factory import STUB_DS, STUB_IS, STUB_TIME, got_version, listed_version

import hi_widgets
from hi_widgets.api.walk import Cancelled, direct_send, search_summaries, walk_versions

DS, IS, T0 = STUB_DS, STUB_IS, STUB_TIME
FAST = {"ListImageSetVersions": (5000, 5000), "GetImageSet": (5000, 5000)}


def page_params(token=None):
    params = {"datastoreId": DS, "imageSetId": IS, "maxResults": 50}
    return {**params, "nextToken": token} if token else params


def get_params(version=None):
    params = {"datastoreId": DS, "imageSetId": IS}
    return {**params, "versionId": str(version)} if version else params


def direct(client, strategy="auto"):
    walk = hi_widgets.iter_versions(client, DS, IS, strategy=strategy)
    return sorted(r["versionId"] for r in walk)


def bulk(client, strategy="auto"):
    result = hi_widgets.fetch_versions(client, [(DS, IS)], strategy=strategy, quota_rates=FAST)
    if not result.errors.empty:
        raise AssertionError(result.errors.loc[0, "error"])
    return sorted(int(v) for v in result.frame["versionId"])


PATHS = pytest.mark.parametrize("path", [direct, bulk], ids=["direct", "bulk"])


@PATHS
def test_a_version_repeated_across_pages_is_yielded_once(stubbed, path):
    # A concurrent update shifts the listing: version 2 ends page 1 and starts page 2.
    client, stub = stubbed
    stub.add_response(
        "list_image_set_versions",
        {"imageSetPropertiesList": [listed_version(3), listed_version(2)], "nextToken": "t"},
        page_params(),
    )
    stub.add_response(
        "list_image_set_versions",
        {"imageSetPropertiesList": [listed_version(2), listed_version(1)]},
        page_params("t"),
    )
    assert path(client) == [1, 2, 3]


@PATHS
def test_a_missing_version_is_a_warning_and_the_walk_goes_on(stubbed, path, caplog):
    client, stub = stubbed
    stub.add_response("get_image_set", got_version(3), get_params())
    stub.add_client_error(
        "get_image_set", "ResourceNotFoundException", "gone", 404, expected_params=get_params(2)
    )
    stub.add_response("get_image_set", got_version(1), get_params(1))
    with caplog.at_level(logging.WARNING, logger="hi_widgets.api.walk"):
        assert path(client, "get") == [1, 3]
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "has no version 2" in caplog.records[0].getMessage()


@PATHS
def test_auto_falls_back_to_get_only_when_the_first_page_is_denied(stubbed, path):
    client, stub = stubbed
    stub.add_response(
        "list_image_set_versions",
        {"imageSetPropertiesList": [listed_version(60)], "nextToken": "t"},
        page_params(),
    )
    stub.add_client_error(
        "list_image_set_versions", "AccessDeniedException", "denied", 403, page_params("t")
    )
    # A principal allowed page 1 may list: a later denial is an error, not a fallback
    # (which would send 60 GetImageSet requests the Stubber does not expect).
    errors = (hi_widgets.AccessDeniedError, AssertionError)  # direct, bulk
    with pytest.raises(errors, match=r"AccessDeniedError|Access denied"):
        path(client)


def test_stop_at_ends_the_walk_before_the_first_accepted_record(stubbed):
    client, stub = stubbed
    stub.add_response(
        "list_image_set_versions",
        {"imageSetPropertiesList": [listed_version(5), listed_version(4)], "nextToken": "t"},
        page_params(),
    )
    stub.add_response(
        "list_image_set_versions",
        {"imageSetPropertiesList": [listed_version(3), listed_version(2)], "nextToken": "u"},
        page_params("t"),
    )
    progress = []
    walk = walk_versions(
        direct_send(client),
        DS,
        IS,
        strategy="list",
        stop_at=lambda record: record["versionId"] == 3,
        progress=lambda step: progress.append((step.done, step.total)),
    )
    assert [r["versionId"] for r in walk] == [5, 4]
    assert progress == [(2, 5), (2, 5)]  # page "u" is never asked for


def test_a_cancelled_send_sends_nothing(stubbed):
    client, _ = stubbed
    with pytest.raises(Cancelled):
        list(walk_versions(direct_send(client, lambda: True), DS, IS))


def test_search_reads_every_page_and_stops_at_the_limit(stubbed):
    client, stub = stubbed
    summaries = [{"imageSetId": f"{i:032d}", "version": 1} for i in range(5)]
    base = {"datastoreId": DS, "maxResults": 50}
    stub.add_response(
        "search_image_sets",
        {"imageSetsMetadataSummaries": summaries[:3], "nextToken": "t"},
        base,
    )
    stub.add_response(
        "search_image_sets",
        {"imageSetsMetadataSummaries": summaries[3:]},
        {**base, "nextToken": "t"},
    )
    assert list(search_summaries(direct_send(client), DS)) == summaries
    stub.add_response(
        "search_image_sets",
        {"imageSetsMetadataSummaries": summaries[:3], "nextToken": "t"},
        base,
    )
    assert len(list(search_summaries(direct_send(client), DS, limit=2))) == 2
