"""Rush booking (抢课): a fair lottery for everyone who is there when the class opens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eduengine import FixedClock, InMemoryStore, School
from eduengine.errors import BookingNotOpen
from eduengine.students import Actor

#: the school office, reading students' records (each read names who reads)
OFFICE = Actor(id="office", role="academic")


def main() -> None:
    clock = FixedClock(datetime(2026, 3, 2, 11, 0, tzinfo=UTC))
    school = School.build(InMemoryStore(), clock=clock)
    slots, rush = school.booking, school.rush
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
        p = rush.position(hot.id, student, actor=OFFICE)
        print(f"  {student}: {p.state}" + (f" #{p.place}" if p.place else ""))
    # a seat given up through the booking service goes to the lottery's waitlist, in order
    winner = next(
        b for b in slots.bookings_for_student(result.admitted[0], actor=OFFICE) if b.holds_seat
    )
    slots.cancel(winner.id)
    print(
        f"{result.admitted[0]} cancelled; {result.waitlisted[0]} holds a seat now: "
        f"{slots.get_slot(hot.id, actor=OFFICE).holds_seat(result.waitlisted[0])}"
    )


if __name__ == "__main__":
    main()
