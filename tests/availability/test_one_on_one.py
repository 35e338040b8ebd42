"""Booking 1-on-1 lessons through the service, on every adapter."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from eduengine import BookingService, BookingStatus, FixedClock, InMemoryEventBus
from eduengine.availability import AvailabilityService, OneOnOneBooked, TimeRange, TutorSchedule
from eduengine.errors import (
    EduEngineError,
    NaiveDatetime,
    TimeNotAvailable,
    TutorNotFound,
)
from eduengine.people import SYSTEM
from tests.adapters import StoreHandle

MONDAY = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture
def desk(store: StoreHandle) -> AvailabilityService:
    clock = FixedClock(MONDAY - timedelta(days=1))
    service = AvailabilityService(
        store.unit_of_work,
        clock=clock,
        publisher=InMemoryEventBus(),
        room_for=lambda slot: f"https://meet.example/{slot.id}",
    )
    service.set_schedule(
        TutorSchedule(
            tutor_id="lin",
            timezone="Europe/London",
            weekly={d: (TimeRange(time(9), time(12)),) for d in range(7)},
            overrides={date(2026, 3, 9): ()},
            max_per_day=2,
        )
    )
    return service


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return MONDAY + timedelta(days=day, hours=hour, minutes=minute)


def test_a_booked_time_disappears_from_the_open_times(desk: AvailabilityService) -> None:
    lesson = desk.book("lin", "ann", at(0, 9))
    assert lesson.room == f"https://meet.example/{lesson.slot_id}"
    assert lesson.end - lesson.start == timedelta(hours=1)
    left = desk.open_times("lin", at(0, 0), at(1, 0))
    assert [t.strftime("%H:%M") for t in left] == ["10:00", "10:30", "11:00"]
    with pytest.raises(TimeNotAvailable, match="lin"):
        desk.book("lin", "bob", at(0, 9, 30))


def test_two_students_racing_for_one_time_one_wins(
    store: StoreHandle, desk: AvailabilityService
) -> None:
    winners: list[str] = []
    losers: list[EduEngineError] = []
    gate = threading.Barrier(8)

    def student(n: int) -> None:
        gate.wait()
        try:
            desk.book("lin", f"s{n}", at(1, 10))
            winners.append(f"s{n}")
        except TimeNotAvailable as refused:
            losers.append(refused)

    threads = [threading.Thread(target=student, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1 and len(losers) == 7


def test_weekly_lessons_check_every_occurrence_and_book_all_or_nothing(
    store: StoreHandle, desk: AvailabilityService
) -> None:
    desk.book("lin", "bob", at(14, 10))  # week 3 of ann's series is taken
    before = store.snapshot()
    with pytest.raises(TimeNotAvailable) as refused:
        desk.book_weekly("lin", "ann", at(0, 10), weeks=4)
    # week 2 is the tutor's day off, week 3 is taken: both are named
    assert refused.value.starts == (at(7, 10), at(14, 10))
    assert store.snapshot() == before
    lessons = desk.book_weekly("lin", "ann", at(0, 11), weeks=1)
    assert [lesson.start for lesson in lessons] == [at(0, 11)]


def test_weekly_lessons_keep_the_tutors_wall_clock_time_across_dst(
    desk: AvailabilityService,
) -> None:
    lessons = desk.book_weekly("lin", "ann", at(21, 9), weeks=3)  # 23 March, BST on 29 March
    walls = {lesson.start.astimezone(ZoneInfo("Europe/London")).hour for lesson in lessons}
    assert walls == {9}
    assert lessons[1].start - lessons[0].start == timedelta(days=7) - timedelta(hours=1)
    assert lessons[2].start - lessons[1].start == timedelta(days=7)


def test_cancelling_frees_the_time_and_the_daily_cap(
    store: StoreHandle, desk: AvailabilityService
) -> None:
    a = desk.book("lin", "ann", at(2, 9))
    desk.book("lin", "bob", at(2, 11))
    assert desk.open_times("lin", at(2, 0), at(3, 0)) == []  # max 2 per day
    desk.cancel(a.booking.id)
    assert at(2, 9) in desk.open_times("lin", at(2, 0), at(3, 0))
    svc = BookingService(store.unit_of_work)
    assert svc.get_booking(a.booking.id, actor=SYSTEM).status is BookingStatus.CANCELLED


def test_lessons_are_ordinary_slots_with_events(desk: AvailabilityService) -> None:
    lesson = desk.book("lin", "ann", at(3, 10))
    bus = desk.bus.publishers[0]
    assert isinstance(bus, InMemoryEventBus)
    booked = [e for e in bus.events if isinstance(e, OneOnOneBooked)]
    assert [(e.student_id, e.start) for e in booked] == [("ann", lesson.start)]


def test_bad_input_is_refused_and_changes_nothing(
    store: StoreHandle, desk: AvailabilityService
) -> None:
    before = store.snapshot()
    with pytest.raises(NaiveDatetime):
        desk.book("lin", "ann", datetime(2026, 3, 3, 10))
    with pytest.raises(TutorNotFound):
        desk.book("nobody", "ann", at(1, 10))
    with pytest.raises(TimeNotAvailable):
        desk.book("lin", "ann", at(1, 13))  # outside working hours
    with pytest.raises(TimeNotAvailable):
        desk.book("lin", "ann", at(-2, 10))  # in the past
    assert store.snapshot() == before
