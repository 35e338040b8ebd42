"""The JSON Schema of every event envelope, generated from the event classes.

The checked-in copy is ``docs/events.schema.json``; a test fails when it differs from
what the classes generate. After changing an event, regenerate it with::

    python -m eduengine.events.schema > docs/events.schema.json

>>> schema = json_schema()
>>> schema["$defs"]["booking.seat_booked"]["properties"]["seats_left"]
{'type': 'integer'}
>>> schema["$defs"]["booking.seat_booked"]["required"][:3]
['slot_id', 'capacity', 'seats_left']
"""

from __future__ import annotations

import enum
import json
import sys
import types
import typing
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs

from eduengine.events import catalog  # noqa: F401  (registers every library event type)
from eduengine.kernel.events import event_kinds
from eduengine.kernel.money import Money

__all__ = ["json_schema", "schema_text"]

DIALECT = "https://json-schema.org/draft/2020-12/schema"

_MONEY = {
    "type": "object",
    "properties": {
        "amount": {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"},
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
    },
    "required": ["amount", "currency"],
    "additionalProperties": False,
}


def _type_schema(tp: Any) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer"}
    if tp is datetime:
        return {"type": "string", "format": "date-time"}
    if tp is Decimal:
        return {"type": "string", "pattern": r"^-?\d+(\.\d+)?$"}
    if tp is Money:
        return {"$ref": "#/$defs/Money"}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"enum": [member.value for member in tp]}
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        inner = [_type_schema(a) for a in options]
        nullable = len(options) < len(typing.get_args(tp))
        if len(inner) == 1 and nullable and set(inner[0]) == {"type"}:
            return {"type": [inner[0]["type"], "null"]}
        return {"anyOf": [*inner, *([{"type": "null"}] if nullable else [])]}
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": _type_schema(args[0])}
        return {
            "type": "array",
            "prefixItems": [_type_schema(a) for a in args],
            "items": False,
            "minItems": len(args),
        }
    if isinstance(tp, type) and attrs.has(tp):
        return _object_schema(tp, skip=())
    raise TypeError(f"no JSON Schema for the type {tp!r}")


def _object_schema(cls: type, *, skip: tuple[str, ...]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    fields = [f for f in attrs.fields(cls) if f.name not in skip]
    return {
        "title": cls.__name__,
        "type": "object",
        "properties": {f.name: _type_schema(hints[f.name]) for f in fields},
        "required": [f.name for f in fields if f.default is attrs.NOTHING],
        "additionalProperties": False,
    }


def json_schema() -> dict[str, Any]:
    """The schema of an envelope (``envelope_to_dict``'s output), one branch per type."""
    kinds = event_kinds()
    defs: dict[str, Any] = {"Money": _MONEY}
    for kind in kinds:
        defs[kind.name] = _object_schema(kind.cls, skip=("occurred_at",))
    return {
        "$schema": DIALECT,
        "title": "eduengine event envelope",
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "type": {"enum": [k.name for k in kinds]},
            "aggregate_type": {"type": "string"},
            "aggregate_id": {"type": "string"},
            "sequence": {"type": "integer", "minimum": 1},
            "occurred_at": {"type": "string", "format": "date-time"},
            "position": {"type": "integer", "minimum": 1},
            "data": {"type": "object"},
        },
        "required": [
            "id",
            "type",
            "aggregate_type",
            "aggregate_id",
            "sequence",
            "occurred_at",
            "data",
        ],
        "additionalProperties": False,
        "oneOf": [
            {
                "properties": {
                    "type": {"const": k.name},
                    "aggregate_type": {"const": k.aggregate_type},
                    "data": {"$ref": f"#/$defs/{k.name}"},
                }
            }
            for k in kinds
        ],
        "$defs": defs,
    }


def schema_text() -> str:
    """:func:`json_schema` as the text checked in (sorted keys, two-space indent)."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(schema_text())
