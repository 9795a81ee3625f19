"""AWS's documented example responses (tests/data/aws_examples/*.json) as boto3 would hand them.

Each file holds one example of the AWS CLI command reference for ``medical-imaging`` (the
developer guide repeats them on the page named in ``source.developer_guide``): the page
(``source.url``) and the example's title (``source.example``), the operation, the request
in boto3's parameter names and the response as the page prints it. :func:`as_boto3` runs
the response through botocore's own rest-json parser with the installed service model,
so a test sees what ``boto3.client("medical-imaging")`` returns for that body: numbers
and ISO texts become aware datetimes, and keys the model does not know are dropped.
"""

from __future__ import annotations

import io
import json
from functools import cache
from pathlib import Path
from typing import Any

from botocore.model import OperationModel, Shape, StructureShape
from botocore.parsers import create_parser
from botocore.response import StreamingBody

from hi_widgets.api.model import service_model

EXAMPLES_DIR = Path(__file__).parent / "data" / "aws_examples"


def example_names() -> list[str]:
    """Every example file's name without ``.json``, sorted."""
    return sorted(path.stem for path in EXAMPLES_DIR.glob("*.json"))


@cache
def _read(name: str) -> str:
    return (EXAMPLES_DIR / f"{name}.json").read_text(encoding="utf-8")


def load(name: str) -> dict[str, Any]:
    """One example file (a fresh copy each call)."""
    return json.loads(_read(name))


def examples_of(operation: str) -> list[str]:
    """Names of the examples of one operation (e.g. ``"CopyImageSet"``)."""
    return [name for name in example_names() if load(name)["operation"] == operation]


def operation_model(operation: str) -> OperationModel:
    return service_model().operation_model(operation)


def boto3_request(example: dict[str, Any]) -> dict[str, Any]:
    """The example's request as boto3 sends it: idempotency tokens filled in, as the AWS CLI
    and boto3 do when the caller gives none (``clientToken`` of CreateDatastore,
    StartDICOMImportJob)."""
    request = dict(example["request"])
    shape = operation_model(example["operation"]).input_shape
    assert isinstance(shape, StructureShape)
    for name, member in shape.members.items():
        if member.metadata.get("idempotencyToken") and name not in request:
            request[name] = "00000000-0000-4000-8000-000000000000"
    return request


def as_boto3(example: dict[str, Any]) -> dict[str, Any]:
    """Parse the example's response as botocore does (without ``ResponseMetadata``)."""
    output = operation_model(example["operation"]).output_shape
    assert isinstance(output, StructureShape)
    headers = {}
    body = {}
    for key, value in example["response"].items():
        member = output.members.get(key)
        if member is not None and member.serialization.get("location") == "header":
            headers[member.serialization.get("name", key)] = str(value)
        else:
            body[key] = value
    # A streaming payload (GetImageSetMetadata's blob) is the HTTP body itself; the pages
    # print only the headers, so the body is empty here.
    streaming = output.serialization.get("payload") is not None
    raw = {
        "status_code": 200,
        "headers": headers,
        "body": StreamingBody(io.BytesIO(b""), 0) if streaming else json.dumps(body).encode(),
    }
    parsed = create_parser("rest-json").parse(raw, output)
    parsed.pop("ResponseMetadata", None)
    return parsed


def dropped_keys(raw: Any, parsed: Any, shape: Shape | None, path: str = "") -> set[str]:
    """Paths of keys in the page's response that the installed model does not have."""
    found: set[str] = set()
    if isinstance(raw, dict) and isinstance(shape, StructureShape):
        for key, value in raw.items():
            member = shape.members.get(key)
            if member is None:
                found.add(f"{path}{key}")
            elif isinstance(parsed, dict) and key in parsed:
                found |= dropped_keys(value, parsed[key], member, f"{path}{key}.")
    elif isinstance(raw, list) and isinstance(parsed, list):
        member = getattr(shape, "member", None)
        for item, parsed_item in zip(raw, parsed, strict=False):
            found |= dropped_keys(item, parsed_item, member, f"{path}[].")
    return found
