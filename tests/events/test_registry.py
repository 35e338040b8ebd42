"""Event types register where they are defined, and the catalog knows every library type.

Each library event class carries ``@event_type`` in its package's ``events`` module; a
host's event registered with the same decorator joins the contract: it is numbered, stored
in the feed, serialised and described by the schema.
"""

from __future__ import annotations

import pkgutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import attrs
import jsonschema  # type: ignore[import-untyped]
import pytest

import eduengine
from eduengine import BookingService, FixedClock, SeatBooked
from eduengine.errors import InvalidInput
from eduengine.events import (
    Envelope,
    EventFeed,
    catalog,
    envelope_from_json,
    envelope_to_dict,
    envelope_to_json,
)
from eduengine.events.schema import json_schema
from eduengine.kernel.events import (
    DomainEvent,
    event_kind,
    event_type,
    find_kind,
    kind_named,
)
from eduengine.pricing import Money
from eduengine.service_layer.messagebus import MessageBus
from eduengine.service_layer.ports import UnitOfWork
from tests.adapters import ADAPTERS, StoreHandle, make_store
from tests.events.test_event_contract import all_event_classes

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_every_library_event_class_is_registered() -> None:
    for cls in all_event_classes():
        kind = find_kind(cls)
        assert kind is not None, cls
        assert kind.cls is cls
        package = cls.__module__.split(".")[1]
        assert cls.__module__ == f"eduengine.{package}.events", cls
        # a type name starts with the package that defines the event; a referral reward
        # is issued by pricing (a coupon), reminders are planned by the notices (issue
        # #22), and each keeps the name it was published under
        prefix = kind.name.split(".")[0]
        published = {("referrals", "pricing"), ("reminders", "notices")}
        assert prefix == package or (prefix, package) in published, kind.name


def test_the_catalog_imports_every_events_module_of_the_library() -> None:
    events_modules = {
        m.name
        for m in pkgutil.walk_packages(eduengine.__path__, "eduengine.")
        if m.name.endswith(".events") and m.name.count(".") == 2
    } - {"eduengine.kernel.events"}
    assert len(events_modules) >= 8
    imported = {
        value.__name__ for value in vars(catalog).values() if isinstance(value, type(catalog))
    }
    assert events_modules - imported == set()


def test_a_host_event_registered_with_the_decorator_round_trips_through_json(
    fresh_registry: None,
) -> None:
    @event_type("host.homework_graded", aggregate="student", field="student_id")
    @attrs.frozen(kw_only=True)
    class HomeworkGraded(DomainEvent):
        student_id: str
        score: int
        tip: Money | None = None
        due: datetime

    assert kind_named("host.homework_graded").cls is HomeworkGraded
    graded = HomeworkGraded(
        occurred_at=T, student_id="ann", score=9, tip=Money("1.50", "EUR"), due=T
    )
    envelope = Envelope.wrap(graded, sequence=2)
    assert (envelope.type, envelope.stream) == ("host.homework_graded", "student:ann")
    back = envelope_from_json(envelope_to_json(envelope))
    assert back == envelope
    assert isinstance(back.event, HomeworkGraded)
    # the host's type joins the schema a consumer validates against
    jsonschema.validate(envelope_to_dict(envelope), json_schema())


def test_the_decorator_below_attrs_is_refused_and_registers_nothing(
    fresh_registry: None,
) -> None:
    class Plain(DomainEvent):
        student_id: str

    with pytest.raises(InvalidInput, match=r"above @attrs\.frozen"):
        event_type("host.plain", aggregate="student", field="student_id")(Plain)
    with pytest.raises(InvalidInput):
        kind_named("host.plain")


def test_a_taken_name_or_a_missing_field_is_refused_and_changes_nothing(
    fresh_registry: None,
) -> None:
    with pytest.raises(InvalidInput, match="already registered"):

        @event_type("booking.seat_booked", aggregate="slot", field="slot_id")
        @attrs.frozen(kw_only=True)
        class Impostor(DomainEvent):
            slot_id: str

    with pytest.raises(InvalidInput, match="no field"):

        @event_type("host.lost", aggregate="student", field="student_id")
        @attrs.frozen(kw_only=True)
        class Lost(DomainEvent):
            pupil_id: str

    assert kind_named("booking.seat_booked").cls is SeatBooked
    assert event_kind(SeatBooked).name == "booking.seat_booked"
    with pytest.raises(InvalidInput):
        kind_named("host.lost")


@pytest.fixture(params=ADAPTERS)
def feed_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StoreHandle]:
    handle = make_store(request.param, tmp_path_factory.mktemp(request.param), outbox=True)
    try:
        yield handle
    finally:
        handle.close()


def test_a_host_event_recorded_by_a_rule_is_numbered_and_read_back_from_the_feed(
    feed_store: StoreHandle, fresh_registry: None
) -> None:
    @event_type("host.seat_welcomed", aggregate="student", field="student_id")
    @attrs.frozen(kw_only=True)
    class SeatWelcomed(DomainEvent):
        student_id: str
        slot_id: str

    def welcome(event: DomainEvent, uow: UnitOfWork) -> None:
        assert isinstance(event, SeatBooked)
        uow.record_events(
            [
                SeatWelcomed(
                    occurred_at=event.occurred_at,
                    student_id=event.student_id,
                    slot_id=event.slot_id,
                )
            ]
        )

    clock = FixedClock(T)
    bus = MessageBus()
    bus.subscribe(SeatBooked, welcome)
    svc = BookingService(feed_store.unit_of_work, clock=clock, bus=bus)
    start = T + timedelta(days=1)
    a = svc.create_slot("math", start, start + timedelta(hours=1), 3).id
    b = svc.create_slot("math", start, start + timedelta(hours=2), 3).id
    svc.book(a, "ann")
    svc.book(b, "ann")
    got = EventFeed(feed_store.store, clock=clock).events_since(0, limit=100)
    welcomed = [e for e in got if e.type == "host.seat_welcomed"]
    assert [(e.stream, e.sequence, e.event) for e in welcomed] == [
        ("student:ann", 1, SeatWelcomed(occurred_at=T, student_id="ann", slot_id=a)),
        ("student:ann", 2, SeatWelcomed(occurred_at=T, student_id="ann", slot_id=b)),
    ]
