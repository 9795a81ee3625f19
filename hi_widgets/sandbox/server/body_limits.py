"""How many body bytes each operation may send, from the service model's constraints.

The sandbox reads a request body only after the signature of its headers passed, and
never more than its operation can need: :func:`body_limits` walks each input shape's
body members and adds up the longest JSON their ``max`` constraints allow (strings may
be escaped to six bytes a character, blobs are base64). So a metadata update may carry
a few tens of kB, CopyImageSet (``copiableAttributes``, up to 260,000 characters) about
1.5 MB, and an operation without body members only a token ``{}``. A member the model
leaves unbounded counts as :data:`UNBOUNDED_MEMBER_BYTES`; nothing exceeds
:data:`MAX_BODY_BYTES`. Members the sandbox refuses whatever their value
(:data:`REFUSED_MEMBERS`) do not count.
"""

from __future__ import annotations

from botocore.model import ListShape, MapShape, OperationModel, ServiceModel, Shape, StructureShape

MAX_BODY_BYTES = 16 * 1024 * 1024
"""No request body is ever read beyond this, whatever the model allows."""
MIN_BODY_BYTES = 1024
"""Every operation may send at least this (a client may send ``{}`` or a little padding)."""
UNBOUNDED_MEMBER_BYTES = 64 * 1024
"""Assumed for a string, blob, list or map without a ``max`` in the model."""
REFUSED_MEMBERS = frozenset({("StartDICOMImportJob", "importConfiguration")})
"""Members answered with a ValidationException by the sandbox (not emulated): the model
lets importConfiguration carry 1,000 mappings (12 MB), which no sandbox request needs."""
_UNBOUNDED_ITEMS = 100
_SCALAR_BYTES = 32  # a number, boolean or timestamp in JSON
_JSON_ESCAPE = 6  # the longest JSON form of one character: \\uXXXX


def _json_bytes(shape: Shape, depth: int = 0) -> int:
    """Return the longest JSON ``shape`` allows, within the sandbox's assumptions."""
    if depth > 20:  # recursive shapes: stop counting
        return UNBOUNDED_MEMBER_BYTES
    maximum = shape.metadata.get("max")
    if isinstance(shape, StructureShape):
        members = [
            len(name) + 4 + _json_bytes(member, depth + 1)
            for name, member in shape.members.items()
            if not member.serialization.get("location")
        ]
        # A union carries one member; a structure all of them.
        return 2 + (max(members, default=0) if shape.metadata.get("union") else sum(members))
    if isinstance(shape, ListShape):
        items = maximum if maximum is not None else _UNBOUNDED_ITEMS
        return 2 + items * (_json_bytes(shape.member, depth + 1) + 1)
    if isinstance(shape, MapShape):
        items = maximum if maximum is not None else _UNBOUNDED_ITEMS
        entry = _json_bytes(shape.key, depth + 1) + _json_bytes(shape.value, depth + 1) + 2
        return 2 + items * entry
    if shape.type_name == "string":
        if maximum is None:
            return UNBOUNDED_MEMBER_BYTES
        return int(2 + maximum * _JSON_ESCAPE)
    if shape.type_name == "blob":
        if maximum is None:
            return UNBOUNDED_MEMBER_BYTES
        return int(2 + (maximum + 2) // 3 * 4)
    return _SCALAR_BYTES


def operation_body_limit(operation: OperationModel) -> int:
    """Return the most body bytes ``operation`` accepts (see the module docstring)."""
    shape = operation.input_shape
    if shape is None:
        return MIN_BODY_BYTES
    payload = shape.serialization.get("payload")
    if payload is not None:
        needed = _json_bytes(shape.members[payload])
    else:
        needed = 2 + sum(
            len(name) + 4 + _json_bytes(member)
            for name, member in shape.members.items()
            if not member.serialization.get("location")
            and (operation.name, name) not in REFUSED_MEMBERS
        )
    return max(MIN_BODY_BYTES, min(MAX_BODY_BYTES, needed))


def body_limits(model: ServiceModel) -> dict[str, int]:
    """Return ``{operation name: most body bytes}`` for every operation of ``model``."""
    return {
        name: operation_body_limit(model.operation_model(name)) for name in model.operation_names
    }
