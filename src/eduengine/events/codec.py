"""JSON for events and envelopes, through one cattrs converter.

The JSON form of an envelope is the public wire format (the feed, webhooks, WebSocket
pushes). Datetimes are RFC 3339 strings with their UTC offset, money is
``{"amount": "12.50", "currency": "EUR"}`` (the amount a decimal string, never a float),
tuples are arrays and enums their values. ``data`` holds the event's own fields; its
``occurred_at`` is the envelope's.

>>> from datetime import datetime, timezone
>>> from eduengine.booking.events import SeatBooked
>>> from eduengine.kernel.envelope import Envelope
>>> t = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
>>> env = Envelope.wrap(SeatBooked(occurred_at=t, slot_id="s1", capacity=2, seats_left=1,
...                                booking_id="b1", student_id="ann"), sequence=1, id="e1")
>>> text = envelope_to_json(env)
>>> text[:60]
'{"id":"e1","type":"booking.seat_booked","aggregate_type":"sl'
>>> envelope_from_json(text) == env
True
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import cattrs

from eduengine.errors import EduEngineError, InvalidEvent
from eduengine.events import catalog  # noqa: F401  (registers every library event type)
from eduengine.kernel.envelope import Envelope
from eduengine.kernel.events import DomainEvent, kind_named
from eduengine.kernel.money import Money

__all__ = [
    "converter",
    "envelope_from_dict",
    "envelope_from_json",
    "envelope_to_dict",
    "envelope_to_json",
    "event_data",
    "event_from_data",
]

T = TypeVar("T")


def _datetime_in(value: Any, _: Any) -> datetime:
    if not isinstance(value, str):
        raise InvalidEvent(f"expected an RFC 3339 date-time string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidEvent(f"not an RFC 3339 date-time: {value!r}") from exc
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise InvalidEvent(f"date-time {value!r} has no UTC offset")
    return parsed


def _scalar_in(kind: type[T], expected: str) -> Callable[[Any, Any], T]:
    """The structure hook of a JSON scalar taken as it is: a value of ``kind``, where
    ``true`` is no integer (Python's bool is an int)."""

    def structure(value: Any, _: Any) -> T:
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise InvalidEvent(f"expected {expected}, got {value!r}")
        return value

    return structure


_str_in = _scalar_in(str, "a string")
_int_in = _scalar_in(int, "an integer")
_bool_in = _scalar_in(bool, "true or false")


def _decimal_in(value: Any, _: Any) -> Decimal:
    if not isinstance(value, str):
        raise InvalidEvent(f"expected a decimal string, got {value!r}")
    try:
        return Decimal(value)
    except InvalidOperation as exc:
        raise InvalidEvent(f"not a decimal: {value!r}") from exc


def _money_in(value: Any, _: Any) -> Money:
    if not isinstance(value, dict) or set(value) != {"amount", "currency"}:
        raise InvalidEvent(f"expected {{'amount': ..., 'currency': ...}}, got {value!r}")
    # an event is history: its amount comes back exactly, whatever the table says now
    amount, currency = _decimal_in(value["amount"], None), _str_in(value["currency"], None)
    return Money.from_stored(amount, currency)


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(
        forbid_extra_keys=True,
        unstruct_collection_overrides={tuple: list},
    )
    conv.register_unstructure_hook(datetime, lambda d: d.isoformat())
    conv.register_structure_hook(datetime, _datetime_in)
    conv.register_unstructure_hook(Decimal, str)
    conv.register_structure_hook(Decimal, _decimal_in)
    conv.register_unstructure_hook(
        Money, lambda m: {"amount": str(m.amount), "currency": m.currency}
    )
    conv.register_structure_hook(Money, _money_in)
    conv.register_structure_hook(str, _str_in)
    conv.register_structure_hook(int, _int_in)
    conv.register_structure_hook(bool, _bool_in)
    conv.register_unstructure_hook(enum.Enum, lambda e: e.value)
    return conv


#: The converter behind every event's JSON form (register hooks for your own field types).
converter = _make_converter()


def event_data(event: DomainEvent) -> dict[str, Any]:
    """The event's fields as JSON-compatible values, without ``occurred_at``."""
    data: dict[str, Any] = converter.unstructure(event, unstructure_as=type(event))
    data.pop("occurred_at", None)
    return data


def event_from_data(type_name: str, occurred_at: datetime, data: dict[str, Any]) -> DomainEvent:
    """Rebuild the event of type ``type_name`` from :func:`event_data`'s output."""
    return _event_from_data(type_name, occurred_at.isoformat(), data)


def _event_from_data(type_name: str, occurred_at: str, data: dict[str, Any]) -> DomainEvent:
    """:func:`event_from_data`, ``occurred_at`` as its text (an envelope's, checked
    already): every event read from the feed is decoded here, and printing its instant
    only to parse it again cost a ``datetime.isoformat`` per event."""
    kind = kind_named(type_name)
    if not isinstance(data, dict):
        raise InvalidEvent(f"{type_name} data must be an object, got {data!r}")
    try:
        return converter.structure({**data, "occurred_at": occurred_at}, kind.cls)
    except EduEngineError as exc:
        raise InvalidEvent(f"{type_name}: {exc}") from exc
    except Exception as exc:  # cattrs' validation groups, missing or extra keys
        raise InvalidEvent(f"{type_name}: {_describe(exc)}") from exc


def envelope_to_dict(envelope: Envelope) -> dict[str, Any]:
    """The envelope's JSON object (``position`` included once read from a feed)."""
    out: dict[str, Any] = {
        "id": envelope.id,
        "type": envelope.type,
        "aggregate_type": envelope.aggregate_type,
        "aggregate_id": envelope.aggregate_id,
        "sequence": envelope.sequence,
        "occurred_at": envelope.occurred_at.isoformat(),
        "data": event_data(envelope.event),
    }
    if envelope.position is not None:
        out["position"] = envelope.position
    return out


_ENVELOPE_KEYS = {"id", "type", "aggregate_type", "aggregate_id", "sequence", "occurred_at"}


def envelope_from_dict(value: Any) -> Envelope:
    """Parse :func:`envelope_to_dict`'s output; raises ``InvalidEvent`` on any mismatch."""
    if not isinstance(value, dict):
        raise InvalidEvent(f"an envelope must be a JSON object, got {value!r}")
    missing = (_ENVELOPE_KEYS | {"data"}) - set(value)
    extra = set(value) - _ENVELOPE_KEYS - {"data", "position"}
    if missing or extra:
        raise InvalidEvent(f"envelope keys: missing {sorted(missing)}, unexpected {sorted(extra)}")
    type_name = _str_in(value["type"], None)
    kind = kind_named(type_name) if _known(type_name) else None
    if kind is None:
        raise InvalidEvent(f"unknown event type {type_name!r}")
    occurred_at = _datetime_in(value["occurred_at"], None)
    event = _event_from_data(type_name, value["occurred_at"], value["data"])
    aggregate_id = _str_in(value["aggregate_id"], None)
    if value["aggregate_type"] != kind.aggregate_type or aggregate_id != kind.aggregate_id(event):
        raise InvalidEvent(
            f"{type_name} envelope names aggregate "
            f"{value['aggregate_type']}:{aggregate_id}, its event belongs to "
            f"{kind.aggregate_type}:{kind.aggregate_id(event)}"
        )
    position = value.get("position")
    return Envelope(
        id=_str_in(value["id"], None),
        type=type_name,
        aggregate_type=kind.aggregate_type,
        aggregate_id=aggregate_id,
        sequence=_int_in(value["sequence"], None),
        occurred_at=occurred_at,
        event=event,
        position=None if position is None else _int_in(position, None),
    )


#: ``json.dumps(..., separators=(",", ":"), ensure_ascii=False)``, made once: ``dumps``
#: with any argument builds a new encoder per call, and every committed event is encoded
_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


#: a string as ``_COMPACT`` writes it (quoted, escaped, non-ASCII kept)
_quoted: Callable[[str], str] = json.encoder.encode_basestring


def envelope_to_json(envelope: Envelope) -> str:
    """The compact JSON text of :func:`envelope_to_dict`, character for character.

    The envelope's own keys are written straight into the text and only the event's
    data goes through the encoder: every committed event is encoded here, and the dict
    around the data was half of the work.

    >>> from eduengine.booking.events import SeatBooked
    >>> t = datetime(2026, 3, 2, 9, 0).astimezone()
    >>> env = Envelope.wrap(SeatBooked(occurred_at=t, slot_id="s1", capacity=2,
    ...     seats_left=1, booking_id="b1", student_id="ann"), sequence=3, id="e1")
    >>> envelope_to_json(env) == _COMPACT.encode(envelope_to_dict(env))
    True
    """
    position = envelope.position
    return "".join(
        (
            '{"id":',
            _quoted(envelope.id),
            ',"type":',
            _quoted(envelope.type),
            ',"aggregate_type":',
            _quoted(envelope.aggregate_type),
            ',"aggregate_id":',
            _quoted(envelope.aggregate_id),
            ',"sequence":',
            int.__repr__(envelope.sequence),
            ',"occurred_at":"',
            envelope.occurred_at.isoformat(),  # digits, signs, "T", ":" and ".": no escape
            '","data":',
            _COMPACT.encode(event_data(envelope.event)),
            "}" if position is None else f',"position":{int.__repr__(position)}}}',
        )
    )


def envelope_from_json(text: str | bytes) -> Envelope:
    """Parse :func:`envelope_to_json`'s output; raises ``InvalidEvent``."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidEvent(f"envelope is not JSON: {exc}") from exc
    return envelope_from_dict(value)


def _known(type_name: str) -> bool:
    try:
        kind_named(type_name)
    except EduEngineError:
        return False
    return True


def _describe(exc: Exception) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        messages = cattrs.transform_error(exc)
        return "; ".join(messages)
    return str(exc)
