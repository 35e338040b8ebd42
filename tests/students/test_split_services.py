"""The four student services used alone, on every adapter, and the package reports read
through their indexes checked against a filter over every package."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from eduengine import BookingService, FixedClock, InMemoryEventBus, School
from eduengine.people import SYSTEM
from eduengine.service_layer.messagebus import MessageBus
from eduengine.service_layer.ports import open_read_only
from eduengine.students import (
    Actor,
    ClassAssigned,
    ClassService,
    LifecycleService,
    PackageService,
    PackageView,
    ProfileService,
    SchoolClass,
    StudentService,
    TagRule,
    TagsChanged,
)
from eduengine.students import records as rec
from tests.adapters import StoreHandle

ACADEMIC = Actor(id="u1", role="academic")
DAY = timedelta(days=1)


def profiles(store: StoreHandle, clock: FixedClock, *names: str) -> ProfileService:
    service = ProfileService(store.unit_of_work, clock=clock)
    for name in names:
        service.register(name, name=name.title(), phone="13812341234")
    return service


def test_a_package_service_alone_keeps_the_credit_ledger(
    store: StoreHandle, clock: FixedClock
) -> None:
    profiles(store, clock, "ann")
    slots = BookingService(store.unit_of_work, clock=clock)
    packages = PackageService(
        store.unit_of_work, clock=clock, free_cancel_before=timedelta(hours=6)
    )
    packages.buy_package("ann", credits=2, valid_for=30 * DAY, activate=True)
    start = clock.now() + timedelta(hours=8)
    early = slots.create_slot("math", start, start + timedelta(hours=1), 5).id
    late = slots.create_slot("math", start - timedelta(hours=4), start, 5).id
    early_seat = packages.book_paid_by_credit(early, "ann").id
    late_seat = packages.book_paid_by_credit(late, "ann").id
    # alone, the service cancels only through the deprecated alias (a School: school.cancel)
    with pytest.deprecated_call(match="school.cancel"):
        assert packages.cancel_with_credit(early_seat) is True
    with pytest.deprecated_call(match="school.cancel"):
        assert packages.cancel_with_credit(late_seat) is False
    assert [p.credits_left for p in packages.packages_of("ann", actor=SYSTEM)] == [1]


def test_a_service_on_a_shared_bus_adds_no_rules_and_alone_adds_them_once(
    store: StoreHandle, clock: FixedClock
) -> None:
    bus = MessageBus()
    PackageService(store.unit_of_work, clock=clock, bus=bus)
    StudentService(store.unit_of_work, clock=clock, bus=bus)
    assert bus.table() == []
    alone = PackageService(store.unit_of_work, clock=clock).bus.table()
    assert alone and StudentService(store.unit_of_work, clock=clock).bus.table() == alone
    for service in (ProfileService, ClassService, LifecycleService):
        assert service(store.unit_of_work, clock=clock).bus.table() == []


def test_a_profile_service_alone_erases_the_profile(store: StoreHandle, clock: FixedClock) -> None:
    service = profiles(store, clock, "ann")
    report = service.erase(ACADEMIC, "ann")
    assert report.removed == {"students": 2}  # name and phone
    assert service.view(ACADEMIC, "ann").phone is None
    assert [e.action for e in service.audit_trail("ann", actor=SYSTEM)] == ["erase", "read"]


def test_a_class_service_alone_places_and_transfers(store: StoreHandle, clock: FixedClock) -> None:
    profiles(store, clock, "ann")
    published = InMemoryEventBus()
    classes = ClassService(
        store.unit_of_work, clock=clock, publisher=published, placement_bands={0: 1, 50: 2}
    )
    classes.create_class(SchoolClass(id="A", name="A", capacity=3, max_level=1))
    classes.create_class(SchoolClass(id="B", name="B", capacity=3, min_level=2))
    assert classes.auto_assign("ann", placement_score=60) == "B"
    classes.transfer("ann", "A")
    assert classes.members_of("A") == ["ann"] and classes.members_of("B") == []
    moves = [e for e in published.events if isinstance(e, ClassAssigned)]
    assert [(e.from_class_id, e.class_id) for e in moves] == [(None, "B"), ("B", "A")]


def test_a_lifecycle_service_alone_tags_and_keeps_the_stage_history(
    store: StoreHandle, clock: FixedClock
) -> None:
    profiles(store, clock, "ann")
    published = InMemoryEventBus()
    lifecycle = LifecycleService(
        store.unit_of_work,
        clock=clock,
        publisher=published,
        tag_rules=[TagRule.inactive_for("at-risk", 14)],
    )
    lifecycle.record_activity("ann", "login")
    lifecycle.record_activity("ann", "trial_booked")
    PackageService(store.unit_of_work, clock=clock).buy_package("ann", credits=1, valid_for=DAY)
    clock.advance(15 * DAY)
    assert lifecycle.refresh_tags("ann") == (frozenset({"at-risk"}), "first_purchase")
    assert [s for s, _, _ in lifecycle.stage_history("ann", actor=SYSTEM)] == [
        "registered",
        "trial",
        "first_purchase",
    ]
    assert [e.added for e in published.events if isinstance(e, TagsChanged)][-1] == ("at-risk",)


# --- the package reports through their indexes -----------------------------------------


def every_package(store: StoreHandle, now: datetime) -> list[PackageView]:
    with open_read_only(store.unit_of_work) as uow:
        return [rec.package_view(pid, p, now) for pid, p in uow.records.list(rec.PACKAGES)]


def expiring_by_filter(store: StoreHandle, now: datetime, within: timedelta) -> list[str]:
    due = [
        p
        for p in every_package(store, now)
        if p.status == "active"
        and p.credits_left > 0
        and p.expires_at is not None
        and p.expires_at <= now + within
    ]
    return [p.id for p in sorted(due, key=lambda p: (p.expires_at, p.id))]


def pending_by_filter(store: StoreHandle, now: datetime, older_than: timedelta) -> list[str]:
    pending = [
        p
        for p in every_package(store, now)
        if p.status == "pending_activation" and p.purchased_at <= now - older_than
    ]
    return [p.id for p in sorted(pending, key=lambda p: (p.purchased_at, p.id))]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_indexed_package_reports_match_a_filter_over_every_package(
    store: StoreHandle, clock: FixedClock, seed: int
) -> None:
    rng = random.Random(seed)
    students = ["ann", "bob", "cat"]
    profiles(store, clock, *students)
    slots = BookingService(store.unit_of_work, clock=clock)
    packages = PackageService(store.unit_of_work, clock=clock)
    bought: list[str] = []
    for step in range(40):
        move = rng.random()
        if move < 0.4:
            bought.append(
                packages.buy_package(
                    rng.choice(students),
                    credits=rng.randint(1, 2),
                    valid_for=timedelta(hours=rng.randint(1, 240), seconds=rng.random()),
                    activate=rng.random() < 0.5,
                    package_id=f"p{step:02d}",
                )
            )
        elif move < 0.6:
            pending = pending_by_filter(store, clock.now(), timedelta(0))
            if pending:
                packages.activate_package(rng.choice(pending))
        elif move < 0.8:
            start = clock.now() + timedelta(hours=rng.randint(1, 48))
            slot = slots.create_slot("math", start, start + timedelta(hours=1), 9).id
            student = rng.choice(students)
            if packages.packages_of(student, actor=SYSTEM) and any(
                p.status == "active" and p.credits_left
                for p in packages.packages_of(student, actor=SYSTEM)
            ):
                booking = packages.book_paid_by_credit(slot, student)
                if rng.random() < 0.3:
                    with pytest.deprecated_call(match="school.cancel"):
                        packages.cancel_with_credit(booking.id)
        else:
            clock.advance(timedelta(hours=rng.randint(1, 72), microseconds=rng.randint(0, 999)))
        within = timedelta(hours=rng.randint(0, 200))
        older_than = timedelta(hours=rng.randint(0, 100))
        now = clock.now()
        assert [p.id for p in packages.expiring_soon(within, actor=SYSTEM)] == expiring_by_filter(
            store, now, within
        )
        assert [
            p.id for p in packages.never_activated(older_than, actor=SYSTEM)
        ] == pending_by_filter(store, now, older_than)
    assert bought


def test_expiring_soon_counts_to_the_microsecond_and_drops_expired_packages(
    store: StoreHandle, clock: FixedClock
) -> None:
    profiles(store, clock, "ann")
    packages = PackageService(store.unit_of_work, clock=clock)
    pid = packages.buy_package("ann", credits=1, valid_for=DAY, activate=True)
    clock.advance(DAY - timedelta(microseconds=1))
    assert packages.expiring_soon(timedelta(0), actor=SYSTEM) == []
    assert [p.id for p in packages.expiring_soon(timedelta(microseconds=1), actor=SYSTEM)] == [pid]
    clock.advance(timedelta(microseconds=1))
    assert packages.expiring_soon(DAY, actor=SYSTEM) == []
    assert packages.never_activated(actor=SYSTEM) == []


def test_a_rescheduled_credit_keeps_its_package_in_the_reports(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = School.build(store, clock=clock)
    school.students.register("ann", name="Ann")
    pid = school.students.buy_package(
        "ann", credits=2, valid_for=10 * DAY, activate=True, course_id="math"
    )
    start = clock.now() + 3 * DAY
    old = school.booking.create_slot("math", start, start + timedelta(hours=1), 5)
    new = school.booking.create_slot("math", start + DAY, start + DAY + timedelta(hours=1), 5)
    booking = school.booking.book(old.id, "ann")  # the ledger spends a scoped credit
    school.policies.reschedule(booking.id, new.id)  # and moves it to the new seat
    assert [
        (p.id, p.credits_left) for p in school.students.expiring_soon(10 * DAY, actor=SYSTEM)
    ] == [(pid, 1)]


def test_reindexing_files_packages_written_without_an_index(
    store: StoreHandle, clock: FixedClock
) -> None:
    profiles(store, clock, "ann")
    packages = PackageService(store.unit_of_work, clock=clock)
    active = packages.buy_package("ann", credits=1, valid_for=DAY, activate=True)
    pending = packages.buy_package("ann", credits=1, valid_for=DAY)
    with store.unit_of_work() as uow:  # as a store from before packages were indexed
        for pid, pkg in uow.records.list(rec.PACKAGES):
            uow.records.put(rec.PACKAGES, pid, pkg)
        uow.commit()
    assert (
        packages.expiring_soon(DAY, actor=SYSTEM) == []
        and packages.never_activated(actor=SYSTEM) == []
    )
    assert packages.reindex_packages() == 2
    assert [p.id for p in packages.expiring_soon(DAY, actor=SYSTEM)] == [active]
    assert [p.id for p in packages.never_activated(actor=SYSTEM)] == [pending]
