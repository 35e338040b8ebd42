"""A stateful model test of group deals: predict each command, then check the money."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from eduengine import FixedClock, InMemoryEventBus
from eduengine.deals import (
    AccessGranted,
    DealService,
    GroupDeal,
    GroupDealCampaign,
    GroupState,
    RefundIssued,
)
from eduengine.deals.handlers import erase_student
from eduengine.deals.model import DUE, REFUND_DUE, member_index
from eduengine.deals.records import GROUPS
from eduengine.errors import (
    DealLimitReached,
    EduEngineError,
    GroupClosed,
    GroupFull,
    PaymentFailed,
)
from eduengine.payments import FakePaymentGateway
from eduengine.payments.service import PaymentService
from eduengine.people import SYSTEM
from eduengine.pricing import Money
from eduengine.service_layer.ports import open_read_only
from tests.adapters import ADAPTERS, StoreHandle, make_store
from tests.conftest import T0

PRICE = Money("50.00", "CNY")


@dataclass
class ModelGroup:
    deadline: datetime
    state: str = "open"
    members: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)


STUDENTS = [f"s{n}" for n in range(8)]


class DealMachine(RuleBasedStateMachine):
    adapter = "memory"
    groups = Bundle("groups")

    def __init__(self) -> None:
        super().__init__()
        self.handle: StoreHandle = make_store(self.adapter, Path(tempfile.mkdtemp()))
        self.clock = FixedClock(T0)
        self.bus = InMemoryEventBus()
        self.gateway = FakePaymentGateway()
        self.deals = DealService(
            self.handle.unit_of_work,
            gateway=self.gateway,
            clock=self.clock,
            publisher=self.bus,
            risk_rules=(),
        )
        self.deals.create_campaign(
            GroupDealCampaign(
                id="c",
                course_id="course",
                list_price=Money("80", "CNY"),
                group_price=PRICE,
                required_size=2,
                max_size=3,
                duration=timedelta(hours=2),
                starts_at=T0,
                ends_at=T0 + timedelta(days=365),
                max_opened_per_student=10,
                max_joined_per_student=10,
            )
        )
        # each student pays with the default method on file (the account the risk rules
        # and the gateway see)
        payments = PaymentService(self.handle.unit_of_work, gateway=self.gateway, clock=self.clock)
        for student in STUDENTS:
            payments.add_method(student, f"a-{student}")
        # model: group -> (deadline, state, members)
        self.model: dict[str, ModelGroup] = {}

    def teardown(self) -> None:
        self.handle.close()

    def _in_open_group(self, student: str) -> bool:
        return any(g.state == "open" and student in g.members for g in self.model.values())

    @rule(target=groups, student=st.sampled_from(STUDENTS))
    def open_group(self, student: str) -> str:
        if self._in_open_group(student):
            try:
                self.deals.open_group("c", student)
            except DealLimitReached:
                return "none"
            raise AssertionError("a student opened a second open group")
        group = self.deals.open_group("c", student)
        self.model[group.id] = ModelGroup(deadline=group.deadline, members=[student])
        return group.id

    @rule(group=groups, student=st.sampled_from(STUDENTS), declined=st.booleans())
    def join(self, group: str, student: str, declined: bool) -> None:
        if group == "none":
            return
        g = self.model[group]
        members = g.members
        expected: type[Exception] | None = None
        left = g.left
        if (
            g.state not in ("open", "formed")
            or self.clock.now() >= g.deadline
            or student in members
            or student in left  # who left a group cannot come back to it
            # formed at required_size (2), it seats members up to max_size (3)
            or (g.state == "formed" and len(members) >= 3)
        ):
            expected = GroupClosed
        elif len(members) >= 3:
            expected = GroupFull
        elif self._in_open_group(student):
            expected = DealLimitReached
        elif declined:
            expected = PaymentFailed
            self.gateway.fail_next_charges(1)
        before = self.handle.snapshot()
        try:
            state = self.deals.join_group(group, student).state
        except EduEngineError as refused:
            assert expected is not None and isinstance(refused, expected), (refused, expected)
            if not isinstance(refused, PaymentFailed):
                assert self.handle.snapshot() == before, "a refused join changed something"
            self.gateway.fail_next_charges(0)
            return
        assert expected is None, f"expected {expected}"
        members.append(student)
        if len(members) >= 2:
            g.state = "formed"
        assert state.value == g.state

    @rule(group=groups, student=st.sampled_from(STUDENTS))
    def leave(self, group: str, student: str) -> None:
        if group == "none":
            return
        g = self.model[group]
        members = g.members
        try:
            self.deals.leave_group(group, student)
        except EduEngineError:
            assert g.state != "open" or student not in members
            return
        assert g.state == "open" and student in members
        members.remove(student)
        g.left.append(student)

    @rule(minutes=st.integers(10, 150), fail_refunds=st.integers(0, 2))
    def time_passes_and_sweep(self, minutes: int, fail_refunds: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))
        self.gateway.fail_next_refunds(fail_refunds)
        self.deals.expire_due()
        self.gateway.fail_next_refunds(0)
        for g in self.model.values():
            if g.state == "open" and self.clock.now() >= g.deadline:
                g.state = "failed"

    @rule(student=st.sampled_from(STUDENTS))
    def erase(self, student: str) -> None:
        """Erasure changes no money and no membership: the model stays as it is."""
        with self.handle.unit_of_work() as uow:
            erase_student(uow, student, self.clock.now())
            uow.commit()
        for group in self.model:
            member = self.deals.get_group(group, actor=SYSTEM).member(student)
            assert member is None or member.account is member.ip is None

    @invariant()
    def the_indexes_match_the_groups(self) -> None:
        groups = [
            GroupDeal.from_record(doc)
            for doc in self.handle.snapshot()["records"].get("group_deal", {}).values()
        ]
        with open_read_only(self.handle.unit_of_work) as uow:

            def scanned(index: str) -> set[str]:
                return {key for key, _ in uow.records.scan(GROUPS, index)}

            assert scanned(DUE) == {g.id for g in groups if g.state is GroupState.OPEN}
            assert scanned(REFUND_DUE) == {g.id for g in groups if g.refunds_outstanding}
            for student in STUDENTS:
                assert scanned(member_index(student)) == {
                    g.id for g in groups if g.member(student) is not None
                }

    @invariant()
    def money_and_access_match_the_groups(self) -> None:
        self.deals.expire_due()  # settle pending refunds so the books can balance
        charged, refunded = self.gateway.totals()
        net = (charged or Money.zero("CNY")) - (refunded or Money.zero("CNY"))
        formed_members = 0
        access = {
            (e.group_id, e.student_id) for e in self.bus.events if isinstance(e, AccessGranted)
        }
        granted = [
            (e.group_id, e.student_id) for e in self.bus.events if isinstance(e, AccessGranted)
        ]
        assert len(granted) == len(access), "access granted twice"
        refunds = [
            (e.group_id, e.student_id) for e in self.bus.events if isinstance(e, RefundIssued)
        ]
        assert len(refunds) == len(set(refunds)), "a member was refunded twice"
        for gid, g in self.model.items():
            real = self.deals.get_group(gid, actor=SYSTEM)
            assert real.state.value == g.state
            assert real.places_taken <= 3
            paid = sorted(m.student_id for m in real.paid)
            if real.state is GroupState.FAILED:
                assert paid == [], "members of a failed group are all refunded"
            else:
                assert paid == sorted(g.members)
            if real.state is GroupState.FORMED:
                formed_members += len(paid)
                assert {(gid, s) for s in paid} <= access
            else:
                assert not any(a[0] == gid for a in access)
            if real.state is GroupState.FAILED:
                assert all(m.status == "refunded" for m in real.members if m.charge_id)
        open_paid = sum(
            len(self.deals.get_group(gid, actor=SYSTEM).paid)
            for gid, g in self.model.items()
            if g.state == "open"
        )
        assert net == PRICE * (formed_members + open_paid)


def _machine_for(adapter: str) -> type[DealMachine]:
    return type(f"DealMachine_{adapter}", (DealMachine,), {"adapter": adapter})


for _adapter in ADAPTERS:
    globals()[f"TestDealMachine_{_adapter}"] = _machine_for(_adapter).TestCase
