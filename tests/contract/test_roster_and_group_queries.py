"""The roster and a campaign's forming groups (``school.queries``) on every adapter,
against a brute-force filter of every document in the store, and the keyset pages of
every paged query of ``school.queries`` while writes go on between two pages."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eduengine import FixedClock, School
from eduengine.booking.rooms import file_room
from eduengine.booking.timetable import Page, summary_of
from eduengine.deals import GroupDeal, GroupDealCampaign, GroupState
from eduengine.deals.queries import OpenGroup
from eduengine.deals.records import GROUPS
from eduengine.errors import (
    AccessDenied,
    CampaignNotFound,
    EduEngineError,
    GroupNotFound,
    InvalidInput,
    NotFound,
    SlotNotFound,
)
from eduengine.payments import FakePaymentGateway
from eduengine.pricing import Money
from eduengine.students import Actor, SchoolClass
from eduengine.students.roster import RosterEntry
from tests.adapters import StoreHandle
from tests.payers import method_for

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
EXAMPLE = itertools.count()
SYSTEM = Actor(id="sys", role="system")
OFFICE = Actor(id="u-office", role="academic")
STRANGER = Actor(id="u-stranger", role="marketing")
TOKYO = ZoneInfo("Asia/Tokyo")
STUDENTS = ["ann", "bob", "cy", "dee", "eve", "fay"]

T = TypeVar("T")


def every_page(read: Callable[[str | None], Page[T]]) -> list[T]:
    page = read(None)
    out = list(page.items)
    while page.next is not None:
        assert len(page.items) > 0
        page = read(page.next)
        out.extend(page.items)
    return out


def school_for(store: StoreHandle, clock: FixedClock) -> School:
    return School.build(
        store.store, clock=clock, reminders=None, gateway=FakePaymentGateway(), risk_rules=[]
    )


# --- the roster ------------------------------------------------------------------------

roster_ops = st.lists(
    st.tuples(
        st.sampled_from(["book", "cancel", "attended", "no_show"]),
        st.integers(0, 2),  # slot
        st.sampled_from(STUDENTS),
    ),
    max_size=14,
)


@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    registered=st.sets(st.sampled_from(STUDENTS)),
    members=st.sets(st.sampled_from(STUDENTS)),
    ops=roster_ops,
    size=st.integers(1, 4),
)
def test_the_roster_answers_what_the_slot_and_the_class_hold(
    store: StoreHandle,
    registered: set[str],
    members: set[str],
    ops: list[tuple[str, int, str]],
    size: int,
) -> None:
    n = next(EXAMPLE)
    clock = FixedClock(T0 + timedelta(days=10 * n))
    school = school_for(store, clock)
    ids = {s: f"{s}-r{n}" for s in STUDENTS}
    for s in sorted(registered | members):
        school.students.register(ids[s], name=f"Name {s}", phone=f"1380000{n:04}")
    class_id = f"class-r{n}"
    school.students.create_class(SchoolClass(id=class_id, name="A", capacity=10))
    for s in sorted(members):
        school.students.assign(ids[s], class_id)
    start = clock.now() + timedelta(hours=1)
    slots = [
        school.booking.create_slot("math", start, start + timedelta(hours=1), 4).id
        for _ in range(3)
    ]
    for op, index, student in ops:
        slot_id, student_id = slots[index], ids[student]
        seats = [
            b
            for b in school.booking.bookings_for_student(student_id, actor=SYSTEM)
            if b.slot_id == slot_id and b.holds_seat
        ]
        try:
            if op == "book":
                school.book(slot_id, student_id)
            elif seats and op == "cancel":
                school.cancel(seats[0].id)
            elif seats and op == "attended":
                school.booking.mark_attended(seats[0].id)
            elif seats:
                school.booking.mark_no_show(seats[0].id)
        except EduEngineError:
            pass  # a full slot, a seat already held, attendance marked: refusals

    def brute(slot_id: str | None, with_class: bool) -> list[RosterEntry]:
        seats = {}
        if slot_id is not None:
            seats = {
                b.student_id: b
                for s in STUDENTS
                for b in school.booking.bookings_for_student(ids[s], actor=SYSTEM)
                if b.slot_id == slot_id and b.status.value != "cancelled"
            }
        who = {ids[s] for s in members} if with_class else set(seats)
        by_id = {v: k for k, v in ids.items()}
        out = []
        for sid in sorted(who):
            known = by_id[sid] in registered | members
            seat = seats.get(sid)
            out.append(
                RosterEntry(
                    student_id=sid,
                    name=f"Name {by_id[sid]}" if known else None,
                    phone=f"1380000{n:04}" if known else None,
                    email=None,
                    booking_id=None if seat is None else seat.id,
                    status=None if seat is None else seat.status.value,
                )
            )
        return out

    for slot_id in slots:
        got = every_page(
            functools.partial(
                lambda sid, after: school.queries.roster(
                    actor=SYSTEM, slot_id=sid, limit=size, after=after
                ),
                slot_id,
            )
        )
        assert got == brute(slot_id, False)
    got = every_page(
        lambda after: school.queries.roster(
            actor=SYSTEM, class_id=class_id, slot_id=slots[0], limit=size, after=after
        )
    )
    assert got == brute(slots[0], True)
    got = every_page(
        lambda after: school.queries.roster(
            actor=SYSTEM, class_id=class_id, limit=size, after=after
        )
    )
    assert got == brute(None, True)


def test_a_roster_masks_by_the_actors_field_set_and_audits_only_the_page(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = school_for(store, clock)
    start = clock.now() + timedelta(days=1)
    slot = school.booking.create_slot("math", start, start + timedelta(hours=1), 5)
    for s in ("ann", "bob", "cy"):
        school.students.register(s, name=f"{s.title()} Lee", phone="13812341234")
        school.book(slot.id, s)
    page = school.queries.roster(actor=OFFICE, slot_id=slot.id, limit=2)
    assert [(r.student_id, r.phone) for r in page] == [
        ("ann", "13812341234"),
        ("bob", "13812341234"),
    ]
    # one audit row per student shown whole: cy is on the next page, not read yet
    audit = school.people.audit_log(actor=SYSTEM, actor_id=OFFICE.id, limit=100).entries
    assert sorted((e.student_id, e.action) for e in audit) == [("ann", "read"), ("bob", "read")]
    masked = school.queries.roster(actor=Actor(id="u-sup", role="support"), slot_id=slot.id)
    assert {r.phone for r in masked} == {"138****1234"}
    with pytest.raises(AccessDenied):
        school.queries.roster(actor=STRANGER, slot_id=slot.id)
    with pytest.raises(SlotNotFound):
        school.queries.roster(actor=OFFICE, slot_id="nowhere")
    with pytest.raises(NotFound):
        school.queries.roster(actor=OFFICE, class_id="nowhere")
    with pytest.raises(InvalidInput):
        school.queries.roster(actor=OFFICE)
    with pytest.raises(InvalidInput):
        school.queries.roster(actor=OFFICE, slot_id=slot.id, limit=0)


# --- a campaign's forming groups ---------------------------------------------------------

group_ops = st.lists(
    st.tuples(
        st.sampled_from(["open", "join", "cancel", "wait"]),
        st.integers(0, 5),  # a group, by index among those opened (or hours to wait)
    ),
    min_size=1,
    max_size=12,
)


def campaign(campaign_id: str, clock: FixedClock) -> GroupDealCampaign:
    return GroupDealCampaign(
        id=campaign_id,
        course_id="math",
        list_price=Money("299", "CNY"),
        group_price=Money("199", "CNY"),
        required_size=3,
        max_size=4,
        duration=timedelta(hours=6),
        starts_at=clock.now(),
        ends_at=clock.now() + timedelta(days=30),
    )


def forming_by_brute_force(
    school: School, campaign_id: str, now: datetime, *, newest: bool
) -> list[OpenGroup]:
    def read(uow: Any, at: datetime) -> list[GroupDeal]:
        return [GroupDeal.from_record(doc) for _, doc in uow.records.list(GROUPS)]

    groups = [
        g
        for g in school.queries._run(read, write=False)
        if g.campaign_id == campaign_id and g.state is GroupState.OPEN and g.deadline > now
    ]
    if newest:
        groups.sort(key=lambda g: (g.opened_at, g.id), reverse=True)
    else:
        groups.sort(key=lambda g: (g.deadline, g.id))
    return [OpenGroup.of(g).in_zone(TOKYO) for g in groups]


@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=group_ops, size=st.integers(1, 3), other=st.booleans())
def test_open_groups_answer_what_a_brute_force_filter_of_every_group_answers(
    store: StoreHandle, ops: list[tuple[str, int]], size: int, other: bool
) -> None:
    n = next(EXAMPLE)
    clock = FixedClock(T0 + timedelta(days=10 * n))
    school = school_for(store, clock)
    campaign_id = f"camp{n}"
    school.deals.create_campaign(campaign(campaign_id, clock))
    if other:  # a second campaign's groups never show on the first's page
        school.deals.create_campaign(campaign(f"{campaign_id}-b", clock))
        school.deals.open_group(
            f"{campaign_id}-b",
            f"x{n}",
            method_id=method_for(school.payments, f"x{n}", f"acct-x{n}"),
        )
    opened: list[str] = []
    people = itertools.count()
    for op, index in ops:
        try:
            if op == "open" or not opened:
                p = next(people)
                group = school.deals.open_group(
                    campaign_id,
                    f"p{n}-{p}",
                    method_id=method_for(school.payments, f"p{n}-{p}", f"a{n}-{p}"),
                )
                opened.append(group.id)
            elif op == "join":
                p = next(people)
                school.deals.join_group(
                    opened[index % len(opened)],
                    f"p{n}-{p}",
                    method_id=method_for(school.payments, f"p{n}-{p}", f"a{n}-{p}"),
                )
            elif op == "cancel":
                school.deals.cancel_group(opened[index % len(opened)])
            else:
                clock.advance(timedelta(hours=index))
        except EduEngineError:
            pass  # a full or closed group: refusals

    for order in ("closing", "newest"):
        got = every_page(
            functools.partial(
                lambda order, after: school.queries.open_groups(
                    campaign_id, order=order, zone="Asia/Tokyo", limit=size, after=after
                ),
                order,
            )
        )
        expected = forming_by_brute_force(
            school, campaign_id, clock.now(), newest=order == "newest"
        )
        assert got == expected
        assert all(g.seats_to_go == max(0, 3 - g.members) for g in got)


def test_open_groups_refuse_bad_input(store: StoreHandle, clock: FixedClock) -> None:
    school = school_for(store, clock)
    school.deals.create_campaign(campaign("c1", clock))
    with pytest.raises(CampaignNotFound):
        school.queries.open_groups("nowhere")
    with pytest.raises(InvalidInput):
        school.queries.open_groups("c1", order="random")  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        school.queries.open_groups("c1", after="not a cursor!")
    with pytest.raises(InvalidInput):
        school.queries.open_groups("c1", limit=10_000)


def test_a_group_page_shows_counts_and_no_member(store: StoreHandle, clock: FixedClock) -> None:
    school = school_for(store, clock)
    school.deals.create_campaign(campaign("c1", clock))
    group = school.deals.open_group(
        "c1", "ann", method_id=method_for(school.payments, "ann", "wx-ann-7731"), ip="198.51.100.77"
    )
    school.deals.join_group(group.id, "bob", method_id=method_for(school.payments, "bob", "wx-bob"))
    (found,) = school.queries.open_groups("c1")
    assert (found.members, found.seats_to_go, found.places_left) == (2, 1, 2)
    shown = repr(found) + repr(found.as_dict())
    for value in ("ann", "bob", "wx-ann-7731", "198.51.100.77", group.share_code):
        assert value not in shown


# --- pages stay stable while writes go on ------------------------------------------------


def assert_stable(
    read: Callable[[str | None], Page[Any]],
    key: Callable[[Any], str],
    write: Callable[[int], object],
) -> None:
    """Read every page, running ``write(i)`` between pages: no row is repeated, and
    every row there at the first page (and still there at the end) is seen once."""
    before = [key(x) for x in every_page(read)]
    page = read(None)
    seen = [key(x) for x in page]
    i = 0
    while page.next is not None:
        write(i)
        i += 1
        page = read(page.next)
        seen.extend(key(x) for x in page)
    assert len(seen) == len(set(seen)), seen
    after = {key(x) for x in every_page(read)}
    assert [k for k in seen if k in before and k in after] == [k for k in before if k in after]


def test_roster_pages_neither_repeat_nor_skip_while_students_book(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = school_for(store, clock)
    start = clock.now() + timedelta(days=1)
    slot = school.booking.create_slot("math", start, start + timedelta(hours=1), 40)
    for i in range(0, 20, 2):
        school.book(slot.id, f"s{i:02}")
    assert_stable(
        lambda after: school.queries.roster(actor=SYSTEM, slot_id=slot.id, limit=3, after=after),
        lambda r: r.student_id,
        # a student before the cursor and one after it take a seat
        lambda i: [school.book(slot.id, f"s{k:02}") for k in (2 * i + 1, 2 * i + 21)],
    )


def test_group_pages_neither_repeat_nor_skip_while_groups_open_and_fill(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = school_for(store, clock)
    school.deals.create_campaign(campaign("c1", clock))
    groups = []
    for i in range(8):
        groups.append(
            school.deals.open_group(
                "c1", f"o{i}", method_id=method_for(school.payments, f"o{i}", f"a-o{i}")
            ).id
        )
        clock.advance(timedelta(minutes=1))

    def write(i: int) -> None:
        school.deals.open_group(
            "c1", f"n{i}", method_id=method_for(school.payments, f"n{i}", f"a-n{i}")
        )
        school.deals.join_group(
            groups[i % len(groups)],
            f"j{i}",
            method_id=method_for(school.payments, f"j{i}", f"a-j{i}"),
        )
        clock.advance(timedelta(seconds=1))

    for order in ("closing", "newest"):
        assert_stable(
            functools.partial(
                lambda order, after: school.queries.open_groups(
                    "c1", order=order, limit=3, after=after
                ),
                order,
            ),
            lambda g: g.group_id,
            functools.partial(lambda base, i: write(base + i), 0 if order == "closing" else 10),
        )


def test_a_students_pages_neither_repeat_nor_skip_while_she_books(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = school_for(store, clock)
    slots = []
    for i in range(24):
        start = clock.now() + timedelta(hours=1 + i)
        slots.append(school.booking.create_slot("math", start, start + timedelta(hours=1), 5).id)
    for i in range(0, 24, 2):
        school.book(slots[i], "ann")
    assert_stable(
        lambda after: school.queries.student_timetable("ann", limit=3, after=after, actor=SYSTEM),
        lambda lesson: lesson.booking_id,
        lambda i: school.book(slots[2 * i + 1], "ann"),
    )


def test_a_group_snapshot_reads_the_stream_before_the_state(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = school_for(store, clock)
    school.deals.create_campaign(campaign("c1", clock))
    group = school.deals.open_group(
        "c1", "ann", method_id=method_for(school.payments, "ann", "wx-ann-7731")
    )
    shot = school.queries.group_snapshot(group.id)
    assert shot.sequence == store.store.stream_sequence(f"group:{group.id}") > 0
    assert shot.position == store.store.feed_head() > 0
    assert (shot.paid, shot.still_needed, shot.state) == (1, 2, "open")
    message = shot.as_message()
    assert message["data"]["still_needed"] == 2 and message["sequence"] == shot.sequence
    assert "ann" not in repr(message) and "wx-ann" not in repr(message)
    with pytest.raises(GroupNotFound):
        school.queries.group_snapshot("nowhere")

    # a join landing between the stream read and the state read shows in the state
    queries = school.queries
    sequence_of = queries._sequence_of
    assert sequence_of is not None

    def spy(stream: str) -> int:
        value = sequence_of(stream)
        school.deals.join_group(
            group.id, "bob", method_id=method_for(school.payments, "bob", "wx-bob")
        )
        return value

    queries._sequence_of = spy
    later = queries.group_snapshot(group.id)
    assert later.sequence < store.store.stream_sequence(f"group:{group.id}")
    assert later.paid == 2


# --- the room timetable and the snapshots, against the same brute force ------------------

room_specs = st.lists(
    st.tuples(
        st.integers(0, 48),  # start, hours after the example's origin
        st.sampled_from([None, "lab", "hall"]),  # the room the host filed it in
        st.integers(0, 3),  # seats taken
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    specs=room_specs, lo_h=st.integers(-1, 40), length=st.integers(1, 50), size=st.integers(1, 3)
)
def test_room_timetables_and_snapshots_answer_what_the_slots_hold(
    store: StoreHandle,
    specs: list[tuple[int, str | None, int]],
    lo_h: int,
    length: int,
    size: int,
) -> None:
    n = next(EXAMPLE)
    origin = T0 + timedelta(days=10 * n)
    clock = FixedClock(origin - timedelta(hours=1))
    school = school_for(store, clock)
    rooms: dict[str, str | None] = {}
    for i, (hour, room, taken) in enumerate(specs):
        start = origin + timedelta(hours=hour)
        slot = school.booking.create_slot("art", start, start + timedelta(minutes=50), 3)
        for k in range(taken):
            school.book(slot.id, f"st{n}-{i}-{k}")
        if room is not None:
            with store.unit_of_work() as uow:
                file_room(uow, slot.id, f"{room}{n}", start)
                uow.commit()
        rooms[slot.id] = None if room is None else f"{room}{n}"

    def read(uow: Any, at: datetime) -> list[Any]:
        return [s.clone() for s in uow.slots.get_many(sorted(rooms))]

    slots = school.queries._run(read, write=False)
    lo = origin + timedelta(hours=lo_h)
    hi = lo + timedelta(hours=length)
    for room in ("lab", "hall"):
        expected = sorted(
            (summary_of(s) for s in slots if rooms[s.id] == f"{room}{n}" and lo <= s.start < hi),
            key=lambda s: (s.start, s.slot_id),
        )
        got = every_page(
            functools.partial(
                lambda r, after: school.queries.timetable(
                    start=lo, end=hi, room=r, limit=size, after=after
                ),
                f"{room}{n}",
            )
        )
        assert got == expected
    for slot in slots:
        assert school.queries.snapshot(slot.id).slot == summary_of(slot)
    shot = school.queries.timetable_snapshot(start=lo, end=hi, course_id="art", limit=50)
    assert list(shot.page) == sorted(
        (summary_of(s) for s in slots if lo <= s.start < hi), key=lambda s: (s.start, s.slot_id)
    )


def test_a_page_of_groups_reads_the_page_not_every_group(
    store: StoreHandle, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    school = school_for(store, clock)
    for campaign_id in ("busy", "quiet"):
        school.deals.create_campaign(campaign(campaign_id, clock))
    for i in range(30):
        school.deals.open_group(
            "busy", f"b{i}", method_id=method_for(school.payments, f"b{i}", f"a-b{i}")
        )
    for i in range(5):
        school.deals.open_group(
            "quiet", f"q{i}", method_id=method_for(school.payments, f"q{i}", f"a-q{i}")
        )
    loaded: list[str] = []
    from_record = GroupDeal.from_record

    def counting(doc: dict[str, Any]) -> GroupDeal:
        loaded.append(doc["id"])
        return from_record(doc)

    monkeypatch.setattr(GroupDeal, "from_record", counting)
    page = school.queries.open_groups("busy", limit=3)
    assert len(page) == 3 and page.next is not None
    assert len(loaded) <= 4  # the page and the one that says another follows
    loaded.clear()
    assert len(school.queries.open_groups("quiet", order="newest", limit=50)) == 5
    assert len(loaded) == 5


def test_a_students_history_pages_neither_repeat_nor_skip_while_she_cancels(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = school_for(store, clock)
    seats = []
    for i in range(20):
        start = clock.now() + timedelta(days=2, hours=i)
        slot = school.booking.create_slot("math", start, start + timedelta(hours=1), 5)
        seats.append(school.book(slot.id, "bo").id)
    left = set(seats)

    def cancel(*indexes: int) -> None:
        for k in indexes:
            if seats[k] in left:
                left.discard(seats[k])
                school.cancel(seats[k])

    cancel(*range(0, 20, 2))  # the history: cancelled lessons, latest first
    assert_stable(
        lambda after: school.queries.student_history("bo", limit=3, after=after, actor=SYSTEM),
        lambda lesson: lesson.booking_id,
        # more cancellations land on both sides of the cursor
        lambda i: cancel((2 * i + 1) % 20, (19 - 2 * i) % 20),
    )
