"""The rest-json wire protocol, driven by the botocore service model.

* :class:`Router` maps an HTTP method and raw path to an operation, using each
  operation's ``http.method`` and ``http.requestUri`` from the model.
* :func:`parse_request` turns URI labels, query string, headers and body into the
  operation's input parameters (the same dict a boto3 caller passed).
* :func:`serialize_response` turns an output dict into status, headers and body, keeping
  only members of the output shape; :func:`serialize_error` builds the error form
  (status from the error shape, ``x-amzn-ErrorType`` header, JSON ``{"message": ...}``).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any
from urllib.parse import unquote

from botocore.model import (
    ListShape,
    MapShape,
    OperationModel,
    ServiceModel,
    Shape,
    StructureShape,
)

from hi_widgets.sandbox.backend.errors import validation_error

JSON_CONTENT_TYPE = "application/json"


@dataclass
class Response:
    """An HTTP response to send."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class _Segment:
    literal: str | None = None
    label: str | None = None
    greedy: bool = False


@dataclass(frozen=True)
class Route:
    """One operation's HTTP binding."""

    operation: OperationModel
    method: str
    segments: tuple[_Segment, ...]
    static_query: tuple[tuple[str, str], ...]

    def match(self, parts: list[str]) -> dict[str, str] | None:
        """Return the URI labels if ``parts`` (raw path segments) match this route."""
        labels: dict[str, str] = {}
        for index, segment in enumerate(self.segments):
            if segment.greedy:
                rest = parts[index:]
                if not rest or rest == [""]:
                    return None
                labels[str(segment.label)] = unquote("/".join(rest))
                return labels
            if index >= len(parts):
                return None
            part = parts[index]
            if segment.literal is not None:
                if part != segment.literal:
                    return None
            else:
                if not part:
                    return None
                labels[str(segment.label)] = unquote(part)
        return labels if len(parts) == len(self.segments) else None


class Router:
    """Routes built from every operation of a service model."""

    def __init__(self, model: ServiceModel) -> None:
        self.model = model
        routes = [self._route(model.operation_model(name)) for name in model.operation_names]
        # More literal segments first, so "/datastore/{id}" never shadows a longer route.
        routes.sort(
            key=lambda r: (-len(r.segments), -sum(s.literal is not None for s in r.segments))
        )
        self.routes = routes

    @staticmethod
    def _route(operation: OperationModel) -> Route:
        uri = operation.http["requestUri"]
        path, _, query = uri.partition("?")
        segments = []
        for part in path.strip("/").split("/"):
            if part.startswith("{") and part.endswith("}"):
                name = part[1:-1]
                greedy = name.endswith("+")
                segments.append(_Segment(label=name.rstrip("+"), greedy=greedy))
            else:
                segments.append(_Segment(literal=part))
        static_query = tuple(
            (key, value)
            for key, _, value in (item.partition("=") for item in query.split("&") if item)
        )
        return Route(operation, operation.http["method"].upper(), tuple(segments), static_query)

    def match(
        self, method: str, raw_path: str, query: dict[str, list[str]]
    ) -> tuple[OperationModel, dict[str, str]] | None:
        """Return ``(operation, labels)`` for a request, or None if nothing matches."""
        parts = raw_path.strip("/").split("/")
        for route in self.routes:
            if route.method != method.upper():
                continue
            if any(key not in query for key, _ in route.static_query):
                continue
            labels = route.match(parts)
            if labels is not None:
                return route.operation, labels
        return None


# ----------------------------------------------------------------------------- parsing


def _bad(path: str, what: str) -> Exception:
    return validation_error(f"Value at '{path}' failed to satisfy constraint: Member must {what}")


def _parse_timestamp(value: Any, path: str) -> datetime:
    if isinstance(value, bool):
        raise _bad(path, "be a timestamp")
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, timezone.utc)
    if isinstance(value, str):
        try:
            return datetime.fromtimestamp(float(value), timezone.utc)
        except ValueError:
            pass
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _bad(path, "be a timestamp") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    raise _bad(path, "be a timestamp")


def _from_text(shape: Shape, text: str, path: str) -> Any:
    """Convert a URI label, query value or header to the shape's Python type."""
    type_name = shape.type_name
    if type_name in ("integer", "long"):
        try:
            return int(text)
        except ValueError:
            raise _bad(path, "be an integer") from None
    if type_name in ("float", "double"):
        try:
            return float(text)
        except ValueError:
            raise _bad(path, "be a number") from None
    if type_name == "boolean":
        if text.lower() not in ("true", "false"):
            raise _bad(path, "be true or false")
        return text.lower() == "true"
    if type_name == "timestamp":
        return _parse_timestamp(text, path)
    if type_name == "blob":
        return text.encode("utf-8")
    return text


def from_json(shape: Shape, value: Any, path: str) -> Any:
    """Convert a decoded JSON value to the shape's Python type (datetimes, bytes...)."""
    if value is None:
        return None
    type_name = shape.type_name
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            raise _bad(path or shape.name, "be an object")
        result = {}
        for name, member in shape.members.items():
            key = member.serialization.get("name", name)
            if key in value and value[key] is not None:
                result[name] = from_json(member, value[key], f"{path}.{name}" if path else name)
        return result
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            raise _bad(path, "be a list")
        return [
            from_json(shape.member, item, f"{path}.{i}.member") for i, item in enumerate(value, 1)
        ]
    if isinstance(shape, MapShape):
        if not isinstance(value, dict):
            raise _bad(path, "be a map")
        return {key: from_json(shape.value, item, f"{path}.{key}") for key, item in value.items()}
    if type_name == "string":
        if not isinstance(value, str):
            raise _bad(path, "be a string")
        return value
    if type_name in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(path, "be an integer")
        return value
    if type_name in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _bad(path, "be a number")
        return value
    if type_name == "boolean":
        if not isinstance(value, bool):
            raise _bad(path, "be a boolean")
        return value
    if type_name == "timestamp":
        return _parse_timestamp(value, path)
    if type_name == "blob":
        if not isinstance(value, str):
            raise _bad(path, "be a base64-encoded string")
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise _bad(path, "be a base64-encoded string") from None
    return value


def _load_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise validation_error("The request body is not valid JSON") from None


def parse_request(
    operation: OperationModel,
    labels: dict[str, str],
    query: dict[str, list[str]],
    headers: dict[str, str],
    body: bytes,
) -> dict[str, Any]:
    """Return the operation's input parameters from the parts of an HTTP request.

    Raises
    ------
    ServiceError
        ValidationException when a value has the wrong type or the body is not JSON.
    """
    shape = operation.input_shape
    if shape is None:
        return {}
    lower_headers = {key.lower(): value for key, value in headers.items()}
    params: dict[str, Any] = {}
    payload_name = shape.serialization.get("payload")
    body_members: dict[str, Shape] = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri":
            if wire_name in labels:
                params[name] = _from_text(member, labels[wire_name], name)
        elif location == "querystring":
            if isinstance(member, ListShape):
                if wire_name in query:
                    params[name] = [_from_text(member.member, v, name) for v in query[wire_name]]
            elif member.type_name == "map":
                params[name] = {key: values[-1] for key, values in query.items()}
            elif wire_name in query:
                params[name] = _from_text(member, query[wire_name][-1], name)
        elif location == "header":
            if wire_name.lower() in lower_headers:
                params[name] = _from_text(member, lower_headers[wire_name.lower()], name)
        elif location == "headers":
            prefix = wire_name.lower()
            params[name] = {
                key[len(prefix) :]: value
                for key, value in lower_headers.items()
                if key.startswith(prefix)
            }
        elif name == payload_name:
            if member.type_name in ("blob", "string"):
                if body:
                    params[name] = body if member.type_name == "blob" else body.decode("utf-8")
            elif body.strip():
                params[name] = from_json(member, _load_json(body), name)
        else:
            body_members[name] = member
    if body_members and payload_name is None and body.strip():
        document = _load_json(body)
        if not isinstance(document, dict):
            raise validation_error("The request body must be a JSON object")
        for name, member in body_members.items():
            key = member.serialization.get("name", name)
            if document.get(key) is not None:
                params[name] = from_json(member, document[key], name)
    return params


# ------------------------------------------------------------------------- serializing


def _epoch(value: datetime) -> float | int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    seconds = round(value.timestamp(), 3)
    return int(seconds) if seconds == int(seconds) else seconds


def _format_timestamp(value: datetime, fmt: str) -> Any:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    if fmt == "iso8601":
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if fmt == "rfc822":
        return format_datetime(value.astimezone(timezone.utc), usegmt=True)
    return _epoch(value)


def to_json(shape: Shape, value: Any) -> Any:
    """Convert a Python value to its JSON form for ``shape`` (drops unknown members)."""
    type_name = shape.type_name
    if isinstance(shape, StructureShape):
        result = {}
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                result[member.serialization.get("name", name)] = to_json(member, value[name])
        return result
    if isinstance(shape, ListShape):
        return [to_json(shape.member, item) for item in value]
    if isinstance(shape, MapShape):
        return {key: to_json(shape.value, item) for key, item in value.items()}
    if type_name == "timestamp":
        return _format_timestamp(
            value, shape.serialization.get("timestampFormat", "unixtimestamp")
        )
    if type_name == "blob":
        raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        return base64.b64encode(raw).decode("ascii")
    return value


def _header_text(shape: Shape, value: Any) -> str:
    if shape.type_name == "timestamp":
        return str(_format_timestamp(value, shape.serialization.get("timestampFormat", "rfc822")))
    if shape.type_name == "boolean":
        return "true" if value else "false"
    return str(value)


def serialize_response(operation: OperationModel, output: dict[str, Any]) -> Response:
    """Build the HTTP response of a successful call from the output dict."""
    status = int(operation.http.get("responseCode", 200))
    shape = operation.output_shape
    if shape is None:
        return Response(status, {"Content-Type": JSON_CONTENT_TYPE}, b"{}")
    headers: dict[str, str] = {}
    payload_name = shape.serialization.get("payload")
    body_values: dict[str, Any] = {}
    body: bytes | None = None
    for name, member in shape.members.items():
        value = output.get(name)
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "header":
            if value is not None:
                headers[wire_name] = _header_text(member, value)
        elif location == "headers":
            for key, item in (value or {}).items():
                headers[f"{wire_name}{key}"] = str(item)
        elif location == "statusCode":
            if value is not None:
                status = int(value)
        elif name == payload_name:
            if member.type_name == "blob":
                body = bytes(value or b"")
            elif member.type_name == "string":
                body = (value or "").encode("utf-8")
            else:
                body = json.dumps(to_json(member, value or {})).encode("utf-8")
                headers.setdefault("Content-Type", JSON_CONTENT_TYPE)
        else:
            body_values[name] = value
    if body is None:
        body = json.dumps(to_json(shape, body_values)).encode("utf-8")
        headers.setdefault("Content-Type", JSON_CONTENT_TYPE)
    return Response(status, headers, body)


def error_status(model: ServiceModel, code: str) -> int:
    """HTTP status of an error shape from its ``error`` trait (400 if the model lacks it)."""
    if code in model.shape_names:
        error = model.shape_for(code).metadata.get("error") or {}
        if "httpStatusCode" in error:
            return int(error["httpStatusCode"])
    # Errors every AWS service answers that a service model does not list.
    return {"UnknownOperationException": 404, "InvalidSignatureException": 403}.get(code, 400)


def serialize_error(model: ServiceModel, code: str, message: str) -> Response:
    """Build the wire form of a service error."""
    body = json.dumps({"message": message}).encode("utf-8")
    headers = {"Content-Type": JSON_CONTENT_TYPE, "x-amzn-ErrorType": code}
    return Response(error_status(model, code), headers, body)
