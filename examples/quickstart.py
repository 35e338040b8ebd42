"""Quick start: a course slot, a weekly series, a waitlist, live seat counts.

Run it with ``python3 dev.py example`` (sets up ``.venv`` itself).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from eduengine import BookingService, DomainEvent, SlotEvent, SystemClock
from eduengine.adapters.sqlite import SqliteStore
from eduengine.errors import SlotFull


def open_store(directory: Path) -> tuple[str, SqliteStore]:
    """The embedded default: a SQLite file, migrated (idempotent) before use."""
    store = SqliteStore(directory / "school.sqlite3")
    store.migrate()
    return "sqlite", store


def main() -> None:
    watched: set[str] = set()

    def show(event: DomainEvent) -> None:
        # What a host would push to browsers over WebSocket / SSE.
        if isinstance(event, SlotEvent) and event.slot_id in watched:
            print(f"  event {type(event).__name__:<17} seats left {event.seats_left}")

    class Printer:
        def publish(self, events: Sequence[DomainEvent]) -> None:
            for event in events:
                show(event)

    with tempfile.TemporaryDirectory() as tmp:
        kind, store = open_store(Path(tmp))
        svc = BookingService(store.unit_of_work, clock=SystemClock(), publisher=Printer())
        print(f"store: {kind} ({store.path})")
        now = svc.clock.now()
        watched.add("python-101@tomorrow")
        slot = svc.create_slot(
            "python-101",
            now + timedelta(days=1),
            now + timedelta(days=1, hours=1),
            capacity=2,
            slot_id="python-101@tomorrow",
        )
        ann = svc.book(slot.id, "ann")
        svc.book(slot.id, "bob")
        try:
            svc.book(slot.id, "cat")
        except SlotFull as full:
            print(f"  refused: {full}")
            print(f"  cat is #{svc.join_waitlist(slot.id, 'cat')} on the waitlist")
        svc.cancel(ann.id)
        print(f"  cat holds a seat now: {svc.get_slot(slot.id).holds_seat('cat')}")

        shanghai = ZoneInfo("Asia/Shanghai")
        first = (
            (now + timedelta(days=7))
            .astimezone(shanghai)
            .replace(hour=20, minute=0, second=0, microsecond=0)
        )
        series = svc.create_series(
            "ielts-evening", "FREQ=WEEKLY;COUNT=10", first, timedelta(minutes=90), 12
        )
        sessions = svc.book_series(series.id, "dan")
        print(
            f"series {series.id[:8]}: dan booked {len(sessions)} sessions, "
            f"first {svc.get_slot(sessions[0].slot_id).start:%a %Y-%m-%d %H:%M %Z}"
        )

        store.close()


if __name__ == "__main__":
    main()
