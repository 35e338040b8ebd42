"""A segment on stages or tags walks only the index of the smallest of them (issue #26):
whatever the history, its pages hold exactly the students a check of every registered
student finds, in registration order, and an upgraded store gets the indexes from
``reindex``."""

from __future__ import annotations

import itertools
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eduengine import FixedClock, School
from eduengine.growth.segments import ROSTER, Segment, file_roster
from eduengine.people import SYSTEM
from eduengine.students import TagRule
from tests.adapters import StoreHandle
from tests.conftest import T0

TAGS = ["vip", "math", "art"]
SEGMENTS = [
    Segment(tags_any={"vip"}),
    Segment(tags_any={"vip", "art"}),
    Segment(tags_all={"vip", "math"}),
    Segment(tags_all={"math"}, tags_none={"art"}),
    Segment(stages={"registered"}),
    Segment(stages={"churned", "first_purchase"}, tags_any={"math"}),
    Segment(stages={"churned"}),
    Segment(tags_none={"vip"}),
]

RUNS = itertools.count()

steps = st.lists(
    st.one_of(
        st.tuples(st.just("register"), st.integers(0, 11)),
        st.tuples(st.just("tag"), st.integers(0, 11), st.sampled_from(TAGS)),
        st.tuples(st.just("untag"), st.integers(0, 11), st.sampled_from(TAGS)),
        st.tuples(st.just("buy"), st.integers(0, 11)),
        st.tuples(st.just("wait"), st.integers(1, 40)),
    ),
    max_size=30,
)


def every_student(school: School, store: StoreHandle, segment: Segment) -> list[str]:
    """The brute force: each registered student checked, in registration order."""
    with store.unit_of_work() as uow:
        ranked = sorted((roster["place"], key) for key, roster in uow.records.list(ROSTER))
        now = school.clock.now()
        return [k for _, k in ranked if school.segments.in_segment(uow, segment, k, now)]


def paged(school: School, segment: Segment, limit: int) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page = school.segments.page(segment, after=cursor, limit=limit, actor=SYSTEM)
        seen += page.student_ids
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=st.integers(1, 8), history=steps, limit=st.integers(1, 4))
def test_pages_hold_exactly_the_students_a_full_check_finds(
    store: StoreHandle, first: int, history: list[tuple[object, ...]], limit: int
) -> None:
    run = next(RUNS)  # the store outlives an example: fresh students each time
    clock = FixedClock(T0)
    school = School.build(
        store,
        clock=clock,
        notices=None,
        reminders=None,
        tag_rules=[TagRule.inactive_for("idle", 20)],
    )
    registered = [f"r{run}-s{n:02d}" for n in range(first)]
    for sid in registered:
        school.students.register(sid, name=sid)
    for step in history:
        kind = step[0]
        if kind == "wait":
            clock.advance(timedelta(days=int(str(step[1]))))
            school.segments.sweep_due()
            continue
        if kind == "register":
            registered.append(f"r{run}-s{len(registered):02d}")
            school.students.register(registered[-1], name="new")
            continue
        sid = registered[int(str(step[1])) % len(registered)]
        if kind == "tag":
            school.students.tag(sid, str(step[2]))
        elif kind == "untag":
            school.students.untag(sid, str(step[2]))
        elif kind == "buy":
            school.students.buy_package(sid, credits=1, valid_for=timedelta(days=30))
    for segment in SEGMENTS:
        assert paged(school, segment, limit) == every_student(school, store, segment), segment


def test_a_store_filed_before_the_indexes_gets_them_from_reindex(store: StoreHandle) -> None:
    clock = FixedClock(T0)
    school = School.build(store, clock=clock, notices=None, reminders=None)
    for n in range(5):
        school.students.register(f"s{n}", name=f"S{n}")
    for n in (1, 3):
        school.students.tag(f"s{n}", "vip")
    school.projections.flush()  # the rosters filed, before they are filed the old way
    with store.unit_of_work() as uow:
        for key, roster in uow.records.list(ROSTER):
            file_roster(uow, key, roster, None)  # as an older release filed it
        uow.commit()
    vip = Segment(tags_any={"vip"})
    assert (
        school.segments.page(vip, actor=SYSTEM).student_ids == ()
    )  # the tag index is not there yet
    assert school.segments.reindex() == 5
    assert school.segments.page(vip, actor=SYSTEM).student_ids == ("s1", "s3")
