"""The school's rules hold on every path a seat is taken or freed, on every adapter.

A matrix: each way a seat is taken x each rule (a restricted student is refused and
nothing changes, reminders are planned, a course-scoped credit is spent, one event per
seat), and each way a seat is freed x each rule (reminders voided, a violation when
late, the credit returned or forfeited).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

import attrs
import pytest

from eduengine import FixedClock, InMemoryEventBus, School, WaitlistMode
from eduengine.availability import TimeRange, TutorSchedule
from eduengine.booking import events as ev
from eduengine.errors import BookingRestricted
from eduengine.payments import FakePaymentGateway
from eduengine.people import SYSTEM
from eduengine.policies import CancellationPolicy
from eduengine.pricing import Money
from tests.adapters import StoreHandle

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
SOON = T0 + timedelta(days=3)  # far enough for every reminder and a free cancellation
PLAN_KINDS = ["confirmation", "before:1d", "before:1h", "before:15m"]
FEE = Money("50.00", "CNY")


@attrs.define
class World:
    school: School
    clock: FixedClock
    events: InMemoryEventBus
    store: StoreHandle
    gateway: FakePaymentGateway


@pytest.fixture
def world(store: StoreHandle) -> Iterator[World]:
    clock = FixedClock(T0)
    events = InMemoryEventBus()
    gateway = FakePaymentGateway()

    class Store:
        unit_of_work = staticmethod(store.unit_of_work)

    school = School.build(
        Store(),
        clock=clock,
        gateway=gateway,
        publisher=events,
        policy=CancellationPolicy(max_violations=1, late_fee=FEE),
    )
    school.availability.set_schedule(
        TutorSchedule(
            tutor_id="lin",
            timezone="UTC",
            weekly={d: (TimeRange(time(9), time(18)),) for d in range(7)},
            overrides={date(2026, 3, 1): ()},
        )
    )
    for student in ("ann", "bob", "cat"):
        school.students.register(student, name=student.title())
    yield World(school, clock, events, store, gateway)


def slot(w: World, *, capacity: int = 5, start: datetime = SOON, **kwargs: object) -> str:
    made = w.school.booking.create_slot(
        "math",
        start,
        start + timedelta(hours=1),
        capacity,
        **kwargs,  # type: ignore[arg-type]
    )
    return made.id


def restrict(w: World, student: str) -> None:
    """One late cancellation restricts under ``max_violations=1``."""
    near = slot(w, start=T0 + timedelta(hours=2))
    seat = w.school.booking.book(near, student)
    w.school.booking.cancel(seat.id)
    assert w.school.policies.restriction(student, actor=SYSTEM) is not None


def held(w: World, student: str) -> list[str]:
    return [
        b.id for b in w.school.booking.bookings_for_student(student, actor=SYSTEM) if b.holds_seat
    ]


# --- taking a seat --------------------------------------------------------------------

TAKE = ["book", "series", "promotion", "offer", "one_on_one", "weekly", "credit", "rush",
        "reschedule"]  # fmt: skip


def prepare(w: World, path: str, student: str) -> dict[str, str]:
    """What must exist before the student takes a seat by ``path`` (set up while the
    student may still book, e.g. a place on a waitlist)."""
    if path in ("promotion", "offer"):
        mode = WaitlistMode.AUTO if path == "promotion" else WaitlistMode.OFFER
        full = slot(w, capacity=1, waitlist_mode=mode)
        filler = w.school.booking.book(full, "cat")
        w.school.booking.join_waitlist(full, student)
        return {"slot": full, "filler": filler.id}
    if path == "rush":
        hot = slot(w, capacity=2, opens_at=T0 + timedelta(hours=1))
        w.school.rush.open_queue(hot, seed="fair")
        w.school.rush.enter(hot, student)
        return {"slot": hot}
    if path == "reschedule":
        first = slot(w)
        seat = w.school.booking.book(first, student)
        return {"booking": seat.id, "to": slot(w)}
    if path == "credit":
        w.school.students.buy_package(
            student, credits=3, valid_for=timedelta(days=90), activate=True
        )
    if path == "series":
        series = w.school.booking.create_series(
            "math", "FREQ=WEEKLY;COUNT=3", SOON, timedelta(hours=1), capacity=5
        )
        return {"series": series.id}
    return {"slot": slot(w)}


def take(w: World, path: str, student: str, ready: dict[str, str]) -> None:
    s = w.school
    if path == "book":
        s.booking.book(ready["slot"], student)
    elif path == "series":
        s.booking.book_series(ready["series"], student)
    elif path == "promotion":
        s.booking.cancel(ready["filler"])
    elif path == "offer":
        s.booking.cancel(ready["filler"])
        if s.booking.get_slot(ready["slot"], actor=SYSTEM).offers.get(student) is not None:
            s.booking.accept_offer(ready["slot"], student)
    elif path == "one_on_one":
        s.availability.book("lin", student, SOON)
    elif path == "weekly":
        s.availability.book_weekly("lin", student, SOON, weeks=2)
    elif path == "credit":
        s.book(ready["slot"], student, require_credit=True)
    elif path == "rush":
        w.clock.advance(timedelta(hours=1, seconds=5))
        s.rush.admit(ready["slot"])
    elif path == "reschedule":
        s.policies.reschedule(ready["booking"], ready["to"])
    else:  # pragma: no cover
        raise AssertionError(path)


@pytest.mark.parametrize("path", TAKE)
def test_every_seat_taken_gets_its_reminders_and_one_event(world: World, path: str) -> None:
    ready = prepare(world, path, "ann")
    before = set(held(world, "ann"))
    take(world, path, "ann", ready)
    seats = [b for b in held(world, "ann") if b not in before or path == "reschedule"]
    assert seats, f"{path} gave ann no seat"
    taken = (ev.SeatBooked, ev.WaitlistPromoted, ev.OfferAccepted)
    for booking_id in seats:
        kinds = [r.kind for r in world.school.reminders.pending(booking_id, actor=SYSTEM)]
        assert kinds == [k for k in PLAN_KINDS if k != "confirmation"] or kinds == PLAN_KINDS
        assert "before:15m" in kinds
        events = [
            e
            for e in world.events.events
            if isinstance(e, taken) and getattr(e, "booking_id", None) == booking_id
        ]
        assert len(events) == 1, (path, events)
    if path == "reschedule":
        assert world.school.reminders.pending(ready["booking"], actor=SYSTEM) == []


@pytest.mark.parametrize("path", TAKE)
def test_a_restricted_student_gains_no_seat_on_any_path(world: World, path: str) -> None:
    ready = prepare(world, path, "ann")  # joined queues and waitlists while allowed
    restrict(world, "ann")
    seats_before = set(held(world, "ann"))
    snapshot = world.store.snapshot()
    asked = path not in ("promotion", "offer", "rush")  # others act on her behalf
    if asked:
        with pytest.raises(BookingRestricted, match="ann"):
            take(world, path, "ann", ready)
        assert world.store.snapshot() == snapshot  # refused: nothing changed
    else:
        take(world, path, "ann", ready)
    assert set(held(world, "ann")) == seats_before
    if path in ("promotion", "offer"):
        assert world.school.booking.waitlist_position(ready["slot"], "ann", actor=SYSTEM) is None
        assert world.school.booking.get_slot(ready["slot"], actor=SYSTEM).offers.get("ann") is None
    if path == "rush":
        admitted = [e for e in world.events.events if type(e).__name__ == "QueueAdmitted"]
        assert [getattr(e, "refused", ()) for e in admitted] == [("ann",)]


@pytest.mark.parametrize("scope", ["math", None])
@pytest.mark.parametrize("path", ["book", "series", "promotion", "offer", "rush"])
def test_a_seat_covered_by_a_package_spends_a_credit_on_every_path(
    world: World, path: str, scope: str | None
) -> None:
    # a general package (no course) pays too: a plain book used to seat for free
    world.school.students.buy_package(
        "ann", credits=5, valid_for=timedelta(days=90), activate=True, course_id=scope
    )
    ready = prepare(world, path, "ann")
    take(world, path, "ann", ready)
    [package] = world.school.students.packages_of("ann", actor=SYSTEM)
    assert package.credits_left == 5 - len(held(world, "ann"))


def test_one_on_one_lessons_block_the_tutors_time(world: World) -> None:
    world.school.availability.book_weekly("lin", "ann", SOON, weeks=2)
    for week in range(2):
        start = SOON + timedelta(weeks=week)
        assert start not in world.school.availability.open_times(
            "lin", start, start + timedelta(hours=1)
        )


# --- freeing a seat -------------------------------------------------------------------

FREE = ["cancel", "slot_cancel", "policy_cancel", "one_on_one_cancel", "credit_cancel",
        "no_show"]  # fmt: skip


def seat_for(w: World, path: str, *, late: bool) -> tuple[str, str]:
    """A seat of ann's paid with a credit (slot id, booking id), starting soon if late."""
    start = T0 + timedelta(hours=2) if late else SOON
    w.school.students.buy_package("ann", credits=3, valid_for=timedelta(days=90), activate=True)
    if path == "one_on_one_cancel":
        lesson = w.school.availability.book("lin", "ann", start)
        return lesson.slot_id, lesson.booking.id
    target = slot(w, start=start)
    return target, w.school.book(target, "ann", require_credit=True).id


def free(w: World, path: str, slot_id: str, booking_id: str) -> None:
    s = w.school
    if path == "cancel":
        s.booking.cancel(booking_id)
    elif path == "slot_cancel":
        s.booking.cancel_slot(slot_id)
    elif path == "policy_cancel":
        s.policies.cancel(booking_id)
    elif path == "one_on_one_cancel":
        s.availability.cancel(booking_id)
    elif path == "credit_cancel":
        assert s.cancel(booking_id).credit_returned is not None
    elif path == "no_show":
        w.clock.set(s.booking.get_slot(slot_id, actor=SYSTEM).start + timedelta(minutes=5))
        s.booking.mark_no_show(booking_id)
    else:  # pragma: no cover
        raise AssertionError(path)


@pytest.mark.parametrize("late", [False, True], ids=["early", "late"])
@pytest.mark.parametrize("path", FREE)
def test_every_seat_freed_settles_reminders_violations_and_credits(
    world: World, path: str, late: bool
) -> None:
    slot_id, booking_id = seat_for(world, path, late=late)
    assert world.school.reminders.pending(booking_id, actor=SYSTEM)
    free(world, path, slot_id, booking_id)
    assert world.school.reminders.pending(booking_id, actor=SYSTEM) == []
    violations = world.school.policies.violations("ann", actor=SYSTEM)
    judged = path in ("cancel", "policy_cancel", "one_on_one_cancel", "credit_cancel")
    expected = 1 if path == "no_show" or (late and judged) else 0
    assert len(violations) == expected
    [package] = world.school.students.packages_of("ann", actor=SYSTEM)
    if path == "one_on_one_cancel":
        return  # the lesson was booked without a credit
    kept = path == "no_show" or (late and judged)
    assert package.credits_left == (2 if kept else 3)
    fees = world.school.fees.fees_of("ann", actor=SYSTEM)
    assert [f.fee for f in fees] == ([FEE] if late and judged else [])


def test_a_late_fee_is_charged_once_through_the_gateway_and_retried_after_a_decline(
    world: World,
) -> None:
    world.school.payments.add_method("ann", "acct-ann")
    world.gateway.fail_next_charges(1)
    near = slot(world, start=T0 + timedelta(hours=2))
    seat = world.school.booking.book(near, "ann")
    world.school.booking.cancel(seat.id)  # declined on commit: the cancel still stands
    assert world.school.booking.get_booking(seat.id, actor=SYSTEM).holds_seat is False
    [fee] = world.school.fees.fees_of("ann", actor=SYSTEM)
    assert (fee.state, fee.attempts) == ("due", 1)
    assert world.school.fees.collect_due() == 0  # backing off
    world.clock.advance(timedelta(minutes=11))
    assert world.school.fees.collect_due() == 1
    assert world.school.fees.collect_due() == 0
    assert world.gateway.balance("acct-ann") == -FEE


@pytest.mark.parametrize("path", ["cancel", "slot_cancel", "policy_cancel", "one_on_one_cancel"])
def test_a_one_on_one_lesson_freed_on_any_path_frees_the_tutors_time(
    world: World, path: str
) -> None:
    lesson = world.school.availability.book("lin", "ann", SOON)
    window = (SOON, SOON + timedelta(hours=1))
    assert SOON not in world.school.availability.open_times("lin", *window)
    free(world, path, lesson.slot_id, lesson.booking.id)
    assert SOON in world.school.availability.open_times("lin", *window)
    assert world.school.booking.get_slot(lesson.slot_id, actor=SYSTEM).status.value == "cancelled"
