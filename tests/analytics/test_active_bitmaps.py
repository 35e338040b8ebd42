"""Active students from daily bitmaps (issue #22): exact on every adapter for periods
that cover days in whole and in part, for days counted before the bitmaps existed (read
from their hours), for a day counted partly before and partly after, and after a
rebuild from the feed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from eduengine import FixedClock, School
from eduengine.analytics import Period
from eduengine.analytics import projection as pj
from tests.adapters import StoreHandle

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
ZONES = ("UTC", "Asia/Shanghai", "America/New_York")


def _periods() -> list[Period]:
    return [
        *(Period.days(date(2026, 3, d), n, tz) for d in (2, 3, 4) for n in (1, 2) for tz in ZONES),
        *(Period.week(date(2026, 3, 2), tz) for tz in ZONES),
        *(Period.month(2026, 3, tz) for tz in ZONES),
    ]


def _answers(school: School) -> list[int]:
    return [school.analytics.active_students(p) for p in _periods()]


def _book_a_day(school: School, clock: FixedClock, students: list[str]) -> None:
    start = clock.now() + timedelta(days=10)
    slot = school.booking.create_slot("math", start, start + timedelta(hours=1), capacity=50)
    for n, student in enumerate(students):
        school.booking.book(slot.id, student)
        clock.advance(timedelta(hours=1 + n % 5))


def _as_before_the_bitmaps(store: StoreHandle) -> None:
    """The documents an earlier version kept: day documents without numbers, no bitmaps."""
    with store.unit_of_work() as uow:
        for kind in (pj.ACTIVE_BITS, pj.ACTIVE_IDS, pj.ACTIVE_SEQ):
            for key, _ in uow.records.list(kind):
                uow.records.delete(kind, key)
        for key, doc in uow.records.list(pj.ACTIVE_DAYS):
            doc.pop("n", None)
            uow.records.put(pj.ACTIVE_DAYS, key, doc, index={"day": doc["day"]})
        uow.commit()


def test_active_students_count_each_student_once_from_bitmaps_and_old_day_documents(
    store: StoreHandle,
) -> None:
    clock = FixedClock(T0)
    school = School.build(store, clock=clock)
    roster = [f"s{n}" for n in range(12)]
    _book_a_day(school, clock, roster[:8])  # 3 March (UTC) and on
    live = _answers(school)
    assert max(live) == 8 and min(live) == 0
    with store.unit_of_work() as uow:
        assert uow.records.list(pj.ACTIVE_BITS)  # the days were kept as bitmaps

    _as_before_the_bitmaps(store)
    assert _answers(school) == live  # read from the hours of the old day documents

    # the same day goes on after the upgrade: old and new students, counted once each
    _book_a_day(school, clock, roster[4:12])
    after = _answers(school)
    assert max(after) == 12
    school.analytics.rebuild(batch=7)
    assert _answers(school) == after  # every day as bitmaps again, the same figures
    with store.unit_of_work() as uow:
        assert not any(doc.get("partial") for _, doc in uow.records.list(pj.ACTIVE_BITS))
