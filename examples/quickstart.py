"""Quick start: one school on the embedded SQLite store, its rules on every path.

Run it with ``python3 dev.py example`` (sets up ``.venv`` itself). It builds a
:class:`~eduengine.School` once, then books from the timetable, a waitlist and a weekly
series, shows the live seat counts a host would push to browsers, the reminders each seat
gets, and a late cancellation that restricts a student everywhere.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from eduengine import DomainEvent, School, SlotEvent, SystemClock
from eduengine.adapters.sqlite import SqliteStore
from eduengine.errors import BookingRestricted, SlotFull
from eduengine.payments import FakePaymentGateway
from eduengine.policies import CancellationPolicy
from eduengine.pricing import Money
from eduengine.students import Actor

#: the school office, reading students' records (each read names who reads)
OFFICE = Actor(id="office", role="academic")


class LiveSeats:
    """What a host would push to browsers over WebSocket / SSE, after each commit."""

    def __init__(self, watched: set[str]) -> None:
        self.watched = watched

    def publish(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            if isinstance(event, SlotEvent) and event.slot_id in self.watched:
                print(f"  event {type(event).__name__:<17} seats left {event.seats_left}")


def main() -> None:
    watched: set[str] = set()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "school.sqlite3")  # the embedded default
        store.migrate()  # idempotent: safe on every start
        school = School.build(
            store,
            clock=SystemClock(),
            gateway=FakePaymentGateway(),  # your payment provider in production
            policy=CancellationPolicy(
                free_until=timedelta(hours=24), max_violations=1, late_fee=Money("20", "CNY")
            ),
            publisher=LiveSeats(watched),
        )
        print(f"store: sqlite ({store.path})")
        now = school.clock.now()

        tomorrow = school.booking.create_slot(
            "python-101", now + timedelta(days=1), now + timedelta(days=1, hours=1), capacity=2
        )
        watched.add(tomorrow.id)
        ann = school.booking.book(tomorrow.id, "ann")
        school.booking.book(tomorrow.id, "bob")
        try:
            school.booking.book(tomorrow.id, "cat")
        except SlotFull as full:
            print(f"  refused: {full}")
            print(f"  cat is #{school.booking.join_waitlist(tomorrow.id, 'cat')} on the waitlist")
        school.booking.cancel(ann.id)  # late (within 24 h): a violation, and a fee
        now_held = school.booking.get_slot(tomorrow.id, actor=OFFICE).holds_seat("cat")
        print(f"  cat holds a seat now: {now_held}")
        cat = next(
            b for b in school.booking.bookings_for_student("cat", actor=OFFICE) if b.holds_seat
        )
        kinds = [r.kind for r in school.reminders.pending(cat.id, actor=OFFICE)]
        print(f"  cat's reminders, planned by the school's rules: {', '.join(kinds)}")
        print(f"  ann's late fee: {school.fees.fees_of('ann', actor=OFFICE)[0].fee}")

        shanghai = ZoneInfo("Asia/Shanghai")
        first = (
            (now + timedelta(days=7))
            .astimezone(shanghai)
            .replace(hour=20, minute=0, second=0, microsecond=0)
        )
        series = school.booking.create_series(
            "ielts-evening", "FREQ=WEEKLY;COUNT=10", first, timedelta(minutes=90), 12
        )
        sessions = school.booking.book_series(series.id, "dan")
        first_start = school.booking.get_slot(sessions[0].slot_id, actor=OFFICE).start
        print(
            f"series {series.id[:8]}: dan booked {len(sessions)} sessions, "
            f"first {first_start:%a %Y-%m-%d %H:%M %Z}"
        )
        try:
            school.booking.book_series(series.id, "ann")
        except BookingRestricted as refused:
            print(f"  ann is restricted on every path: {refused}")

        store.close()


if __name__ == "__main__":
    main()
