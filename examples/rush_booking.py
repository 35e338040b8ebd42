"""Rush booking (抢课): a fair lottery for everyone who is there when the class opens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eduengine import BookingService, FixedClock, InMemoryStore
from eduengine.errors import BookingNotOpen
from eduengine.rush import RushService


def main() -> None:
    store = InMemoryStore()
    clock = FixedClock(datetime(2026, 3, 2, 11, 0, tzinfo=UTC))
    slots = BookingService(store.unit_of_work, clock=clock)
    rush = RushService(store.unit_of_work, clock=clock)
    opens = clock.now() + timedelta(hours=1)
    start = clock.now() + timedelta(days=7)
    hot = slots.create_slot("olympiad-camp", start, start + timedelta(hours=2), 3, opens_at=opens)
    rush.open_queue(hot.id, seed="camp-2026-spring", window=timedelta(seconds=2))

    for n, student in enumerate(["ana", "ben", "chen", "dev", "eli"]):
        clock.set(opens - timedelta(minutes=5 - n))  # waiting before the opening
        rush.enter(hot.id, student)
    try:
        slots.book(hot.id, "fast-fingers")
    except BookingNotOpen as refused:
        print(f"direct booking refused: {refused}")
    clock.set(opens + timedelta(seconds=30))
    late = rush.enter(hot.id, "fay")
    print(f"fay arrived late: {late.state}, place {late.place}")

    clock.set(opens + timedelta(minutes=1))
    result = rush.admit(hot.id)
    print(f"seated (lottery order): {', '.join(result.admitted)}")
    print(f"waitlist: {', '.join(result.waitlisted)}")
    for student in ("ana", "fay"):
        p = rush.position(hot.id, student)
        print(f"  {student}: {p.state}" + (f" #{p.place}" if p.place else ""))


if __name__ == "__main__":
    main()
