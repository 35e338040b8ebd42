"""The bare seat path's shortcuts keep what they replace (issue #22): the envelope's JSON
text, the bus's publication order, the feed, and a transaction's documents."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from eduengine import BookingService, FixedClock
from eduengine.booking.events import SeatBooked
from eduengine.events.codec import envelope_from_json, envelope_to_dict, envelope_to_json
from eduengine.kernel.envelope import Envelope
from eduengine.kernel.events import DomainEvent
from tests.adapters import StoreHandle

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
#: any text an id may hold, quotes, backslashes, control and non-ASCII characters too
TEXT = st.text(min_size=1, max_size=12)


@given(
    slot_id=TEXT,
    student_id=TEXT,
    envelope_id=TEXT,
    sequence=st.integers(min_value=1, max_value=2**62),
    position=st.none() | st.integers(min_value=1, max_value=2**62),
    offset=st.integers(min_value=-14 * 60, max_value=14 * 60),
    micro=st.integers(min_value=0, max_value=999_999),
)
def test_the_envelope_text_is_the_compact_json_of_its_dict(
    slot_id: str,
    student_id: str,
    envelope_id: str,
    sequence: int,
    position: int | None,
    offset: int,
    micro: int,
) -> None:
    when = datetime(2026, 3, 2, 9, 0, 0, micro, tzinfo=timezone(timedelta(minutes=offset)))
    event = SeatBooked(
        occurred_at=when,
        slot_id=slot_id,
        capacity=3,
        seats_left=1,
        booking_id="b1",
        student_id=student_id,
    )
    envelope = Envelope.wrap(event, sequence=sequence, id=envelope_id)
    if position is not None:
        envelope = envelope.at(position)
    text = envelope_to_json(envelope)
    assert text == json.dumps(
        envelope_to_dict(envelope), separators=(",", ":"), ensure_ascii=False
    )
    assert envelope_from_json(text) == envelope


def test_a_bare_service_takes_no_publication_ticket_and_still_feeds_every_event(
    store: StoreHandle,
) -> None:
    svc = BookingService(store.unit_of_work, clock=FixedClock(NOW))
    start = NOW + timedelta(days=1)
    slot = svc.create_slot("c", start, start + timedelta(hours=1), 5)
    svc.book(slot.id, "ann")
    # nobody hears the bus: no place in the publication order was taken
    assert svc.bus._order._next == 0
    # ... and the feed still has every event, numbered in its stream
    feed = [envelope_from_json(text) for _, text in store.read_feed(0, 100)]
    assert [(e.type, e.sequence) for e in feed if e.aggregate_id == slot.id][-1] == (
        "booking.seat_booked",
        2,
    )

    heard: list[DomainEvent] = []
    seen: list[Envelope] = []

    class Publisher:
        def publish(self, events: Sequence[DomainEvent]) -> None:
            heard.extend(events)

    svc.bus.publishers.append(Publisher())
    svc.bus.listen(seen.append)
    svc.book(slot.id, "bob")
    # heard from then on, in order, with the feed's positions
    assert [type(e).__name__ for e in heard] == ["SeatBooked"]
    assert [(e.type, e.sequence) for e in seen] == [("booking.seat_booked", 3)]
    assert seen[0].position == store.feed_head()
    assert svc.bus._order._next == 1


def test_a_transaction_reads_documents_afresh_after_another_committed(
    store: StoreHandle,
) -> None:
    """The documents' repository is made on first use in each transaction: what one
    transaction read or sealed is not what the next one sees."""
    uow = store.unit_of_work()
    with uow:
        uow.records.put("note", "k", {"v": 1})
        uow.commit()
    with uow:
        assert uow.records.get("note", "k") == {"v": 1}
        uow.rollback()
    with store.unit_of_work() as other:
        other.records.put("note", "k", {"v": 2})
        other.commit()
    with uow:
        assert uow.records.get("note", "k") == {"v": 2}
        uow.rollback()
