"""Export a student's lessons as an iCalendar (.ics) feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from eduengine import FixedClock, InMemoryStore, School
from eduengine.booking.ical import CalendarService
from eduengine.people import SYSTEM


def main() -> None:
    store = InMemoryStore()
    school = School.build(store, clock=FixedClock(datetime(2026, 3, 1, tzinfo=UTC)))
    first = datetime(2026, 3, 4, 20, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    series = school.booking.create_series(
        "ielts-evening", "FREQ=WEEKLY;BYDAY=WE;COUNT=6", first, timedelta(minutes=90), 12
    )
    sessions = school.booking.book_series(series.id, "mei")
    school.booking.cancel(sessions[3].id)  # mei will miss one evening
    trial_start = first - timedelta(days=2)
    trial = school.booking.create_slot(
        "trial-lesson", trial_start, trial_start + timedelta(minutes=30), 1
    )
    school.booking.book(trial.id, "mei")
    # the feed is a read-only view, not one of the school's services: same store, same clock;
    # the school exports it itself (audited as the library's own read)
    feeds = CalendarService(store.unit_of_work, clock=school.clock)
    ics = feeds.student_calendar("mei", actor=SYSTEM)
    print(ics.decode())


if __name__ == "__main__":
    main()
