"""The page queries (``school.queries``) on every adapter, against a brute-force filter of
every slot and booking in the store, and their keyset pages under concurrent writes."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eduengine import FixedClock, School
from eduengine.booking.model import Booking, BookingStatus, Slot
from eduengine.booking.queries import Lesson
from eduengine.booking.timetable import SlotSummary, summary_of
from eduengine.errors import (
    CalendarTokenNotFound,
    InvalidInput,
    InvalidTimeRange,
    SlotNotFound,
)
from eduengine.kernel.codec import micros
from eduengine.people import SYSTEM
from eduengine.students import Actor
from tests.adapters import StoreHandle

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
EXAMPLE = itertools.count()
TOKYO = ZoneInfo("Asia/Tokyo")

slot_specs = st.lists(
    st.tuples(
        st.sampled_from(["math", "art"]),  # course
        st.sampled_from([None, "tia", "tom"]),  # tutor
        st.integers(0, 72),  # start, hours after the example's origin
        st.integers(1, 3),  # capacity
    ),
    min_size=1,
    max_size=8,
)
seat_ops = st.lists(
    st.tuples(
        st.sampled_from(["book", "wait", "cancel"]),
        st.integers(0, 7),  # slot, by index (modulo the slots made)
        st.sampled_from(["ann", "bob", "cy"]),
    ),
    max_size=10,
)
timetable_queries = st.lists(
    st.tuples(
        st.integers(-2, 74),  # range start (hours)
        st.integers(1, 80),  # range length (hours)
        st.sampled_from([None, "math", "art"]),
        st.sampled_from([None, "tia", "tom"]),
        st.integers(1, 4),  # page size
    ),
    min_size=1,
    max_size=4,
)


def all_slots(school: School) -> list[Slot]:
    def read(uow: Any, now: datetime) -> list[Slot]:
        return [s.clone() for s in uow.slots.get_many(uow.slots.list_ids())]

    return school.queries._run(read, write=False)


def every_page(first: Any, more: Any) -> list[Any]:
    page = first()
    out = list(page.items)
    while page.next is not None:
        assert len(page.items) > 0
        page = more(page.next)
        out.extend(page.items)
    return out


def key(s: SlotSummary) -> tuple[int, str]:
    return micros(s.start), s.slot_id


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=slot_specs, ops=seat_ops, queries=timetable_queries, now_h=st.integers(0, 72))
def test_the_page_queries_answer_what_a_brute_force_filter_of_every_slot_answers(
    store: StoreHandle,
    specs: list[tuple[str, str | None, int, int]],
    ops: list[tuple[str, int, str]],
    queries: list[tuple[int, int, str | None, str | None, int]],
    now_h: int,
) -> None:
    n = next(EXAMPLE)
    # every example has its own week, courses, tutors and students: the store outlives it
    origin = T0 + timedelta(days=10 * n)
    clock = FixedClock(origin - timedelta(hours=1))
    school = School.build(store.store, clock=clock, reminders=None)
    ids = []
    for i, (course, tutor, hour, capacity) in enumerate(specs):
        start = origin + timedelta(hours=hour)
        school.booking.create_slot(
            f"{course}{n}",
            start,
            start + timedelta(minutes=50),
            capacity,
            tutor_id=None if tutor is None else f"{tutor}{n}",
            slot_id=f"e{n}-s{i}",
        )
        ids.append(f"e{n}-s{i}")
    for op, index, student in ops:
        slot_id, student_id = ids[index % len(ids)], f"{student}{n}"
        try:
            if op == "book":
                school.booking.book(slot_id, student_id)
            elif op == "wait":
                school.booking.join_waitlist(slot_id, student_id)
            else:
                held = [
                    b
                    for b in school.booking.bookings_for_student(student_id, actor=SYSTEM)
                    if b.slot_id == slot_id and b.holds_seat
                ]
                if held:
                    school.booking.cancel(held[0].id)
        except InvalidInput:
            pass
        except Exception as exc:  # a full slot, a seat already held: refusals
            assert type(exc).__module__ == "eduengine.errors"

    slots = all_slots(school)
    for lo_h, length, q_course, q_tutor, size in queries:
        lo = origin + timedelta(hours=lo_h)
        hi = lo + timedelta(hours=length)
        want_course = None if q_course is None else f"{q_course}{n}"
        want_tutor = None if q_tutor is None else f"{q_tutor}{n}"
        expected = sorted(
            (
                summary_of(s).in_zone(TOKYO)
                for s in slots
                if lo <= s.start < hi
                and (want_course is None or s.course_id == want_course)
                and (want_tutor is None or s.tutor_id == want_tutor)
            ),
            key=key,
        )

        def first(
            lo: datetime = lo,
            hi: datetime = hi,
            c: Any = want_course,
            t: Any = want_tutor,
            size: int = size,
        ) -> Any:
            return school.queries.timetable(
                start=lo, end=hi, course_id=c, tutor_id=t, zone="Asia/Tokyo", limit=size
            )

        def more(
            after: str,
            lo: datetime = lo,
            hi: datetime = hi,
            c: Any = want_course,
            t: Any = want_tutor,
            size: int = size,
        ) -> Any:
            return school.queries.timetable(
                start=lo, end=hi, course_id=c, tutor_id=t, zone=TOKYO, limit=size, after=after
            )

        found = every_page(first, more)
        assert found == expected
        assert all(s.start.tzinfo == TOKYO for s in found)

    # a student's timetable and history: every booking of theirs, split at "now"
    clock.set(origin + timedelta(hours=now_h))
    by_id = {s.id: s for s in slots}
    for student in ("ann", "bob", "cy"):
        student_id = f"{student}{n}"
        bookings: list[Booking] = school.booking.bookings_for_student(student_id, actor=SYSTEM)
        now = clock.now()

        def lesson(b: Booking) -> Lesson:
            return Lesson(
                booking_id=b.id,
                status=b.status.value,
                series_id=b.series_id,
                slot=summary_of(by_id[b.slot_id]),
            )

        upcoming = sorted(
            (
                lesson(b)
                for b in bookings
                if b.status is not BookingStatus.CANCELLED and by_id[b.slot_id].end > now
            ),
            key=lambda x: (micros(x.slot.start), x.booking_id),
        )
        past = sorted(
            (lesson(b) for b in bookings if lesson(b) not in upcoming),
            key=lambda x: (micros(x.slot.start), x.booking_id),
            reverse=True,
        )
        got = every_page(
            lambda sid=student_id: school.queries.student_timetable(sid, limit=2, actor=SYSTEM),
            lambda after, sid=student_id: school.queries.student_timetable(
                sid, limit=2, after=after, actor=SYSTEM
            ),
        )
        assert got == upcoming
        got = every_page(
            lambda sid=student_id: school.queries.student_history(sid, limit=1, actor=SYSTEM),
            lambda after, sid=student_id: school.queries.student_history(
                sid, limit=1, after=after, actor=SYSTEM
            ),
        )
        assert got == past

    # a tutor's week: Monday to Sunday in the viewer's zone
    for tutor in ("tia", "tom"):
        tutor_id = f"{tutor}{n}"
        day = (origin + timedelta(days=1)).astimezone(TOKYO).date()
        monday = datetime.combine(day - timedelta(days=day.weekday()), datetime.min.time(), TOKYO)
        week = [
            summary_of(s).in_zone(TOKYO)
            for s in slots
            if s.tutor_id == tutor_id and monday <= s.start < monday + timedelta(days=7)
        ]
        assert school.queries.tutor_week(tutor_id, day, zone="Asia/Tokyo") == sorted(week, key=key)


def test_pages_neither_repeat_nor_skip_a_slot_while_slots_are_added_and_booked(
    store: StoreHandle,
) -> None:
    school = School.build(store.store, clock=FixedClock(T0), reminders=None)
    for i in range(0, 20, 2):
        start = T0 + timedelta(hours=1 + i)
        school.booking.create_slot("bio", start, start + timedelta(hours=1), 2, slot_id=f"b{i:02}")
    day: dict[str, Any] = {
        "start": T0,
        "end": T0 + timedelta(days=2),
        "course_id": "bio",
        "limit": 3,
    }
    page = school.queries.timetable(**day)
    seen = [s.slot_id for s in page]
    odd = 1
    while page.next is not None:
        # writes between pages: a booking, and a slot before and after the cursor
        school.booking.book(seen[-1], f"st{odd}")
        for i in (odd, odd + 20):
            start = T0 + timedelta(hours=1 + i)
            school.booking.create_slot(
                "bio", start, start + timedelta(hours=1), 2, slot_id=f"b{i:02}"
            )
        odd += 2
        page = school.queries.timetable(**day, after=page.next)
        seen.extend(s.slot_id for s in page)
    assert len(seen) == len(set(seen))
    # every slot there from the start is seen once, in order
    assert [s for s in seen if s in {f"b{i:02}" for i in range(0, 20, 2)}] == [
        f"b{i:02}" for i in range(0, 20, 2)
    ]


def test_a_summary_shows_seats_and_waitlist_but_no_roster(store: StoreHandle) -> None:
    school = School.build(store.store, clock=FixedClock(T0), reminders=None)
    opens = T0 + timedelta(hours=1)
    start = T0 + timedelta(days=1)
    school.booking.create_slot("py", start, start + timedelta(hours=1), 1, slot_id="p1")
    school.booking.create_slot(
        "py", start, start + timedelta(hours=1), 1, slot_id="p2", opens_at=opens
    )
    school.booking.book("p1", "ann")
    school.booking.join_waitlist("p1", "bob")
    page = school.queries.timetable(start=T0, end=T0 + timedelta(days=2), course_id="py")
    first, second = page.items
    assert (first.seats_left, first.waitlist_length, first.is_full) == (0, 1, True)
    assert (second.seats_left, second.opens_at) == (1, opens)
    assert "ann" not in repr(page) and "bob" not in repr(page)
    assert set(first.as_dict()) == {
        "slot_id",
        "course_id",
        "tutor_id",
        "start",
        "end",
        "capacity",
        "seats_left",
        "waitlist_length",
        "opens_at",
        "status",
    }


def test_the_timetable_of_a_room_lists_the_lessons_filed_in_it(store: StoreHandle) -> None:
    from eduengine.booking.rooms import file_room

    school = School.build(store.store, clock=FixedClock(T0), reminders=None)
    for i in range(3):
        start = T0 + timedelta(hours=2 + i)
        school.booking.create_slot("py", start, start + timedelta(hours=1), 1, slot_id=f"r{i}")
    with store.unit_of_work() as uow:
        file_room(uow, "r2", "lab-1", T0 + timedelta(hours=4))
        file_room(uow, "r0", "lab-1", T0 + timedelta(hours=2))
        file_room(uow, "r1", "lab-2", T0 + timedelta(hours=3))
        uow.commit()
    found = school.queries.timetable(start=T0, end=T0 + timedelta(days=1), room="lab-1")
    assert [s.slot_id for s in found] == ["r0", "r2"]


def test_bad_query_input_is_refused_with_a_typed_error(store: StoreHandle) -> None:
    school = School.build(store.store, clock=FixedClock(T0), reminders=None)
    q = school.queries
    with pytest.raises(InvalidTimeRange):
        q.timetable(start=T0, end=T0)
    with pytest.raises(InvalidInput):
        q.timetable(start=T0, end=T0 + timedelta(days=1), zone="Mars/Olympus")
    with pytest.raises(InvalidInput):
        q.timetable(start=T0, end=T0 + timedelta(days=1), after="not a cursor!")
    with pytest.raises(InvalidInput):
        q.timetable(start=T0, end=T0 + timedelta(days=1), limit=0)
    with pytest.raises(InvalidInput):
        q.timetable(start=T0.replace(tzinfo=None), end=T0 + timedelta(days=1))
    with pytest.raises(InvalidInput):
        q.tutor_week("tia", date(2026, 3, 2))  # a date needs a zone


def test_a_snapshot_reads_the_stream_before_the_state(store: StoreHandle) -> None:
    school = School.build(store.store, clock=FixedClock(T0), reminders=None)
    start = T0 + timedelta(days=1)
    school.booking.create_slot("py", start, start + timedelta(hours=1), 3, slot_id="live")
    school.booking.book("live", "ann")
    shot = school.queries.snapshot("live")
    assert shot.sequence == store.store.stream_sequence("slot:live") > 0
    assert shot.position == store.store.feed_head() > 0
    assert shot.slot.seats_left == 2
    message = shot.as_message()
    assert message["data"]["seats_left"] == 2 and message["sequence"] == shot.sequence
    with pytest.raises(SlotNotFound):
        school.queries.snapshot("nowhere")

    # a commit landing between the stream read and the state read shows in the state
    # (never the other way round): the sequence is at most the state's
    order: list[str] = []
    queries = school.queries
    sequence_of = queries._sequence_of
    assert sequence_of is not None

    def spy(stream: str) -> int:
        order.append("sequence")
        value = sequence_of(stream)
        school.booking.book("live", "bob")  # lands after the sequence was read
        return value

    queries._sequence_of = spy
    later = queries.snapshot("live")
    assert later.sequence < store.store.stream_sequence("slot:live")
    assert later.slot.seats_left == 1  # the state already shows bob's seat


def test_feed_tokens_open_the_owners_feed_until_rotated_revoked_or_erased(
    store: StoreHandle,
) -> None:
    school = School.build(store.store, clock=FixedClock(T0), reminders=None)
    start = T0 + timedelta(days=1)
    school.booking.create_slot(
        "py", start, start + timedelta(hours=1), 3, slot_id="c1", tutor_id="tia"
    )
    school.booking.book("c1", "ann")
    school.students.register("ann", name="Ann")
    cal = school.calendar
    token = cal.student_feed_token("ann")
    assert len(token) >= 40
    assert cal.feed_for_token(token) == cal.student_calendar("ann", actor=SYSTEM)
    tutor = cal.tutor_feed_token("tia")
    assert cal.feed_for_token(tutor) == cal.tutor_calendar("tia")
    assert cal.feed_owner(tutor) == ("tutor", "tia")
    # the store keeps no token, only its digest
    assert token not in repr(store.snapshot())
    rotated = cal.student_feed_token("ann")
    assert rotated != token
    with pytest.raises(CalendarTokenNotFound):
        cal.feed_for_token(token)
    assert cal.feed_for_token(rotated)
    assert cal.revoke_feed_token("tutor", "tia") is True
    assert cal.revoke_feed_token("tutor", "tia") is False
    with pytest.raises(CalendarTokenNotFound):
        cal.feed_for_token(tutor)
    with pytest.raises(CalendarTokenNotFound):
        cal.feed_for_token("x" * 43)
    with pytest.raises(InvalidInput):
        cal.revoke_feed_token("parent", "ann")
    # erasing the student kills their feed URL (the token is a key to their data)
    report = school.students.erase(Actor(id="dpo", role="admin"), "ann")
    assert report.removed["calendar_tokens"] == 1
    with pytest.raises(CalendarTokenNotFound):
        cal.feed_for_token(rotated)


def test_a_timetable_snapshot_gives_the_feed_position_read_before_its_page(
    store: StoreHandle,
) -> None:
    school = School.build(store.store, clock=FixedClock(T0), reminders=None)
    start = T0 + timedelta(days=1)
    school.booking.create_slot("py", start, start + timedelta(hours=1), 2, slot_id="t1")
    window: dict[str, Any] = {"start": T0, "end": T0 + timedelta(days=2), "course_id": "py"}
    queries = school.queries
    head = queries._feed_head
    assert head is not None

    def spy() -> int:
        value = head()
        school.booking.book("t1", "ann")  # commits after the position was read
        return value

    queries._feed_head = spy
    shot = queries.timetable_snapshot(**window)
    assert shot.position < store.store.feed_head()
    assert [s.seats_left for s in shot.page] == [1]  # the page already shows ann's seat
