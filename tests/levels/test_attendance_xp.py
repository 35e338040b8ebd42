"""Attendance earns XP through the ``attendance_xp`` setting (issue #27): once per
booking, whatever the replays and corrections; off by default."""

from __future__ import annotations

from datetime import timedelta

from eduengine import FixedClock, School
from eduengine.booking.model import Booking
from eduengine.levels import XpRule
from eduengine.people import SYSTEM
from tests.adapters import StoreHandle
from tests.conftest import T0


def build(
    store: StoreHandle,
    clock: FixedClock,
    *,
    attendance_xp: int | XpRule | None = 20,
    inline: bool = True,
) -> School:
    return School.build(
        store,
        clock=clock,
        reminders=None,
        notices=None,
        analytics=False,
        attendance_xp=attendance_xp,
        inline_projections=inline,
    )


def lesson(school: School, clock: FixedClock, student: str = "ann", day: int = 0) -> Booking:
    start = T0 + timedelta(days=day, hours=1)
    slot = school.booking.create_slot("math", start, start + timedelta(hours=1), 5)
    booking = school.booking.book(slot.id, student)
    clock.set(start + timedelta(minutes=5))
    return booking


def test_an_attended_lesson_earns_its_xp_once(store: StoreHandle) -> None:
    clock = FixedClock(T0)
    school = build(store, clock)
    first, second = lesson(school, clock), lesson(school, clock, day=1)
    school.booking.mark_attended(first.id)
    assert school.levels.progress("ann", actor=SYSTEM).xp == 20
    # corrected to a no-show (nothing taken back) and back to attended (nothing more)
    school.booking.mark_no_show(first.id)
    school.booking.mark_attended(first.id)
    assert school.levels.progress("ann", actor=SYSTEM).xp == 20
    assert school.levels.refused_awards("ann", actor=SYSTEM) == []
    school.booking.mark_no_show(second.id)
    assert school.levels.progress("ann", actor=SYSTEM).xp == 20
    school.booking.mark_attended(second.id)
    assert school.levels.progress("ann", actor=SYSTEM).xp == 40


def test_a_catch_up_after_a_restart_awards_nothing_twice(store: StoreHandle) -> None:
    clock = FixedClock(T0)
    school = build(store, clock, inline=False, attendance_xp=XpRule(kind="lesson", points=7))
    booking = lesson(school, clock)
    school.booking.mark_attended(booking.id)
    assert school.levels.progress("ann", actor=SYSTEM).xp == 0  # the worker has not run yet
    school.projections.catch_up()
    assert school.levels.progress("ann", actor=SYSTEM).xp == 7
    restarted = build(store, clock, inline=False, attendance_xp=XpRule(kind="lesson", points=7))
    restarted.projections.catch_up()
    restarted.projections.catch_up()
    assert restarted.levels.progress("ann", actor=SYSTEM).xp == 7
    assert restarted.levels.state_of("ann", actor=SYSTEM)["sources"] == [f"lesson:{booking.id}"]


def test_attendance_earns_no_xp_by_default(store: StoreHandle) -> None:
    clock = FixedClock(T0)
    school = build(store, clock, attendance_xp=None)
    school.booking.mark_attended(lesson(school, clock).id)
    school.projections.catch_up()
    assert school.levels.progress("ann", actor=SYSTEM).xp == 0
    assert "projection attendance_xp" not in school.rules()
    assert "projection attendance_xp" in build(store, clock).rules()
