"""One booking command and one cancel command (issue #27): ``school.book`` and
``school.cancel`` cover credits and policy outcomes, retry safely with a key, and the
older ways in are deprecated aliases that still work."""

from __future__ import annotations

import warnings
from datetime import timedelta

import pytest

from eduengine import FixedClock, School
from eduengine.errors import IdempotencyKeyReused, InvalidTransition, NoCredit, StudentNotFound
from eduengine.kernel.money import Money
from eduengine.people import SYSTEM
from eduengine.policies.model import CancellationPolicy
from tests.adapters import StoreHandle
from tests.conftest import T0

FEE = Money("20.00", "CNY")


def school_on(store: StoreHandle) -> tuple[School, FixedClock]:
    clock = FixedClock(T0)
    school = School.build(
        store,
        clock=clock,
        policy=CancellationPolicy(free_until=timedelta(hours=24), late_fee=FEE),
        notices=None,
        reminders=None,
        analytics=False,
    )
    return school, clock


def lesson(school: School, days: float = 3, capacity: int = 5) -> str:
    start = T0 + timedelta(days=days)
    return school.booking.create_slot("math", start, start + timedelta(hours=1), capacity).id


def credits_left(school: School, student: str) -> int:
    return sum(p.credits_left for p in school.students.packages_of(student, actor=SYSTEM))


def with_package(school: School, student: str, credits: int = 3) -> None:
    school.students.register(student, name=student.title())
    school.students.buy_package(
        student, credits=credits, valid_for=timedelta(days=90), activate=True
    )


def test_a_seat_spends_a_general_credit_and_a_free_cancel_gives_it_back(
    store: StoreHandle,
) -> None:
    school, _ = school_on(store)
    with_package(school, "mei")
    seat = school.book(lesson(school), "mei")
    assert credits_left(school, "mei") == 2
    outcome = school.cancel(seat.id, reason_code="sick")
    assert (outcome.late, outcome.fee, outcome.credit_returned) == (False, None, True)
    assert credits_left(school, "mei") == 3


def test_a_late_cancel_forfeits_the_credit_and_charges_the_fee(store: StoreHandle) -> None:
    school, clock = school_on(store)
    with_package(school, "mei")
    seat = school.book(lesson(school, days=2), "mei")
    clock.advance(timedelta(days=1, hours=12))  # 12 h before start: the window is shut
    outcome = school.cancel(seat.id)
    assert (outcome.late, outcome.fee, outcome.credit_returned) == (True, FEE, False)
    assert credits_left(school, "mei") == 2
    assert len(school.policies.violations("mei", actor=SYSTEM)) == 1


def test_a_seat_without_a_credit_says_so_on_cancel(store: StoreHandle) -> None:
    school, _ = school_on(store)
    seat = school.book(lesson(school), "walk-in")  # not registered: seats need no record
    assert school.cancel(seat.id).credit_returned is None


def test_a_required_credit_refuses_a_student_without_one_and_books_nothing(
    store: StoreHandle,
) -> None:
    school, _ = school_on(store)
    school.students.register("bo", name="Bo")
    slot = lesson(school)
    with pytest.raises(NoCredit):
        school.book(slot, "bo", require_credit=True)
    assert school.booking.get_slot(slot, actor=SYSTEM).seats_taken == 0
    with pytest.raises(StudentNotFound):
        school.book(slot, "ghost", require_credit=True)


def test_a_retried_book_and_cancel_with_a_key_take_effect_once(store: StoreHandle) -> None:
    school, _ = school_on(store)
    with_package(school, "mei")
    slot = lesson(school)
    first = school.book(slot, "mei", require_credit=True, idempotency_key="b-1")
    again = school.book(slot, "mei", require_credit=True, idempotency_key="b-1")
    assert again.id == first.id and credits_left(school, "mei") == 2
    cancelled = school.cancel(first.id, idempotency_key="c-1")
    replay = school.cancel(first.id, idempotency_key="c-1")
    assert replay.booking.id == cancelled.booking.id and replay.late == cancelled.late
    assert credits_left(school, "mei") == 3
    with pytest.raises(InvalidTransition):
        school.cancel(first.id)  # without the key: it is cancelled already
    other = school.book(lesson(school, days=4), "mei")
    with pytest.raises(IdempotencyKeyReused):
        school.cancel(other.id, idempotency_key="c-1")
    assert school.booking.get_booking(other.id, actor=SYSTEM).holds_seat


def test_a_late_cancel_replayed_returns_the_same_fee(store: StoreHandle) -> None:
    school, clock = school_on(store)
    seat = school.book(lesson(school, days=1), "mei")
    clock.advance(timedelta(hours=20))
    first = school.cancel(seat.id, idempotency_key="late-1")
    assert school.cancel(seat.id, idempotency_key="late-1").fee == first.fee == FEE
    assert len(school.policies.violations("mei", actor=SYSTEM)) == 1


def test_the_older_ways_in_are_deprecated_aliases_that_still_work(store: StoreHandle) -> None:
    school, _ = school_on(store)
    with_package(school, "mei", credits=5)
    with pytest.warns(DeprecationWarning, match="school.book"):
        seat = school.policies.book(lesson(school), "mei")
    with pytest.warns(DeprecationWarning, match="require_credit=True"):
        paid = school.students.book_with_credit(lesson(school, days=4), "mei")
    with pytest.warns(DeprecationWarning, match="school.cancel"):
        assert school.students.cancel_with_credit(paid.id) is True
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert school.cancel(seat.id).credit_returned is True
    assert credits_left(school, "mei") == 5


def test_only_commands_on_the_students_record_need_her_registered(store: StoreHandle) -> None:
    school, _ = school_on(store)
    # the student's own record: refused for an unknown id, nothing written
    with pytest.raises(StudentNotFound):
        school.students.buy_package("ghost", credits=3, valid_for=timedelta(days=30))
    with pytest.raises(StudentNotFound):
        school.students.tag("ghost", "vip")
    # everything else takes any id
    seat = school.book(lesson(school), "ghost")
    assert school.booking.get_booking(seat.id, actor=SYSTEM).student_id == "ghost"
    assert school.cancel(seat.id).credit_returned is None
