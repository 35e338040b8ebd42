"""Student records on every adapter: packages, classes, tags, privacy."""

from __future__ import annotations

import contextlib
import threading
from datetime import timedelta

import pytest

from eduengine import BookingService, BookingStatus, FixedClock, InMemoryEventBus
from eduengine.errors import (
    AccessDenied,
    ClassFull,
    EduEngineError,
    InvalidInput,
    NoCredit,
    SlotFull,
    StudentNotFound,
)
from eduengine.people import SYSTEM
from eduengine.students import (
    Actor,
    Guardian,
    GuardianRole,
    SchoolClass,
    StudentService,
    TagRule,
)
from tests.adapters import StoreHandle

ACADEMIC = Actor(id="u1", role="academic")
SUPPORT = Actor(id="u2", role="support")
TEACHER_A = Actor(id="u3", role="teacher", class_ids=frozenset({"A"}))


class School:
    def __init__(self, store: StoreHandle, clock: FixedClock) -> None:
        self.clock = clock
        self.bus = InMemoryEventBus()
        self.slots = BookingService(store.unit_of_work, clock=clock)
        self.students = StudentService(
            store.unit_of_work,
            clock=clock,
            publisher=self.bus,
            tag_rules=[
                TagRule.inactive_for("at-risk", 14),
                TagRule.completed("core-student", "core"),
            ],
        )
        self.students.register(
            "ann",
            name="王小明",
            phone="13812341234",
            email="ann@example.com",
            guardians=[
                Guardian(
                    name="王芳",
                    phone="13900001111",
                    roles=frozenset({GuardianRole.PAY, GuardianRole.SEE_REPORTS}),
                )
            ],
        )

    def slot(self, hours: float, capacity: int = 5) -> str:
        start = self.clock.now() + timedelta(hours=hours)
        return self.slots.create_slot("math", start, start + timedelta(hours=1), capacity).id


@pytest.fixture
def school(store: StoreHandle, clock: FixedClock) -> School:
    return School(store, clock)


def credits(school: School) -> list[int]:
    return [p.credits_left for p in school.students.packages_of("ann", actor=SYSTEM)]


def test_booking_consumes_a_credit_and_a_free_cancellation_returns_it(school: School) -> None:
    school.students.buy_package("ann", credits=2, valid_for=timedelta(days=30), activate=True)
    booking = school.students.book_paid_by_credit(school.slot(48), "ann")
    assert credits(school) == [1]
    # a service built alone has only the deprecated alias (a School: school.cancel)
    with pytest.deprecated_call(match="school.cancel"):
        assert school.students.cancel_with_credit(booking.id) is True
    assert credits(school) == [2]


def test_a_late_cancellation_or_a_no_show_forfeits_the_credit(school: School) -> None:
    school.students.buy_package("ann", credits=3, valid_for=timedelta(days=30), activate=True)
    late = school.students.book_paid_by_credit(school.slot(5), "ann")
    with pytest.deprecated_call(match="school.cancel"):
        assert school.students.cancel_with_credit(late.id) is False
    soon = school.slot(2)
    missed = school.students.book_paid_by_credit(soon, "ann")
    school.clock.advance(timedelta(hours=2, minutes=5))
    school.students.mark_no_show_with_credit(missed.id)
    assert school.slots.get_booking(missed.id, actor=SYSTEM).status is BookingStatus.NO_SHOW
    assert credits(school) == [1]


def test_no_credit_means_no_seat_and_no_seat_means_no_credit_spent(
    store: StoreHandle, school: School
) -> None:
    slot = school.slot(48, capacity=1)
    with pytest.raises(NoCredit):
        school.students.book_paid_by_credit(slot, "ann")  # nothing bought
    pending = school.students.buy_package("ann", credits=1, valid_for=timedelta(days=30))
    with pytest.raises(NoCredit):
        school.students.book_paid_by_credit(slot, "ann")  # not activated yet
    school.students.activate_package(pending)
    school.slots.book(slot, "bob")
    before = store.snapshot()
    with pytest.raises(SlotFull):
        school.students.book_paid_by_credit(slot, "ann")
    assert store.snapshot() == before
    school.clock.advance(timedelta(days=31))
    assert school.students.packages_of("ann", actor=SYSTEM)[0].status == "expired"
    with pytest.raises(NoCredit):
        school.students.book_paid_by_credit(school.slot(48), "ann")


def test_expiring_and_never_activated_packages_are_queryable(school: School) -> None:
    soon = school.students.buy_package("ann", credits=5, valid_for=timedelta(days=3), activate=True)
    idle = school.students.buy_package("ann", credits=5, valid_for=timedelta(days=90))
    assert [p.id for p in school.students.expiring_soon(timedelta(days=7), actor=SYSTEM)] == [soon]
    school.clock.advance(timedelta(days=10))
    assert [p.id for p in school.students.never_activated(timedelta(days=7), actor=SYSTEM)] == [
        idle
    ]


def test_concurrent_bookings_never_spend_more_credits_than_bought(school: School) -> None:
    school.students.buy_package("ann", credits=3, valid_for=timedelta(days=30), activate=True)
    slots = [school.slot(48 + n) for n in range(8)]
    booked: list[str] = []
    gate = threading.Barrier(8)

    def book(slot_id: str) -> None:
        gate.wait()
        with contextlib.suppress(NoCredit):
            booked.append(school.students.book_paid_by_credit(slot_id, "ann").id)

    threads = [threading.Thread(target=book, args=(s,)) for s in slots]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(booked) == 3 and credits(school) == [0]


def test_classes_fill_to_capacity_and_transfers_are_atomic(school: School) -> None:
    school.students.create_class(SchoolClass(id="A", name="Beginners", capacity=1, max_level=1))
    school.students.create_class(
        SchoolClass(id="B", name="Improvers", capacity=2, min_level=2, time_slot="weekday-evening")
    )
    school.students.register("bob", name="Bob")
    school.students.buy_package("ann", credits=4, valid_for=timedelta(days=30), activate=True)
    assert school.students.auto_assign("ann", placement_score=20) == "A"
    with pytest.raises(ClassFull):
        school.students.assign("bob", "A")
    school.students.transfer("ann", "B")
    assert school.students.members_of("A") == [] and school.students.members_of("B") == ["ann"]
    assert credits(school) == [4], "a transfer never touches credits"
    assert (
        school.students.auto_assign("bob", placement_score=75, time_slot="weekday-evening") == "B"
    )


def test_tags_and_lifecycle_follow_activity_and_time(school: School) -> None:
    school.students.record_activity("ann", "login")
    tags, stage = school.students.refresh_tags("ann")
    assert tags == frozenset() and stage == "registered"
    school.students.record_activity("ann", "trial_booked")
    school.students.buy_package("ann", credits=1, valid_for=timedelta(days=30))
    school.students.record_activity("ann", "module_completed", module="core")
    school.clock.advance(timedelta(days=15))
    tags, stage = school.students.refresh_tags("ann")
    assert tags == {"at-risk", "core-student"} and stage == "first_purchase"
    school.students.buy_package("ann", credits=1, valid_for=timedelta(days=30))
    assert school.students.refresh_tags("ann")[1] == "renewed"
    school.clock.advance(timedelta(days=70))
    assert school.students.refresh_tags("ann")[1] == "churned"


def test_roles_see_what_they_may_and_every_access_is_audited(school: School) -> None:
    assert school.students.view(ACADEMIC, "ann").phone == "13812341234"
    masked = school.students.view(SUPPORT, "ann")
    assert (masked.phone, masked.email, masked.name) == ("138****1234", "a***@example.com", "王**")
    assert masked.guardians[0].phone == "139****1111"
    with pytest.raises(AccessDenied):
        school.students.view(TEACHER_A, "ann")  # not in teacher A's class yet
    school.students.create_class(SchoolClass(id="A", name="A", capacity=5))
    school.students.assign("ann", "A")
    assert school.students.view(TEACHER_A, "ann").phone == "13812341234"
    stranger = Actor(id="u4", role="marketing")
    school.students.grant(stranger, "ann", until=school.clock.now() + timedelta(hours=1))
    assert school.students.view(stranger, "ann").name == "王小明"
    school.students.revoke(stranger, "ann")
    with pytest.raises(AccessDenied):
        school.students.view(stranger, "ann")
    trail = school.students.audit_trail("ann", actor=SYSTEM)
    assert [(e.actor_id, e.action) for e in trail] == [
        ("u1", "read"),
        ("u2", "read"),
        ("u3", "denied"),
        ("u3", "read"),
        ("u4", "read"),
        ("u4", "denied"),
    ]
    assert school.students.guardians_with("ann", GuardianRole.PAY, actor=ACADEMIC)[0].name == "王芳"


def test_erasure_removes_personal_data_and_keeps_bookings_and_statistics(
    store: StoreHandle, school: School
) -> None:
    school.students.buy_package("ann", credits=2, valid_for=timedelta(days=30), activate=True)
    booking = school.students.book_paid_by_credit(school.slot(48), "ann")
    school.students.update(ACADEMIC, "ann", phone="13600000000")
    school.students.erase(ACADEMIC, "ann")
    profile = school.students.view(ACADEMIC, "ann")
    assert profile.erased and profile.phone is None and profile.email is None
    assert profile.name is not None and profile.name.startswith("erased-")
    assert profile.guardians == ()
    assert school.slots.get_booking(booking.id, actor=SYSTEM).status is BookingStatus.CONFIRMED
    assert credits(school) == [1]
    text = str(store.snapshot())
    assert "13812341234" not in text and "13600000000" not in text and "王小明" not in text
    # the office's last two rows (the system's reads above are audited as the system's)
    trail = school.students.audit_trail("ann", actor=SYSTEM)
    assert [e.action for e in trail if e.actor_id == ACADEMIC.id][-2:] == ["erase", "read"]


def test_bad_input_is_refused_and_changes_nothing(store: StoreHandle, school: School) -> None:
    before = store.snapshot()
    for bad, error in (
        (lambda: school.students.register("ann", name="again"), EduEngineError),
        (
            lambda: school.students.buy_package("ann", credits=0, valid_for=timedelta(days=1)),
            InvalidInput,
        ),
        (lambda: school.students.book_paid_by_credit(school_slot, "nobody"), StudentNotFound),
        (lambda: school.students.record_activity("ann", "teleport"), InvalidInput),
        (lambda: school.students.auto_assign("ann", placement_score=-1), InvalidInput),
    ):
        with pytest.raises(error):
            bad()
        assert store.snapshot() == before
    with pytest.raises(AccessDenied):
        school.students.update(SUPPORT, "ann", phone="1")
    after = store.snapshot()["records"]
    assert after["student"] == before["records"]["student"]  # a denial is only audited
    assert [d["action"] for d in after["audit"].values()] == ["denied"]


school_slot = "no-such-slot"
