"""Model-driven request validation: required members, patterns, enums, ranges, unions.

The constraints come from the installed botocore service model, so the sandbox checks
exactly what the real service declares. Messages follow the AWS wording
("1 validation error detected: Value '...' at 'maxResults' failed to satisfy constraint:
Member must have value less than or equal to 50").
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

from hi_widgets.sandbox.backend.errors import validation_error

# Java/Smithy regex constructs that Python's ``re`` spells differently.
_PATTERN_REWRITES = (
    (r"\p{ASCII}", r"[\x00-\x7f]"),
    (r"\p{Alnum}", r"[0-9A-Za-z]"),
    (r"\p{Alpha}", r"[A-Za-z]"),
    (r"\p{Digit}", r"[0-9]"),
)


@cache
def compile_pattern(pattern: str) -> re.Pattern[str] | None:
    """Compile a model pattern for a full match, or return None if Python cannot parse it."""
    for java, python in _PATTERN_REWRITES:
        pattern = pattern.replace(java, python)
    try:
        return re.compile(pattern)
    except re.error:
        return None


def validate_request(operation: OperationModel, params: dict[str, Any]) -> None:
    """Check ``params`` against the operation's input shape.

    Raises
    ------
    ServiceError
        A ValidationException listing every violation.
    """
    shape = operation.input_shape
    if shape is None:
        return
    problems: list[str] = []
    _check(shape, params, "", problems)
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise validation_error(f"{count} validation {noun} detected: " + "; ".join(problems))


def _describe(shape: Shape, value: Any, path: str, sensitive: bool) -> str:
    if sensitive:
        return f"Value at '{path}'"
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"Value '{text}' at '{path}'"


def _fail(
    problems: list[str], shape: Shape, value: Any, path: str, constraint: str, sensitive: bool
) -> None:
    subject = _describe(shape, value, path, sensitive)
    problems.append(f"{subject} failed to satisfy constraint: Member must {constraint}")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _check(
    shape: Shape, value: Any, path: str, problems: list[str], sensitive: bool = False
) -> None:
    type_name = shape.type_name
    meta = shape.metadata
    sensitive = sensitive or bool(meta.get("sensitive"))
    if isinstance(shape, StructureShape):
        members = shape.members
        for name in shape.required_members:
            if value.get(name) is None:
                problems.append(
                    f"Value null at '{_join(path, name)}' failed to satisfy constraint: "
                    "Member must not be null"
                )
        present = [name for name in members if value.get(name) is not None]
        if meta.get("union") and len(present) != 1:
            problems.append(
                f"Value at '{path or shape.name}' failed to satisfy constraint: Member must "
                f"set exactly one of {sorted(members)} (got {len(present)})"
            )
        for name in present:
            _check(members[name], value[name], _join(path, name), problems, sensitive)
    elif isinstance(shape, ListShape):
        _check_size(shape, value, path, problems, "length", sensitive)
        for index, item in enumerate(value, start=1):
            _check(shape.member, item, f"{path}.{index}.member", problems, sensitive)
    elif isinstance(shape, MapShape):
        _check_size(shape, value, path, problems, "length", sensitive)
        for key, item in value.items():
            _check(shape.key, key, f"{path}.key", problems, sensitive)
            _check(shape.value, item, f"{path}.{key}", problems, sensitive)
    elif type_name == "string":
        enum = meta.get("enum")
        if enum and value not in enum:
            _fail(
                problems,
                shape,
                value,
                path,
                f"satisfy enum value set: [{', '.join(enum)}]",
                sensitive,
            )
        _check_size(shape, value, path, problems, "length", sensitive)
        pattern = meta.get("pattern")
        compiled = compile_pattern(pattern) if pattern else None
        if compiled is not None and compiled.fullmatch(value) is None:
            _fail(
                problems,
                shape,
                value,
                path,
                f"satisfy regular expression pattern: {pattern}",
                sensitive,
            )
    elif type_name == "blob":
        _check_size(shape, value, path, problems, "length", sensitive)
    elif type_name in ("integer", "long", "float", "double"):
        if "min" in meta and value < meta["min"]:
            _fail(
                problems,
                shape,
                value,
                path,
                f"have value greater than or equal to {meta['min']}",
                sensitive,
            )
        if "max" in meta and value > meta["max"]:
            _fail(
                problems,
                shape,
                value,
                path,
                f"have value less than or equal to {meta['max']}",
                sensitive,
            )


def _check_size(
    shape: Shape, value: Any, path: str, problems: list[str], what: str, sensitive: bool
) -> None:
    meta = shape.metadata
    size = len(value)
    if "min" in meta and size < meta["min"]:
        _fail(
            problems,
            shape,
            value,
            path,
            f"have {what} greater than or equal to {meta['min']}",
            sensitive,
        )
    if "max" in meta and size > meta["max"]:
        _fail(
            problems,
            shape,
            value,
            path,
            f"have {what} less than or equal to {meta['max']}",
            sensitive,
        )
