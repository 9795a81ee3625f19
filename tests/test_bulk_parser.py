"""The bulk twin's compiled rest-json parser gives exactly what botocore's own parser gives."""

import base64
import copy
import json

import pandas as pd
import pytest
from botocore.model import ServiceModel
from botocore.parsers import RestJSONParser

from hi_widgets import fetch_versions, iter_versions
from hi_widgets.bulk._parser import CompiledParserFactory, CompiledRestJSONParser
from hi_widgets.bulk._twin import _utc_timestamp, single_attempt_client
from hi_widgets.frames import versions_frame

SANDBOX_OPTIONS = {"seed": 3, "image_sets": 40, "quotas": False}
MISSING = "ffffffffffffffffffffffffffffffff"
PARSER_DEFAULTS = ({}, {"timestamp_parser": _utc_timestamp})


def both_parsers(**defaults):
    return RestJSONParser(**defaults), CompiledRestJSONParser(**defaults)


def capture(client):
    """Record (operation model, response dict) of every response the client parses."""
    seen = []

    def keep(operation_model, response_dict, **_):
        seen.append((operation_model, copy.deepcopy(response_dict)))

    client.meta.events.register("before-parse.medical-imaging", keep)
    return seen


def test_every_response_the_bulk_functions_read_parses_the_same(sb):
    client = sb.client()
    seen = capture(client)
    ds = sb.store.datastore_ids()[0]
    image_sets = sb.store.image_set_ids(ds)
    long_history = max(image_sets, key=lambda i: sb.store.version_count(ds, i))
    assert sb.store.version_count(ds, long_history) > 50  # a page with a nextToken
    client.list_datastores()
    client.get_datastore(datastoreId=ds)
    client.search_image_sets(datastoreId=ds, maxResults=50)
    client.list_image_set_versions(datastoreId=ds, imageSetId=long_history, maxResults=50)
    client.get_image_set(datastoreId=ds, imageSetId=long_history)
    client.get_image_set(datastoreId=ds, imageSetId=long_history, versionId="1")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_image_set(datastoreId=ds, imageSetId=MISSING)
    operations = {model.name for model, _ in seen}
    assert {"ListImageSetVersions", "GetImageSet", "SearchImageSets"} <= operations

    for defaults in PARSER_DEFAULTS:
        standard, compiled = both_parsers(**defaults)
        for model, response in seen:
            assert compiled.parse(response, model.output_shape) == standard.parse(
                response, model.output_shape
            ), model.name
            if response["status_code"] >= 300:  # botocore's second pass, on the error shape
                code = response["headers"]["x-amzn-ErrorType"]
                shape = model.service_model.shape_for_error_code(code)
                assert compiled.parse(response, shape) == standard.parse(response, shape)


# Every kind of shape, including those the compiled parser hands back to botocore.
MODEL = {
    "metadata": {
        "protocol": "rest-json",
        "apiVersion": "2025-01-01",
        "endpointPrefix": "example",
        "serviceId": "Example",
        "signatureVersion": "v4",
    },
    "operations": {
        "Get": {
            "name": "Get",
            "http": {"method": "GET", "requestUri": "/"},
            "output": {"shape": "Output"},
        }
    },
    "shapes": {
        "Output": {
            "type": "structure",
            "members": {
                "Json": {"shape": "JsonHeader", "location": "header", "locationName": "x-json"},
                "Status": {"shape": "Int", "location": "statusCode"},
                "Renamed": {"shape": "Str", "locationName": "onTheWire"},
                "Items": {"shape": "ItemList"},
                "Stamps": {"shape": "StampMap"},
                "Doc": {"shape": "Doc"},
                "Choice": {"shape": "Choice"},
                "Unknown": {"shape": "Choice"},
                "Tree": {"shape": "Tree"},
                "Data": {"shape": "Blob"},
                "Absent": {"shape": "Str"},
                "Null": {"shape": "Item"},
            },
        },
        "JsonHeader": {"type": "string", "jsonvalue": True},
        "Int": {"type": "integer"},
        "Long": {"type": "long"},
        "Double": {"type": "double"},
        "Bool": {"type": "boolean"},
        "Str": {"type": "string"},
        "Stamp": {"type": "timestamp"},
        "Blob": {"type": "blob"},
        "Item": {
            "type": "structure",
            "members": {
                "when": {"shape": "Stamp"},
                "flag": {"shape": "Bool"},
                "ratio": {"shape": "Double"},
                "size": {"shape": "Long"},
                "tags": {"shape": "StrList"},
            },
        },
        "ItemList": {"type": "list", "member": {"shape": "Item"}},
        "StrList": {"type": "list", "member": {"shape": "Str"}},
        "StampMap": {"type": "map", "key": {"shape": "Str"}, "value": {"shape": "Stamp"}},
        "Doc": {"type": "structure", "members": {}, "document": True},
        "Choice": {
            "type": "structure",
            "members": {"a": {"shape": "Str"}, "b": {"shape": "Int"}},
            "union": True,
        },
        "Tree": {
            "type": "structure",
            "members": {"name": {"shape": "Str"}, "children": {"shape": "TreeList"}},
        },
        "TreeList": {"type": "list", "member": {"shape": "Tree"}},
    },
}

BODY = {
    "onTheWire": "renamed",
    "Items": [
        {"when": 1735732800.5, "flag": True, "ratio": 0.25, "size": 2**40, "tags": ["a", None]},
        None,
        {"when": "2025-01-01T13:00:00+01:00", "flag": False, "tags": []},
        {},
    ],
    "Stamps": {"first": 1735732800, "second": "2025-01-01T12:00:00Z"},
    "Doc": {"free": ["form", {"json": 1}]},
    "Choice": {"b": 7},
    "Unknown": {"c": "added to the service later"},
    "Tree": {"name": "root", "children": [{"name": "leaf", "children": [{"name": "deeper"}]}]},
    "Data": base64.b64encode(b"\x00bytes").decode(),
    "Null": None,
    "NotModelled": 1,
}


def test_every_kind_of_shape_parses_the_same():
    shape = ServiceModel(MODEL).operation_model("Get").output_shape
    response = {
        "status_code": 200,
        "headers": {
            "x-amzn-requestid": "request-1",
            "x-json": base64.b64encode(json.dumps({"k": [1, 2]}).encode()).decode(),
        },
        "body": json.dumps(BODY).encode(),
    }
    for defaults in PARSER_DEFAULTS:
        standard, compiled = both_parsers(**defaults)
        expected = standard.parse(response, shape)
        assert expected["Items"][1] is None and expected["Json"] == {"k": [1, 2]}
        assert compiled.parse(response, shape) == expected
        assert compiled.parse(response, shape) == expected  # and again, from the compiled cache


def test_the_factory_shares_one_compiled_parser_and_keeps_other_protocols():
    factory = CompiledParserFactory()
    factory.set_parser_defaults(timestamp_parser=_utc_timestamp)
    parser = factory.create_parser("rest-json")
    assert isinstance(parser, CompiledRestJSONParser)
    assert factory.create_parser("rest-json") is parser  # botocore asks once per response
    assert parser._timestamp_parser is _utc_timestamp
    assert type(factory.create_parser("json")).__name__ == "JSONParser"


def test_the_twin_parses_with_the_compiled_parser(sb):
    twin = single_attempt_client(sb.client(), 8)
    assert isinstance(twin._endpoint._response_parser_factory, CompiledParserFactory)


@pytest.mark.parametrize("strategy", ["list", "get"])
def test_fetch_versions_frame_equals_the_standard_clients(sb, strategy):
    ds = sb.store.datastore_ids()[0]
    image_sets = sb.store.image_set_ids(ds)[:12]
    standard = sb.client(max_attempts=1)  # used as is by iter_versions: botocore's parser
    assert type(standard._endpoint._response_parser_factory).__name__ == "ResponseParserFactory"
    records = [r for i in image_sets for r in iter_versions(standard, ds, i, strategy=strategy)]
    expected = versions_frame(records)
    result = fetch_versions(sb.client(), [(ds, i) for i in image_sets], strategy=strategy)
    assert result.ok
    pd.testing.assert_frame_equal(result.frame, expected)
