"""Open times from the window read agree with open times over every lesson (brute force),
on every adapter: lessons that began before the window, longer sessions from an earlier
schedule, buffers, daily caps and DST included."""

from __future__ import annotations

import contextlib
import itertools
from datetime import UTC, datetime, time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eduengine import FixedClock
from eduengine.availability import AvailabilityService, BusyIndex, TimeRange, TutorSchedule
from eduengine.availability.model import open_times
from eduengine.errors import TimeNotAvailable
from tests.adapters import StoreHandle
from tests.availability.helpers import lesson_rows

# 29 March 2026: London springs forward, inside the span the examples cover
T0 = datetime(2026, 3, 27, tzinfo=UTC)
FRESH = itertools.count()
FIVE = timedelta(minutes=5)
MINUTES = st.integers(0, 5 * 24 * 60 // 5).map(lambda n: n * 5)
ON_GRID = st.integers(0, 5 * 24 * 2).map(lambda n: n * 30)  # every step divides 30 min

ops = st.lists(
    st.one_of(
        st.tuples(st.just("book"), ON_GRID),
        st.tuples(st.just("cancel"), st.integers(0, 30)),
        st.tuples(st.just("book"), ON_GRID),
    ),
    max_size=12,
)
SESSIONS = st.sampled_from([15, 30, 50, 90, 240, 600])


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tz=st.sampled_from(["Europe/London", "Asia/Kolkata", "America/New_York"]),
    step=st.sampled_from([15, 30]),
    before=st.sampled_from([0, 10]),
    after=st.sampled_from([0, 5, 30]),
    cap=st.none() | st.integers(1, 3),
    sessions=st.tuples(SESSIONS, SESSIONS),
    first_ops=ops,
    then_ops=ops,
    windows=st.lists(
        st.tuples(MINUTES, st.integers(1, 36 * 12).map(lambda n: n * 5)), min_size=1, max_size=5
    ),
)
def test_the_window_read_agrees_with_every_lesson(
    store: StoreHandle,
    tz: str,
    step: int,
    before: int,
    after: int,
    cap: int | None,
    sessions: tuple[int, int],
    first_ops: list[tuple[str, int]],
    then_ops: list[tuple[str, int]],
    windows: list[tuple[int, int]],
) -> None:
    tutor = f"t{next(FRESH)}"  # the store outlives one example: a tutor of its own
    clock = FixedClock(T0 - timedelta(hours=1))
    desk = AvailabilityService(store.unit_of_work, clock=clock)

    def schedule(session: int) -> TutorSchedule:
        return TutorSchedule(
            tutor_id=tutor,
            timezone=tz,
            weekly={d: (TimeRange(time(0), time(23, 55)),) for d in range(7)},
            session=timedelta(minutes=session),
            step=timedelta(minutes=step),
            buffer_before=timedelta(minutes=before),
            buffer_after=timedelta(minutes=after),
            max_per_day=cap,
        )

    booked: list[str] = []
    # lessons booked under a first session stay when the session changes
    for session, ops in zip(sessions, (first_ops, then_ops), strict=True):
        desk.set_schedule(schedule(session))
        for op, n in ops:
            if op == "book":
                with contextlib.suppress(TimeNotAvailable):
                    booked.append(desk.book(tutor, "ann", T0 + timedelta(minutes=n)).booking.id)
            elif booked:
                desk.cancel(booked.pop(n % len(booked)))
    every = BusyIndex(lesson_rows(store.unit_of_work, tutor))
    current = desk.schedule_of(tutor)
    clock.advance(timedelta(hours=2))  # some lessons have begun, before every window
    spans = [
        (T0 + timedelta(minutes=offset), T0 + timedelta(minutes=offset + length))
        for offset, length in windows
    ]
    # and windows that open inside a lesson, or earlier or later on its day (a daily cap
    # counts it)
    for lesson in list(every)[:6]:
        middle = lesson.start + (lesson.end - lesson.start) / 2
        spans += [
            (middle, middle + timedelta(hours=1)),
            (lesson.end + timedelta(hours=7), lesson.end + timedelta(hours=8)),
            (lesson.start - timedelta(hours=8), lesson.start - timedelta(hours=7)),
        ]
        # windows ending just before this lesson and its buffers, which block their last starts
        spans += [
            (lesson.start - timedelta(hours=12), lesson.start - current.session - k * FIVE)
            for k in range(8)
        ]
    for start, end in spans:
        windowed = desk.open_times(tutor, start, end)
        brute = open_times(current, every, start, end, now=clock.now())
        assert windowed == brute, (start, end)
