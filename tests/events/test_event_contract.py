"""Events as a public contract: every event has a type name, a JSON form that round-trips,
and a schema that the checked-in docs/events.schema.json matches."""

from __future__ import annotations

import enum
import importlib
import json
import pkgutil
import sys
import types
import typing
import warnings
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import jsonschema  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import eduengine
from eduengine.booking.events import SeatBooked, SlotEvent
from eduengine.errors import InvalidEvent, InvalidInput
from eduengine.events import (
    Envelope,
    envelope_from_dict,
    envelope_from_json,
    envelope_to_dict,
    envelope_to_json,
    event_kinds,
    kind_named,
    register_event,
)
from eduengine.events.schema import json_schema, schema_text
from eduengine.kernel.events import DomainEvent
from eduengine.kernel.money import MINOR_UNITS, Money

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "docs" / "events.schema.json"
T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def all_event_classes() -> set[type[DomainEvent]]:
    with warnings.catch_warnings():
        # the deprecated old paths (removed in 0.4) define no event of their own
        warnings.simplefilter("ignore", DeprecationWarning)
        for module in pkgutil.walk_packages(eduengine.__path__, "eduengine."):
            if ".adapters.postgres" not in module.name:
                importlib.import_module(module.name)
    found: set[type[DomainEvent]] = set()
    todo: list[type[DomainEvent]] = [DomainEvent]
    while todo:
        for sub in todo.pop().__subclasses__():
            # attrs' slotted classes replace the class they decorate; the replaced one
            # lingers in __subclasses__() until collected, so keep only the module's own
            is_public = getattr(sys.modules[sub.__module__], sub.__qualname__, None) is sub
            if sub.__module__.startswith("eduengine.") and is_public and sub not in found:
                found.add(sub)
                todo.append(sub)
    return found - {SlotEvent}


def test_every_event_class_of_the_library_has_a_stable_type_name() -> None:
    registered = {k.cls for k in event_kinds()}
    assert all_event_classes() - registered == set()
    assert len({k.name for k in event_kinds()}) == len(registered)


def test_the_checked_in_schema_is_the_one_the_classes_generate() -> None:
    # regenerate with: python -m eduengine.events.schema > docs/events.schema.json
    assert SCHEMA_FILE.read_text() == schema_text()


def test_docs_list_every_event_type() -> None:
    text = (ROOT / "docs" / "events.md").read_text()
    missing = [k.name for k in event_kinds() if f"`{k.name}`" not in text]
    assert missing == []


# --- strategies built from each event's own field types ----------------------------------

aware = st.datetimes(
    min_value=datetime(1971, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-3, minutes=-30))]
    ),
)
money = st.builds(
    lambda amount, currency: Money(amount, currency),
    st.decimals(min_value=Decimal("-10000"), max_value=Decimal("10000"), places=2),
    st.sampled_from(sorted(c for c, d in MINOR_UNITS.items() if d == 2)),
)
text = st.text(max_size=12)


def strategy(tp: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(tp)
    if tp is str:
        return text
    if tp is bool:
        return st.booleans()
    if tp is int:
        return st.integers(-(2**53), 2**53)
    if tp is datetime:
        return aware
    if tp is Money:
        return money
    if tp is Decimal:
        return st.decimals(min_value=-(10**9), max_value=10**9, places=4)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(list(tp))
    if origin in (typing.Union, types.UnionType):
        return st.one_of(
            *[strategy(a) if a is not type(None) else st.none() for a in typing.get_args(tp)]
        )
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(strategy(args[0]), max_size=3).map(tuple)
        return st.tuples(*[strategy(a) for a in args])
    raise AssertionError(f"no strategy for {tp!r}")


def events_of(cls: type[DomainEvent]) -> st.SearchStrategy[DomainEvent]:
    hints = typing.get_type_hints(cls)
    return st.builds(cls, **{f.name: strategy(hints[f.name]) for f in attrs.fields(cls)})


any_event = st.sampled_from([k.cls for k in event_kinds()]).flatmap(events_of)
VALIDATOR = jsonschema.Draft202012Validator(json_schema())


@given(event=any_event, sequence=st.integers(1, 2**40), position=st.none() | st.integers(1, 2**40))
def test_every_event_survives_a_json_round_trip_and_matches_its_schema(
    event: DomainEvent, sequence: int, position: int | None
) -> None:
    envelope = attrs.evolve(Envelope.wrap(event, sequence=sequence), position=position)
    text = envelope_to_json(envelope)
    back = envelope_from_json(text)
    assert back == envelope
    assert type(back.event) is type(event)
    assert back.occurred_at.utcoffset() == event.occurred_at.utcoffset()
    VALIDATOR.validate(json.loads(text))


@pytest.mark.parametrize("kind", event_kinds(), ids=lambda k: k.name)
@settings(max_examples=3)
@given(data=st.data())
def test_each_event_type_round_trips(kind: Any, data: st.DataObject) -> None:
    # a few examples of every type, so a type no run above drew is still checked
    event = data.draw(events_of(kind.cls))
    envelope = Envelope.wrap(event, sequence=1)
    assert envelope_from_dict(json.loads(envelope_to_json(envelope))) == envelope
    VALIDATOR.validate(envelope_to_dict(envelope))


def seat_booked_json() -> dict[str, Any]:
    event = SeatBooked(
        occurred_at=T, slot_id="s1", capacity=2, seats_left=1, booking_id="b1", student_id="ann"
    )
    return envelope_to_dict(Envelope.wrap(event, sequence=1, id="e1"))


def test_the_wire_form_of_an_envelope() -> None:
    assert seat_booked_json() == {
        "id": "e1",
        "type": "booking.seat_booked",
        "aggregate_type": "slot",
        "aggregate_id": "s1",
        "sequence": 1,
        "occurred_at": "2026-03-02T09:00:00+00:00",
        "data": {
            "slot_id": "s1",
            "capacity": 2,
            "seats_left": 1,
            "booking_id": "b1",
            "student_id": "ann",
            "series_id": None,
        },
    }


def test_money_travels_as_a_decimal_string_with_its_currency() -> None:
    from eduengine.pricing.events import OrderPaid

    paid = OrderPaid(
        occurred_at=T, order_id="o1", student_id="ann", total=Money("99.90", "CNY"), coupons=("A",)
    )
    data = envelope_to_dict(Envelope.wrap(paid, sequence=1))["data"]
    assert data["total"] == {"amount": "99.90", "currency": "CNY"}
    assert data["coupons"] == ["A"]


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(type="booking.no_such_thing"),
        lambda d: d["data"].update(seats_left="1"),
        lambda d: d["data"].update(extra=1),
        lambda d: d["data"].pop("student_id"),
        lambda d: d.update(occurred_at="2026-03-02T09:00:00"),  # naive
        lambda d: d.update(sequence=True),
        lambda d: d.update(aggregate_id="s2"),
        lambda d: d.update(unknown="x"),
    ],
)
def test_a_malformed_envelope_is_refused_with_invalid_event(change: Any) -> None:
    value = seat_booked_json()
    change(value)
    with pytest.raises(InvalidEvent):
        envelope_from_dict(value)


def test_a_host_registers_its_own_event_type(fresh_registry: None) -> None:
    @attrs.frozen(kw_only=True)
    class HomeworkHandedIn(DomainEvent):
        student_id: str
        pages: int

    kind = register_event(
        HomeworkHandedIn,
        "host.homework_handed_in",
        aggregate_type="student",
        aggregate_field="student_id",
    )
    assert kind_named("host.homework_handed_in") is kind
    envelope = Envelope.wrap(HomeworkHandedIn(occurred_at=T, student_id="ann", pages=3), sequence=4)
    assert envelope.stream == "student:ann"
    assert envelope_from_json(envelope_to_json(envelope)) == envelope
    with pytest.raises(InvalidInput):
        register_event(
            SeatBooked, "host.homework_handed_in", aggregate_type="slot", aggregate_field="slot_id"
        )
    with pytest.raises(InvalidInput):
        register_event(
            HomeworkHandedIn, "Not A Name", aggregate_type="x", aggregate_field="student_id"
        )
