"""One access check on every public read that can return a personal value (issue #24):
refused, masked or whole as the actor may see, and one audit row per whole read."""

from __future__ import annotations

import inspect
import typing
import warnings
from collections.abc import Callable
from datetime import datetime, timedelta

import attrs
import pytest

from eduengine import FixedClock, School
from eduengine.bootstrap import SchoolQueries
from eduengine.deals import DealService, GroupDealCampaign, JoinAttempt, RiskDecision
from eduengine.deals.risk import Peer
from eduengine.errors import AccessDenied
from eduengine.notices import NoticePolicy, NoticeService
from eduengine.payments import FakePaymentGateway
from eduengine.people import FieldSet, Scope, StaffRole
from eduengine.pricing import Money
from eduengine.students import Actor, Guardian, GuardianRole, StudentService
from tests.adapters import StoreHandle
from tests.notices.helpers import Provider

# values found nowhere else, so a result can be searched for them
NAME, PHONE, EMAIL = "王小明", "13812341234", "ann-4417@example.com"
MUM, MUM_PHONE = "王芳", "13900001111"
ACCOUNT, DEVICE, IP = "wx-ann-7731", "dev-ann-5c2e", "198.51.100.77"

OFFICE = Actor(id="u-office", role="academic")
SUPPORT = Actor(id="u-support", role="support")
STRANGER = Actor(id="u-stranger", role="marketing")


@attrs.frozen
class Review:
    """Flags every join for review, quoting the account (reasons may carry it)."""

    def evaluate(
        self, attempt: JoinAttempt, peers: typing.Sequence[Peer], recent: typing.Sequence[datetime]
    ) -> RiskDecision:
        return RiskDecision(level="review", reasons=(f"account {attempt.account} watched",))


@attrs.frozen
class Setup:
    school: School
    notice_id: str
    group_id: str
    slot_id: str


def setup(store: StoreHandle, clock: FixedClock) -> Setup:
    provider = Provider(fail=lambda notice, channel: True)
    school = School.build(
        store,
        clock=clock,
        notices=NoticePolicy(max_attempts=1, reminders=()),
        notifiers={"in_app": provider},
        risk_rules=[Review()],
        gateway=FakePaymentGateway(),
    )
    school.students.register(
        "ann",
        name=NAME,
        phone=PHONE,
        email=EMAIL,
        guardians=[
            Guardian(
                name=MUM,
                phone=MUM_PHONE,
                roles=frozenset({GuardianRole.PAY, GuardianRole.RECEIVE_REMINDERS}),
            )
        ],
    )
    start = clock.now() + timedelta(hours=48)
    slot = school.booking.create_slot("math", start, start + timedelta(hours=1), 5)
    seat = school.booking.book(slot.id, "ann")
    school.notices.deliver_due("w1")  # in_app fails once: dead
    school.deals.create_campaign(
        GroupDealCampaign(
            id="spring",
            course_id="math",
            list_price=Money("299", "CNY"),
            group_price=Money("199", "CNY"),
            required_size=3,
            max_size=5,
            duration=timedelta(hours=24),
            starts_at=clock.now(),
            ends_at=clock.now() + timedelta(days=30),
        )
    )
    group = school.deals.open_group("spring", "ann", account=ACCOUNT, device_id=DEVICE, ip=IP)
    return Setup(school, f"booking_confirmed:{seat.id}:ann", group.id, slot.id)


#: every public read that can return a personal value, with the values it can return
READS: dict[str, tuple[Callable[[Setup, Actor | None], object], tuple[str, ...]]] = {
    "StudentService.guardians_with": (
        lambda s, a: s.school.students.guardians_with("ann", GuardianRole.PAY, actor=a),
        (MUM, MUM_PHONE),
    ),
    "NoticeService.for_student": (
        lambda s, a: s.school.notices.for_student("ann", actor=a),
        (NAME, PHONE, EMAIL),
    ),
    "NoticeService.notice": (
        lambda s, a: s.school.notices.notice(s.notice_id, actor=a),
        (NAME, PHONE, EMAIL),
    ),
    "NoticeService.dead_letters": (
        lambda s, a: s.school.notices.dead_letters(actor=a),
        (NAME, PHONE, EMAIL),
    ),
    "DealService.get_group": (
        lambda s, a: s.school.deals.get_group(s.group_id, actor=a),
        (ACCOUNT, DEVICE, IP),
    ),
    "SchoolQueries.roster": (
        lambda s, a: s.school.queries.roster(actor=a, slot_id=s.slot_id),
        (NAME, PHONE, EMAIL),
    ),
    "DealService.risk_decisions": (
        lambda s, a: s.school.deals.risk_decisions("ann", actor=a),
        (ACCOUNT, DEVICE, IP),
    ),
    "DealService.group_risk_decisions": (
        lambda s, a: s.school.deals.group_risk_decisions(s.group_id, actor=a),
        (ACCOUNT, DEVICE, IP),
    ),
}

#: reads that return a personal value to their own caller only: the answer of the
#: command the caller just ran with those very values (not yet under the check)
ANSWERS_OF_COMMANDS = {
    "DealService.open_group",
    "DealService.join_group",
    "DealService.leave_group",
    "DealService.cancel_group",
    "DealService.group_by_code",
    "DealService.closing_soon",
    "DealService.expire_due",
    "StudentService.view",  # audited on every read since 0.2, masked by its own rule
}

#: reads answering ids and amounts only: no contact, device or account value
NO_CONTACT_VALUE = {"DealService.referral_debts"}

PERSONAL_TYPES = ("Notice", "GroupDeal", "Guardian", "Profile", "RosterEntry", "dict[str, Any]")


def personal_reads(cls: type) -> set[str]:
    """The public methods of ``cls`` whose answer can hold a personal value."""
    found = set()
    for name, method in inspect.getmembers(cls, inspect.isfunction):
        if name.startswith("_") or "uow" in inspect.signature(method).parameters:
            # a step run inside the caller's unit of work (a sweep's retag), not a read
            continue
        returns = str(inspect.signature(method).return_annotation)
        if any(t in returns for t in PERSONAL_TYPES):
            found.add(f"{cls.__name__}.{name}")
    return found


def test_every_public_read_of_personal_data_takes_an_actor() -> None:
    for cls in (StudentService, NoticeService, DealService, SchoolQueries):
        for read in personal_reads(cls) - ANSWERS_OF_COMMANDS - NO_CONTACT_VALUE:
            assert read in READS, f"{read} returns personal data: give it the access check"
            method = getattr(cls, read.split(".")[1])
            assert "actor" in inspect.signature(method).parameters, read


def audit_rows(school: School, actor: Actor) -> list[tuple[str, str]]:
    page = school.people.audit_log(actor_id=actor.id, limit=1000)
    return [(e.student_id, e.action) for e in page.entries]


@pytest.mark.parametrize("read", sorted(READS))
def test_a_read_is_refused_masked_or_whole_and_each_whole_read_audited_once(
    store: StoreHandle, clock: FixedClock, read: str
) -> None:
    s = setup(store, clock)
    call, values = READS[read]
    whole = repr(call(s, OFFICE))
    assert all(v in whole for v in values), whole
    assert audit_rows(s.school, OFFICE) == [("ann", "read")]
    masked = repr(call(s, SUPPORT))
    assert not any(v in masked for v in values), masked
    assert audit_rows(s.school, SUPPORT) == []
    with pytest.raises(AccessDenied):
        call(s, STRANGER)
    assert audit_rows(s.school, STRANGER) == [("ann", "denied")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        anonymous = repr(call(s, None))
    assert not any(v in anonymous for v in values)
    assert any(issubclass(w.category, DeprecationWarning) for w in caught)


def test_the_registry_decides_outsourced_sales_see_prospects_masked_and_revoking_ends_all(
    store: StoreHandle, clock: FixedClock
) -> None:
    s = setup(store, clock)
    people, students = s.school.people, s.school.students
    seller = Actor(id="u-sales", role="sales")
    people.register_staff("u-sales", StaffRole.OUTSOURCED_SALES)
    assert students.view(seller, "ann").phone == "138****1234"  # a prospect: masked
    hidden = s.school.deals.get_group(s.group_id, actor=seller)  # payments: not in the set
    assert hidden.members[0].account is None
    people.grant(
        "u-sales",
        scope=Scope.MY_STUDENTS,
        student_ids={"ann"},
        fields=FieldSet(payments=True),
        starts_at=clock.now(),
        ends_at=clock.now() + timedelta(days=1),
    )
    group = s.school.deals.get_group(s.group_id, actor=seller)
    assert group.members[0].account == ACCOUNT
    assert len(people.revoke_all("u-sales")) == 1
    with pytest.raises(AccessDenied):
        students.view(seller, "ann")
    with pytest.raises(AccessDenied):
        s.school.deals.get_group(s.group_id, actor=seller)
    rows = audit_rows(s.school, seller)
    assert rows[-2:] == [("ann", "denied"), ("ann", "denied")]
    assert people.staff("u-sales").active is False
