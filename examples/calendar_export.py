"""Export a student's lessons as an iCalendar (.ics) feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from eduengine import BookingService, FixedClock, InMemoryStore
from eduengine.ical import CalendarService


def main() -> None:
    store = InMemoryStore()
    clock = FixedClock(datetime(2026, 3, 1, tzinfo=UTC))
    svc = BookingService(store.unit_of_work, clock=clock)
    first = datetime(2026, 3, 4, 20, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    series = svc.create_series(
        "ielts-evening", "FREQ=WEEKLY;BYDAY=WE;COUNT=6", first, timedelta(minutes=90), 12
    )
    sessions = svc.book_series(series.id, "mei")
    svc.cancel(sessions[3].id)  # mei will miss one evening
    trial = svc.create_slot(
        "trial-lesson",
        first - timedelta(days=2),
        first - timedelta(days=2) + timedelta(minutes=30),
        1,
    )
    svc.book(trial.id, "mei")
    ics = CalendarService(store.unit_of_work, clock=clock).student_calendar("mei")
    print(ics.decode())


if __name__ == "__main__":
    main()
