"""Journeys under a random history, on every adapter: each student passes each step at
most once, never inside quiet hours, never over the frequency cap, and a sweep run twice
or by two workers at once sends nothing twice (issue #26)."""

from __future__ import annotations

import itertools
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eduengine import FixedClock, School
from eduengine.growth import JourneyStepTaken
from eduengine.growth.journeys import FrequencyCap, Journey, SendNotice, Step, Trigger
from eduengine.notices import QuietHours
from eduengine.people import SYSTEM
from tests.adapters import StoreHandle
from tests.conftest import T0

RUNS = itertools.count()
QUIET = QuietHours(time(22, 0), time(8, 0))
CAP = FrequencyCap(count=2, window=timedelta(days=1))

operation = st.one_of(
    st.tuples(st.just("register"), st.integers(0, 3)),
    st.tuples(st.just("buy"), st.integers(0, 3)),
    st.tuples(st.just("book"), st.integers(0, 3)),
    st.tuples(st.just("wait"), st.integers(1, 30)),  # hours
    st.tuples(st.just("sweep"), st.integers(1, 2)),  # run once, or twice in a row
    st.tuples(st.just("workers"), st.just(2)),  # two sweeps at once
)


def journeys(run: int) -> list[Journey]:
    def step(name: str, after: timedelta = timedelta(0)) -> Step:
        return Step(
            name=name,
            after=after,
            action=SendNotice(template="nudge", channel="sms", language="en"),
        )

    return [
        Journey(
            key=f"r{run}-welcome",
            trigger=Trigger.registered_no_purchase(days=1),
            steps=[step("first"), step("again", timedelta(hours=20))],
            quiet_hours=QUIET,
            cap=CAP,
        ),
        Journey(
            key=f"r{run}-idle",
            trigger=Trigger.no_lesson_booked(days=1),
            steps=[step("first")],
            quiet_hours=QUIET,
            cap=CAP,
        ),
        Journey(
            key=f"r{run}-activate",
            trigger=Trigger.package_not_activated(days=1),
            steps=[step("first")],
            quiet_hours=QUIET,
            cap=CAP,
        ),
    ]


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=st.lists(operation, min_size=1, max_size=25))
def test_random_history_keeps_once_quiet_hours_and_cap(
    store: StoreHandle, history: list[tuple[str, int]]
) -> None:
    run = next(RUNS)
    clock = FixedClock(T0 + timedelta(days=400 * run, hours=run % 24))
    school = School.build(store, clock=clock, journeys=journeys(run))
    school.templates.save("nudge", "sms", "en", "Hi {{ student.name }}")
    slot = school.booking.create_slot(
        "c", clock.now() + timedelta(days=300), clock.now() + timedelta(days=300, hours=1), 99
    )
    students = [f"r{run}-s{n}" for n in range(4)]
    registered: set[str] = set()
    booked: set[str] = set()
    start = school.feed.head()
    for op, arg in history:
        sid = students[arg % 4]
        if op == "register" and sid not in registered:
            school.students.register(sid, name=sid)
            registered.add(sid)
        elif op == "buy" and sid in registered:
            school.students.buy_package(sid, credits=3, valid_for=timedelta(days=30))
        elif op == "book" and sid in registered and sid not in booked:
            school.booking.book(slot.id, sid)
            booked.add(sid)
        elif op == "wait":
            clock.advance(timedelta(hours=arg))
        elif op == "sweep":
            for _ in range(arg):
                school.journeys.sweep_due()
        elif op == "workers":
            with ThreadPoolExecutor(2) as pool:
                list(pool.map(lambda _: school.journeys.sweep_due(), range(2)))
    clock.advance(timedelta(days=5))
    school.journeys.sweep_due()

    taken = [e for e in _events(school, start) if isinstance(e, JourneyStepTaken)]
    keys = Counter((e.journey, e.step, e.student_id) for e in taken)
    assert all(n == 1 for n in keys.values()), keys  # each student through a step once
    for event in taken:
        assert QUIET.ends(event.occurred_at) is None, event  # never in quiet hours (UTC)
        mine = [e.occurred_at for e in taken if e.student_id == event.student_id]
        in_window = [t for t in mine if event.occurred_at - CAP.window < t <= event.occurred_at]
        assert len(in_window) <= CAP.count, mine  # never over the cap
    # and each step planned its notice once
    for sid in registered:
        notices = [n for n in school.notices.for_student(sid, actor=SYSTEM) if n.kind == "journey"]
        assert len(notices) == len({n.id for n in notices}) == keys_for(keys, sid)


def keys_for(keys: Counter[tuple[str, str, str]], student_id: str) -> int:
    return sum(1 for (_, _, sid) in keys if sid == student_id)


def _events(school: School, start: int) -> list[object]:
    found: list[object] = []
    cursor = start
    while True:
        batch = school.feed.events_since(cursor, limit=500)
        if not batch:
            return found
        found += [envelope.event for envelope in batch]
        position = batch[-1].position
        assert position is not None
        cursor = position
