"""1-on-1 lessons booked from a tutor's open times, like a clinic appointment."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from eduengine import FixedClock, InMemoryStore, School
from eduengine.availability import TimeRange, TutorSchedule
from eduengine.errors import TimeNotAvailable


def main() -> None:
    clock = FixedClock(datetime(2026, 3, 20, 8, 0, tzinfo=UTC))
    school = School.build(
        InMemoryStore(),
        clock=clock,
        room_for=lambda slot: f"https://class.example.com/room/{slot.id[:8]}",
    )
    desk = school.availability
    # Ms Lin teaches from London, weekdays 09:00-12:00 and 14:00-17:00, 50-minute lessons.
    hours = (TimeRange(time(9), time(12)), TimeRange(time(14), time(17)))
    desk.set_schedule(
        TutorSchedule(
            tutor_id="ms-lin",
            timezone="Europe/London",
            weekly={day: hours for day in range(5)},
            session=timedelta(minutes=50),
            step=timedelta(minutes=30),
            buffer_after=timedelta(minutes=10),
            min_notice=timedelta(hours=12),
            max_per_day=4,
        )
    )
    # A student in Shanghai sees the times in her own zone (London changes to BST on 29 March).
    times = desk.open_times(
        "ms-lin", clock.now(), clock.now() + timedelta(days=4), viewer_tz="Asia/Shanghai"
    )
    print(f"{len(times)} open times; the first three in Shanghai time:")
    for t in times[:3]:
        print("  ", t.strftime("%a %d %b %H:%M %Z"))
    lesson = desk.book("ms-lin", "mei", times[0])
    print(f"mei booked {lesson.start:%a %H:%M %Z}, room {lesson.room}")
    try:
        desk.book("ms-lin", "tom", times[0])
    except TimeNotAvailable as refused:
        print(f"tom was too late: {refused}")
    weekly = desk.book_weekly("ms-lin", "tom", times[4], weeks=3)
    print("tom's weekly lessons (same London wall-clock time across the DST change):")
    for w in weekly:
        print("  ", w.start.astimezone(ZoneInfo("Europe/London")).strftime("%a %d %b %H:%M %Z"))
    # cancelled through the booking service, a lesson still frees the tutor's time
    school.booking.cancel(lesson.booking.id)
    again = desk.book("ms-lin", "tom", times[0])
    print(f"mei cancelled; tom booked {again.start:%a %H:%M %Z} instead")


if __name__ == "__main__":
    main()
