"""The twin client's response parser: botocore's rest-json parser, with shapes compiled.

botocore's ``RestJSONParser`` turns a decoded JSON body into the response dict by
dispatching on the shape of every single value (a ``getattr`` per value, member and
serialization lookups per structure). For a page of ListImageSetVersions that costs
about as much CPU as signing and sending the request, and at a raised quota a pool of
threads shares one GIL. This subclass walks each output shape once, into nested
converter functions, and reuses them for every response: the same members in the same
order, and every scalar still goes through botocore's own handler for its type (so the
``timestamp_parser`` and ``blob_parser`` given to the parser apply as before). What it
does not compile (documents, unions, recursive shapes, header values) goes through
botocore's handlers unchanged. Only the twin uses it; tests compare its results with the
standard parser's on every operation the bulk functions call.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from botocore.model import Shape
from botocore.parsers import ResponseParserFactory, RestJSONParser
from botocore.utils import is_json_value_header

Converter = Callable[[Any], Any]


class CompiledRestJSONParser(RestJSONParser):
    """A ``RestJSONParser`` that converts JSON bodies with per-shape compiled functions."""

    def __init__(self, timestamp_parser: Any = None, blob_parser: Any = None) -> None:
        super().__init__(timestamp_parser, blob_parser)
        # id(shape) -> (shape, converter); the shape is kept so its id is never reused.
        # Threads may compile one shape twice: the results are equal, the last one stays.
        self._compiled: dict[int, tuple[Shape, Converter]] = {}

    def _handle_structure(self, shape: Shape, value: Any) -> Any:
        if shape.is_document_type or shape.is_tagged_union:
            return super()._handle_structure(shape, value)
        entry = self._compiled.get(id(shape))
        if entry is None or entry[0] is not shape:
            entry = (shape, self._structure(shape, frozenset()))
            self._compiled[id(shape)] = entry
        return entry[1](value)

    def _generic(self, shape: Shape) -> Converter:
        return functools.partial(self._parse_shape, shape)

    def _converter(self, shape: Shape, compiling: frozenset[str]) -> Converter | None:
        """How to convert a JSON value of ``shape``; None where botocore keeps it as is."""
        kind = shape.type_name
        if shape.serialization.get("location") is not None:
            return self._generic(shape)  # a header or status code found in the body
        if kind == "structure":
            if shape.is_document_type or shape.is_tagged_union or shape.name in compiling:
                return self._generic(shape)
            return self._structure(shape, compiling)
        if kind == "list":
            return self._list(shape, compiling)
        if kind == "map":
            return self._generic(shape)  # none in the outputs the bulk functions read
        if kind == "string":
            return self._generic(shape) if is_json_value_header(shape) else None
        handler = getattr(self, f"_handle_{kind}", None)
        return None if handler is None else functools.partial(handler, shape)

    def _structure(self, shape: Shape, compiling: frozenset[str]) -> Converter:
        inner = compiling | {shape.name}
        members = [
            (name, member.serialization.get("name", name), self._converter(member, inner))
            for name, member in shape.members.items()
        ]

        def structure(value: Any) -> Any:
            if value is None:
                return None
            parsed = {}
            for name, key, convert in members:
                raw = value.get(key)
                if raw is not None:
                    parsed[name] = raw if convert is None else convert(raw)
            return parsed

        return structure

    def _list(self, shape: Shape, compiling: frozenset[str]) -> Converter:
        convert = self._converter(shape.member, compiling)
        if convert is None:
            return list
        return lambda node: [None if item is None else convert(item) for item in node]


class CompiledParserFactory(ResponseParserFactory):
    """botocore's parser factory, with one shared :class:`CompiledRestJSONParser`.

    botocore asks its endpoint's factory for a new parser for every response; the
    compiled shapes are worth keeping, and a parser holds no per-response state.
    """

    def __init__(self) -> None:
        super().__init__()
        self._rest_json: CompiledRestJSONParser | None = None

    def set_parser_defaults(self, **kwargs: Any) -> None:
        super().set_parser_defaults(**kwargs)
        self._rest_json = None

    def create_parser(self, protocol_name: str) -> Any:
        if protocol_name != "rest-json":
            return super().create_parser(protocol_name)
        parser = self._rest_json
        if parser is None:
            parser = self._rest_json = CompiledRestJSONParser(**self._defaults)
        return parser
