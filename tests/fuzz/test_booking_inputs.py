"""Fuzz of the booking side's public commands: every id, count, instant and duration is
checked by the input rule (:mod:`eduengine.kernel.inputs`) before any adapter sees it.

Each example calls one command with one fuzzed argument (the others valid, against a
little seeded state: an open slot with a booking, a full slot with a waitlist, a series,
a tutor's hours, a rush queue) on the store under test and on an in-memory twin that got
the same commands. The command must succeed, or be refused with an ``EduEngineError``
that is not a storage error and changed nothing; and both stores must give the same
answer (success on both, or the same refusal type).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eduengine import FixedClock, School
from eduengine.adapters.memory import InMemoryStore
from eduengine.availability import TimeRange, TutorSchedule
from eduengine.booking.ical import CalendarService
from eduengine.booking.series import MAX_SERIES_ID_LENGTH
from eduengine.errors import InvalidCapacity, InvalidId, InvalidInput, OutOfRange
from eduengine.kernel.inputs import EARLIEST, LATEST, MAX_CAPACITY, MAX_ID_LENGTH
from eduengine.people import SYSTEM
from tests.adapters import StoreHandle
from tests.fuzz.harness import refused_cleanly
from tests.fuzz.strategies import (
    any_id,
    any_text,
    bad_durations,
    bad_instants,
    bad_ints,
    wrong_type_ids,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
SOON = T0 + timedelta(days=3)
HOUR = timedelta(hours=1)
WEEKLY = "FREQ=WEEKLY;COUNT=3"

FUZZ = settings(max_examples=50, suppress_health_check=[HealthCheck.function_scoped_fixture])


@attrs.define(repr=False)
class World:
    """A school on one store, with a little state for fuzzed arguments to reach."""

    school: School
    calendars: CalendarService
    clock: FixedClock
    snapshot: Callable[[], Any]
    open_slot: str = ""
    full_slot: str = ""
    rush_slot: str = ""
    booking: str = ""
    series: str = ""
    unqueued: str = ""  # a rush slot without a queue yet


def build_world(store: Any, snapshot: Callable[[], Any]) -> World:
    """The same seeded school on any store; ids come from a counter, so two worlds given
    the same commands stay twins."""
    counter = itertools.count()

    def new_id() -> str:
        return f"id{next(counter):06d}"

    clock = FixedClock(T0)
    school = School.build(store, clock=clock, new_id=new_id)
    calendars = CalendarService(store.unit_of_work, clock=clock)
    w = World(school, calendars, clock, snapshot)
    booking = school.booking
    w.open_slot = booking.create_slot("math", SOON, SOON + HOUR, 5, tutor_id="lin").id
    w.booking = booking.book(w.open_slot, "ann").id
    w.full_slot = booking.create_slot("math", SOON, SOON + HOUR, 1).id
    booking.book(w.full_slot, "bob")
    booking.join_waitlist(w.full_slot, "cat")
    w.series = booking.create_series("math", WEEKLY, SOON, HOUR, 3, series_id="wed").id
    w.rush_slot = booking.create_slot(
        "math", SOON, SOON + HOUR, 2, opens_at=T0 + HOUR, slot_id="rush"
    ).id
    school.rush.open_queue(w.rush_slot, seed="s")
    school.rush.enter(w.rush_slot, "ann")
    w.unqueued = booking.create_slot("math", SOON, SOON + HOUR, 2, opens_at=T0 + HOUR).id
    school.availability.set_schedule(
        TutorSchedule(
            tutor_id="lin",
            timezone="UTC",
            weekly={d: (TimeRange(time(9), time(18)),) for d in range(7)},
        )
    )
    return w


@attrs.define(repr=False)
class Pair:
    """The world under test and its in-memory twin."""

    tested: World
    twin: World
    adapter: str

    def __repr__(self) -> str:
        return f"Pair({self.adapter})"


@pytest.fixture
def pair(store: StoreHandle) -> Iterator[Pair]:
    twin = InMemoryStore()
    yield Pair(
        build_world(store.store, store.snapshot),
        build_world(twin, twin.snapshot),
        store.name,
    )


Command = Callable[[World, Any], object]


def answer(world: World, command: Command, value: Any) -> str:
    refusal = refused_cleanly(world.snapshot, lambda: command(world, value))
    return "ok" if refusal is None else type(refusal).__name__


def check(pair: Pair, command: Command, value: Any) -> None:
    """Same answer on the store under test and on the in-memory twin, each clean."""
    expected = answer(pair.twin, command, value)
    got = answer(pair.tested, command, value)
    assert got == expected, f"{pair.adapter} answered {got}, memory {expected}"


# --- one fuzzed argument per command, the others valid -------------------------------

ID_ARGUMENTS: dict[str, Command] = {
    "create_slot course_id": lambda w, v: w.school.booking.create_slot(v, SOON, SOON + HOUR, 2),
    "create_slot slot_id": lambda w, v: w.school.booking.create_slot(
        "math", SOON, SOON + HOUR, 2, slot_id=v
    ),
    "create_slot tutor_id": lambda w, v: w.school.booking.create_slot(
        "math", SOON, SOON + HOUR, 2, tutor_id=v
    ),
    "create_series course_id": lambda w, v: w.school.booking.create_series(
        v, WEEKLY, SOON, HOUR, 2
    ),
    "create_series series_id": lambda w, v: w.school.booking.create_series(
        "math", WEEKLY, SOON, HOUR, 2, series_id=v
    ),
    "create_series tutor_id": lambda w, v: w.school.booking.create_series(
        "math", WEEKLY, SOON, HOUR, 2, tutor_id=v
    ),
    "book slot_id": lambda w, v: w.school.booking.book(v, "dan"),
    "book student_id": lambda w, v: w.school.booking.book(w.open_slot, v),
    "book_series series_id": lambda w, v: w.school.booking.book_series(v, "dan"),
    "book_series student_id": lambda w, v: w.school.booking.book_series(w.series, v),
    "cancel booking_id": lambda w, v: w.school.booking.cancel(v),
    "cancel_series series_id": lambda w, v: w.school.booking.cancel_series(v, "ann"),
    "cancel_series student_id": lambda w, v: w.school.booking.cancel_series(w.series, v),
    "join_waitlist slot_id": lambda w, v: w.school.booking.join_waitlist(v, "dan"),
    "join_waitlist student_id": lambda w, v: w.school.booking.join_waitlist(w.full_slot, v),
    "leave_waitlist student_id": lambda w, v: w.school.booking.leave_waitlist(w.full_slot, v),
    "accept_offer student_id": lambda w, v: w.school.booking.accept_offer(w.full_slot, v),
    "decline_offer slot_id": lambda w, v: w.school.booking.decline_offer(v, "cat"),
    "change_capacity slot_id": lambda w, v: w.school.booking.change_capacity(v, 3),
    "mark_attended booking_id": lambda w, v: w.school.booking.mark_attended(v),
    "mark_no_show booking_id": lambda w, v: w.school.booking.mark_no_show(v),
    "cancel_slot slot_id": lambda w, v: w.school.booking.cancel_slot(v),
    "get_slot": lambda w, v: w.school.booking.get_slot(v, actor=SYSTEM),
    "get_series": lambda w, v: w.school.booking.get_series(v),
    "get_booking": lambda w, v: w.school.booking.get_booking(v, actor=SYSTEM),
    "bookings_for_student": lambda w, v: w.school.booking.bookings_for_student(v, actor=SYSTEM),
    "waitlist_position slot_id": lambda w, v: w.school.booking.waitlist_position(
        v, "cat", actor=SYSTEM
    ),
    "waitlist_position student_id": lambda w, v: w.school.booking.waitlist_position(
        w.full_slot, v, actor=SYSTEM
    ),
    "availability schedule_of": lambda w, v: w.school.availability.schedule_of(v),
    "availability open_times": lambda w, v: w.school.availability.open_times(
        v, T0, T0 + timedelta(days=2)
    ),
    "availability booked_times": lambda w, v: w.school.availability.booked_times(
        v, T0, T0 + timedelta(days=2)
    ),
    "availability book tutor_id": lambda w, v: w.school.availability.book(v, "ann", SOON),
    "availability book student_id": lambda w, v: w.school.availability.book("lin", v, SOON),
    "availability book_weekly": lambda w, v: w.school.availability.book_weekly(
        "lin", v, SOON + 2 * HOUR, 2
    ),
    "availability cancel": lambda w, v: w.school.availability.cancel(v),
    "availability migrate_calendar": lambda w, v: w.school.availability.migrate_calendar(v),
    "set_schedule tutor_id": lambda w, v: w.school.availability.set_schedule(
        TutorSchedule(tutor_id=v, timezone="UTC")
    ),
    "rush open_queue slot_id": lambda w, v: w.school.rush.open_queue(v, seed="s"),
    "rush open_queue seed": lambda w, v: w.school.rush.open_queue(w.rush_slot, seed=v),
    "rush enter slot_id": lambda w, v: w.school.rush.enter(v, "bob"),
    "rush enter student_id": lambda w, v: w.school.rush.enter(w.rush_slot, v),
    "rush admit": lambda w, v: w.school.rush.admit(v),
    "rush position": lambda w, v: w.school.rush.position(w.rush_slot, v, actor=SYSTEM),
    "school book": lambda w, v: w.school.book(w.open_slot, v),
    "policies cancel": lambda w, v: w.school.policies.cancel(v),
    "policies mark_no_show": lambda w, v: w.school.policies.mark_no_show(v),
    "policies reschedule booking_id": lambda w, v: w.school.policies.reschedule(v, w.full_slot),
    "policies reschedule new_slot_id": lambda w, v: w.school.policies.reschedule(w.booking, v),
    "policies violations": lambda w, v: w.school.policies.violations(v, actor=SYSTEM),
    "policies restriction": lambda w, v: w.school.policies.restriction(v, actor=SYSTEM),
    "policies reschedules_of": lambda w, v: w.school.policies.reschedules_of(v),
    "payments add_method holder_id": lambda w, v: w.school.payments.add_method(v, "acct-1"),
    "payments add_method account": lambda w, v: w.school.payments.add_method("ann", v),
    "fees fees_of": lambda w, v: w.school.fees.fees_of(v, actor=SYSTEM),
    "fees collect": lambda w, v: w.school.fees.collect(v),
    "reminders set_channel student_id": lambda w, v: w.school.reminders.set_channel(v, "sms"),
    "reminders set_channel channel": lambda w, v: w.school.reminders.set_channel("ann", v),
    "reminders pending": lambda w, v: w.school.reminders.pending(v, actor=SYSTEM),
    "ical student_calendar": lambda w, v: w.calendars.student_calendar(v, actor=SYSTEM),
    "ical tutor_calendar": lambda w, v: w.calendars.tutor_calendar(v),
    "feed cursor": lambda w, v: w.school.feed.cursor(v),
    "feed save_cursor": lambda w, v: w.school.feed.save_cursor(v, 1),
}

INT_ARGUMENTS: dict[str, Command] = {
    "create_slot capacity": lambda w, v: w.school.booking.create_slot("math", SOON, SOON + HOUR, v),
    "create_series capacity": lambda w, v: w.school.booking.create_series(
        "math", WEEKLY, SOON, HOUR, v
    ),
    "change_capacity": lambda w, v: w.school.booking.change_capacity(w.open_slot, v),
    "availability book_weekly weeks": lambda w, v: w.school.availability.book_weekly(
        "lin", "dan", SOON + 3 * HOUR, v
    ),
    "rush admit_due batch": lambda w, v: w.school.rush.admit_due(batch=v),
    "fees collect_due batch": lambda w, v: w.school.fees.collect_due(batch=v),
    "reminders due_reminders batch": lambda w, v: w.school.reminders.due_reminders(
        batch=v, actor=SYSTEM
    ),
    "reminders send_due batch": lambda w, v: w.school.reminders.send_due(_Quiet(), batch=v),
    "feed events_since cursor": lambda w, v: w.school.feed.events_since(v),
    "feed events_since limit": lambda w, v: w.school.feed.events_since(0, v),
    "feed prune batch": lambda w, v: w.school.feed.prune(HOUR, batch=v),
    "feed save_cursor position": lambda w, v: w.school.feed.save_cursor("relay", v),
}

INSTANT_ARGUMENTS: dict[str, Command] = {
    "create_slot start": lambda w, v: w.school.booking.create_slot("math", v, SOON + HOUR, 2),
    "create_slot end": lambda w, v: w.school.booking.create_slot("math", SOON, v, 2),
    "create_slot opens_at": lambda w, v: w.school.booking.create_slot(
        "math", SOON, SOON + HOUR, 2, opens_at=v
    ),
    "create_series dtstart": lambda w, v: w.school.booking.create_series(
        "math", WEEKLY, v, HOUR, 2
    ),
    "create_series exdate": lambda w, v: w.school.booking.create_series(
        "math", WEEKLY, SOON, HOUR, 2, exdates=[v]
    ),
    "availability open_times start": lambda w, v: w.school.availability.open_times(
        "lin", v, T0 + timedelta(days=2)
    ),
    "availability open_times end": lambda w, v: w.school.availability.open_times("lin", T0, v),
    "availability booked_times start": lambda w, v: w.school.availability.booked_times(
        "lin", v, T0 + timedelta(days=2)
    ),
    "availability booked_times end": lambda w, v: w.school.availability.booked_times("lin", T0, v),
    "availability book": lambda w, v: w.school.availability.book("lin", "dan", v),
    "availability book_weekly": lambda w, v: w.school.availability.book_weekly("lin", "dan", v, 2),
    "feed prune older_than": lambda w, v: w.school.feed.prune(v),
}

DURATION_ARGUMENTS: dict[str, Command] = {
    "create_slot offer_ttl": lambda w, v: w.school.booking.create_slot(
        "math", SOON, SOON + HOUR, 2, offer_ttl=v
    ),
    "create_series duration": lambda w, v: w.school.booking.create_series(
        "math", WEEKLY, SOON, v, 2
    ),
    "create_series offer_ttl": lambda w, v: w.school.booking.create_series(
        "math", WEEKLY, SOON, HOUR, 2, offer_ttl=v
    ),
    "rush open_queue window": lambda w, v: w.school.rush.open_queue(w.unqueued, seed="s", window=v),
    "set_schedule session": lambda w, v: w.school.availability.set_schedule(
        TutorSchedule(tutor_id="kim", timezone="UTC", session=v)
    ),
    "feed prune age": lambda w, v: w.school.feed.prune(v),
}

TEXT_ARGUMENTS: dict[str, Command] = {
    "cancel reason_code": lambda w, v: w.school.booking.cancel(w.booking, reason_code=v),
    "cancel_slot reason_code": lambda w, v: w.school.booking.cancel_slot(
        w.full_slot, reason_code=v
    ),
    "cancel_series reason_code": lambda w, v: w.school.booking.cancel_series(
        w.series, "ann", reason_code=v
    ),
    "policies cancel reason_code": lambda w, v: w.school.policies.cancel(w.booking, reason_code=v),
    "availability cancel reason_code": lambda w, v: w.school.availability.cancel(
        w.booking, reason_code=v
    ),
    "create_series rrule": lambda w, v: w.school.booking.create_series("math", v, SOON, HOUR, 2),
    "open_times viewer_tz": lambda w, v: w.school.availability.open_times(
        "lin", T0, T0 + timedelta(days=2), viewer_tz=v
    ),
    "set_schedule timezone": lambda w, v: w.school.availability.set_schedule(
        TutorSchedule(tutor_id="kim", timezone=v)
    ),
}


class _Quiet:
    def send(self, reminder: object) -> None:
        pass


@FUZZ
@given(data=st.data())
def test_every_id_argument_is_checked_before_any_store_sees_it(
    pair: Pair, data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(sorted(ID_ARGUMENTS)), label="command")
    value = data.draw(any_id, label="id")
    check(pair, ID_ARGUMENTS[name], value)


@FUZZ
@given(data=st.data())
def test_every_count_and_capacity_is_bounded_the_same_on_every_adapter(
    pair: Pair, data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(sorted(INT_ARGUMENTS)), label="command")
    value = data.draw(bad_ints, label="int")
    check(pair, INT_ARGUMENTS[name], value)


@FUZZ
@given(data=st.data())
def test_every_instant_is_checked_before_any_date_arithmetic(
    pair: Pair, data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(sorted(INSTANT_ARGUMENTS)), label="command")
    value = data.draw(bad_instants, label="instant")
    check(pair, INSTANT_ARGUMENTS[name], value)


@FUZZ
@given(data=st.data())
def test_every_duration_is_checked_before_any_date_arithmetic(
    pair: Pair, data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(sorted(DURATION_ARGUMENTS)), label="command")
    value = data.draw(bad_durations, label="duration")
    check(pair, DURATION_ARGUMENTS[name], value)


@FUZZ
@given(data=st.data())
def test_reason_codes_rules_and_zone_names_are_refused_cleanly(
    pair: Pair, data: st.DataObject
) -> None:
    name = data.draw(st.sampled_from(sorted(TEXT_ARGUMENTS)), label="command")
    value = data.draw(st.one_of(any_text, wrong_type_ids), label="text")
    check(pair, TEXT_ARGUMENTS[name], value)


# --- valid but extreme values work on every adapter ----------------------------------


def test_the_longest_ids_and_the_largest_capacity_work_on_every_adapter(pair: Pair) -> None:
    booking = pair.tested.school.booking
    slot_id, student_id = "s" * MAX_ID_LENGTH, "ü" * MAX_ID_LENGTH
    slot = booking.create_slot(
        "c" * MAX_ID_LENGTH, SOON, SOON + HOUR, MAX_CAPACITY, slot_id=slot_id
    )
    assert slot.id == slot_id and slot.capacity == MAX_CAPACITY
    seat = booking.book(slot_id, student_id)
    assert booking.get_booking(seat.id, actor=SYSTEM).student_id == student_id
    assert booking.get_slot(slot_id, actor=SYSTEM).seats_left == MAX_CAPACITY - 1
    series_id = "w" * MAX_SERIES_ID_LENGTH
    series = booking.create_series("math", WEEKLY, SOON, HOUR, 2, series_id=series_id)
    assert all(len(s) <= MAX_ID_LENGTH for s in series.slot_ids)
    assert len(booking.book_series(series_id, student_id)) == 3


def test_ids_and_capacities_one_past_the_bound_are_refused_on_every_adapter(
    pair: Pair,
) -> None:
    world = pair.tested
    booking = world.school.booking
    for command, error in [
        (lambda: booking.create_slot("m", SOON, SOON + HOUR, 2, slot_id="s" * 129), InvalidId),
        (lambda: booking.create_slot("m", SOON, SOON + HOUR, MAX_CAPACITY + 1), InvalidCapacity),
        (lambda: booking.change_capacity(world.open_slot, 2**63), InvalidCapacity),
        (lambda: booking.book(world.open_slot, "a\x00b"), InvalidId),
        (lambda: booking.book(world.open_slot, "\ud800"), InvalidId),
        (
            lambda: booking.create_series(
                "m", WEEKLY, SOON, HOUR, 2, series_id="w" * (MAX_SERIES_ID_LENGTH + 1)
            ),
            InvalidId,
        ),
        (lambda: booking.create_slot("m", datetime.max.replace(tzinfo=UTC), SOON, 2), OutOfRange),
    ]:
        refusal = refused_cleanly(world.snapshot, command)
        assert isinstance(refusal, error), refusal


def test_the_earliest_and_latest_instants_work_on_every_adapter(pair: Pair) -> None:
    booking = pair.tested.school.booking
    first = EARLIEST + timedelta(days=2)
    last = LATEST - timedelta(days=2)
    early = booking.create_slot("math", first, first + HOUR, 1)
    late = booking.create_slot("math", last - HOUR, last, 1)
    assert booking.get_slot(early.id, actor=SYSTEM).start == first
    assert booking.get_slot(late.id, actor=SYSTEM).end == last
    series = booking.create_series(
        "math", WEEKLY, last - timedelta(days=20), HOUR, 1, exdates=[date(2999, 12, 1)]
    )
    assert len(series.slot_ids) == 3


# --- every argument refuses every kind of bad value, as a 422 --------------------------

NAMED_BAD: list[tuple[dict[str, Command], list[Any]]] = [
    (
        ID_ARGUMENTS,
        [
            *("", "   ", "a\x00b", "tab\tid", "\x1b[31m", "\ud800", "x" * 129, "x" * 1_000_000),
            *(None, 42, ["a"], {"a": 1}, b"bytes", 1.5),
        ],
    ),
    (INT_ARGUMENTS, [-1, -(2**63), 2**63, 10**30, True, 1.0, math.nan, Decimal("NaN"), "3", None]),
    (
        INSTANT_ARGUMENTS,
        [
            datetime.max,
            datetime.max.replace(tzinfo=UTC),
            datetime.min.replace(tzinfo=UTC),
            datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=23))),
            datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-23))),
            datetime(2026, 3, 2, 9, 0),
            None,
            "2026-03-02T09:00:00Z",
        ],
    ),
    (
        DURATION_ARGUMENTS,
        [timedelta.max, timedelta.min, timedelta(days=-1), None, 60, 1.5, "PT1H"],
    ),
]

#: arguments where None is a valid answer ("make one up", "no opening time")
OPTIONAL = {
    "create_slot slot_id",
    "create_slot tutor_id",
    "create_slot opens_at",
    "create_series series_id",
    "create_series tutor_id",
}


def refusals(world: World) -> list[str]:
    """Every named bad value through every command of its group; what each answered."""
    before = world.snapshot()
    answers = []
    for commands, values in NAMED_BAD:
        for name, command in sorted(commands.items()):
            for value in values:
                if value is None and name in OPTIONAL:
                    continue
                try:
                    command(world, value)
                except InvalidInput as refusal:
                    answers.append(f"{name}: {type(refusal).__name__}")
                    continue
                raise AssertionError(f"{name} took {value!r:.60}")
    assert world.snapshot() == before, "a refused command changed the store"
    return answers


def test_every_argument_refuses_every_kind_of_bad_value_the_same_on_every_adapter(
    pair: Pair,
) -> None:
    assert refusals(pair.tested) == refusals(pair.twin)
