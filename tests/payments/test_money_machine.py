"""Money is never lost: a stateful test over checkouts with coupons, group opens and
joins, deadlines and late fees, against a provider that declines, times out before or
after charging, loses answers, goes down, and repeats its notifications late.

Each command's outcome is predicted from the fault the provider was told to show (and
from what the provider already holds under the key), then asserted. After every step:
every charge not refunded is held by a paid order, a paid place, a charged fee, or is on
its way (an open intent or refund); every coupon use is held by a paid or pending order.
The ``settle`` rule runs one reconcile with a reachable provider and checks that nothing
is left pending and that the books balance to the cent.
"""

from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from eduengine import FixedClock, School
from eduengine.deals import GroupDealCampaign, GroupState
from eduengine.errors import (
    CouponRefused,
    DealLimitReached,
    DuplicateId,
    GroupClosed,
    GroupFull,
    InvalidTransition,
    PaymentFailed,
    PaymentOutcomeUnknown,
)
from eduengine.payments import Charge, FakePaymentGateway, Fault
from eduengine.people import SYSTEM
from eduengine.policies import CancellationPolicy
from eduengine.pricing import Money
from eduengine.pricing.rules import Coupon, Customer, DiscountKind, OrderLine
from tests.adapters import ADAPTERS, StoreHandle, make_store
from tests.conftest import T0
from tests.till import checkout

STUDENTS = ["ann", "bob", "cat", "dan"]
PRICE = Money("50.00", "CNY")
FEE = Money("30.00", "CNY")
LINES = [OrderLine(course_id="py", price=Money("100.00", "CNY"))]
ZERO = Money.zero("CNY")
PAYING = ("pending", "payment_unknown")
HOLDING = (*PAYING, "paid", "refund_due")
CLOSED = ("failed", "expired", "cancelled")
TIMEOUTS = (Fault.TIMEOUT_BEFORE, Fault.TIMEOUT_AFTER)
FAULTS = st.sampled_from(list(Fault))


class MoneyMachine(RuleBasedStateMachine):
    adapter = "memory"
    orders = Bundle("orders")
    groups = Bundle("groups")

    def __init__(self) -> None:
        super().__init__()
        self.handle: StoreHandle = make_store(self.adapter, Path(tempfile.mkdtemp()))
        self.clock = FixedClock(T0)
        self.gateway = FakePaymentGateway()
        self.school = School.build(
            self.handle,
            clock=self.clock,
            gateway=self.gateway,
            policy=CancellationPolicy(max_violations=None, late_fee=FEE),
            reminders=None,
            risk_rules=(),
            settle_payments_after=timedelta(minutes=5),
        )
        self.school.pricing.add_coupon(
            Coupon(
                code="TWO",
                kind=DiscountKind.AMOUNT,
                value=Money("20", "CNY"),
                max_redemptions=2,
                max_per_student=None,
            )
        )
        self.school.deals.create_campaign(
            GroupDealCampaign(
                id="c",
                course_id="py",
                list_price=Money("80", "CNY"),
                group_price=PRICE,
                required_size=2,
                max_size=3,
                duration=timedelta(minutes=30),
                starts_at=T0,
                ends_at=T0 + timedelta(days=365),
                max_opened_per_student=20,
                max_joined_per_student=20,
            )
        )
        for student in STUDENTS:
            self.school.payments.add_method(student, f"acct-{student}")
        for service in (self.school.deals, self.school.fees, self.school.payments):
            service.sweep_rest = 0  # sweeps rest between batches for real traffic only
        self.order_of: dict[str, tuple[str, bool]] = {}  # order -> (student, coupon)
        self.group_ids: set[str] = set()
        self.backlog: list[tuple[str, str]] = []
        self.count = 0

    def teardown(self) -> None:
        self.handle.close()

    # --- helpers -----------------------------------------------------------------------

    def _status(self, order_id: str) -> str:
        return self.school.pricing.get_order(order_id, actor=SYSTEM).status

    def _coupon_holders(self) -> int:
        return sum(
            1 for o, (_, coupon) in self.order_of.items() if coupon and self._status(o) in HOLDING
        )

    def _script(self, fault: Fault) -> bool:
        """Queue ``fault`` for the next call; returns whether that call can get through."""
        self.gateway.clear_script()
        self.gateway.script(fault)
        return not self.gateway.unreachable

    def _in_open_group(self, student: str) -> bool:
        for gid in self.group_ids:
            group = self.school.deals.get_group(gid, actor=SYSTEM)
            mine = group.member(student)
            if group.state is GroupState.OPEN and mine is not None and mine.counts:
                return True
        return False

    # --- checkout ----------------------------------------------------------------------

    @rule(target=orders, student=st.sampled_from(STUDENTS), coupon=st.booleans(), fault=FAULTS)
    def checkout(self, student: str, coupon: bool, fault: Fault) -> str:
        self.count += 1
        order_id = f"o{self.count}"
        refused = coupon and self._coupon_holders() >= 2
        reachable = self._script(fault)
        try:
            status = checkout(
                self.school.pricing,
                order_id,
                Customer(student_id=student),
                LINES,
                coupons=["TWO"] if coupon else [],
            ).status
        except CouponRefused:
            assert refused
            return "none"
        except PaymentFailed:
            assert reachable and fault is Fault.DECLINE
            status = self._status(order_id)
            assert status == "failed"
        except PaymentOutcomeUnknown:
            assert not reachable or fault in TIMEOUTS
            status = self._status(order_id)
            assert status == "payment_unknown"
        else:
            assert not refused and reachable and fault is Fault.OK and status == "paid"
        finally:
            self.gateway.clear_script()
        self.order_of[order_id] = (student, coupon)
        return order_id

    @rule(order=orders, fault=FAULTS)
    def retry_checkout(self, order: str, fault: Fault) -> None:
        if order == "none":
            return
        student, coupon = self.order_of[order]
        before = self._status(order)
        charged = f"order:{order}" in self.gateway.charges
        reachable = self._script(fault)
        try:
            status = checkout(
                self.school.pricing,
                order,
                Customer(student_id=student),
                LINES,
                coupons=["TWO"] if coupon else [],
            ).status
        except DuplicateId:
            assert before in CLOSED
            return
        except PaymentFailed:
            assert before in PAYING and reachable and not charged and fault is Fault.DECLINE
            assert self._status(order) == "failed"
            return
        except PaymentOutcomeUnknown:
            assert before in PAYING and (not reachable or (not charged and fault in TIMEOUTS))
            assert self._status(order) == "payment_unknown"
            return
        finally:
            self.gateway.clear_script()
        if before in PAYING:
            assert status == "paid" and reachable and (charged or fault is Fault.OK)
        else:
            assert status == before and before in ("paid", "refund_due")

    @rule(order=orders, fault=FAULTS)
    def cancel_order(self, order: str, fault: Fault) -> None:
        if order == "none":
            return
        before = self._status(order)
        charged = f"order:{order}" in self.gateway.charges
        reachable = self._script(fault)
        try:
            self.school.pricing.cancel_order(order)
        except InvalidTransition:
            assert before in CLOSED
            return
        except PaymentFailed:
            assert reachable and fault is Fault.DECLINE and (charged or before == "paid")
            assert self._status(order) == "refund_due"
            return
        except PaymentOutcomeUnknown:
            assert not reachable or fault in TIMEOUTS
            assert self._status(order) in (*PAYING, "refund_due")
            return
        finally:
            self.gateway.clear_script()
        assert before not in CLOSED and self._status(order) == "cancelled"

    # --- group deals ---------------------------------------------------------------------

    @rule(target=groups, student=st.sampled_from(STUDENTS), fault=FAULTS)
    def open_group(self, student: str, fault: Fault) -> str:
        busy = self._in_open_group(student)
        reachable = self._script(fault)
        try:
            group = self.school.deals.open_group("c", student)
        except DealLimitReached:
            assert busy
            return "none"
        except PaymentFailed:
            assert reachable and fault is Fault.DECLINE
            return "none"
        except PaymentOutcomeUnknown as lost:
            assert not reachable or fault in TIMEOUTS
            group_id = lost.key.split(":")[1]
            self.group_ids.add(group_id)
            return group_id
        finally:
            self.gateway.clear_script()
        self.group_ids.add(group.id)
        return group.id

    @rule(group=groups, student=st.sampled_from(STUDENTS), fault=FAULTS)
    def join_group(self, group: str, student: str, fault: Fault) -> None:
        if group == "none":
            return
        before = self.school.deals.get_group(group, actor=SYSTEM)
        mine = before.member(student)
        resuming = mine is not None and mine.status == "pending"
        reachable = self._script(fault)
        try:
            after = self.school.deals.join_group(group, student)
        except (GroupClosed, GroupFull, DealLimitReached):
            assert not resuming
            return
        except PaymentFailed:
            assert reachable and fault is Fault.DECLINE
            assert self.school.deals.get_group(group, actor=SYSTEM).member(student) is None
            return
        except PaymentOutcomeUnknown:
            assert not reachable or fault in TIMEOUTS
            still = self.school.deals.get_group(group, actor=SYSTEM).member(student)
            assert still is not None and still.status == "pending"
            return
        finally:
            self.gateway.clear_script()
        joined = after.member(student)
        if before.state is GroupState.OPEN:
            assert joined is not None and joined.status == "paid"

    # --- late fees, time, the provider -----------------------------------------------------

    @rule(student=st.sampled_from(STUDENTS), fault=FAULTS)
    def late_cancellation(self, student: str, fault: Fault) -> None:
        now = self.clock.now()
        slot = self.school.booking.create_slot(
            "math", now + timedelta(hours=2), now + timedelta(hours=3), capacity=5
        )
        seat = self.school.booking.book(slot.id, student)
        reachable = self._script(fault)
        self.school.booking.cancel(seat.id)  # the fee is tried after commit
        self.gateway.clear_script()
        fee = next(
            f for f in self.school.fees.fees_of(student, actor=SYSTEM) if f.booking_id == seat.id
        )
        assert fee.state == ("charged" if reachable and fault is Fault.OK else "due")

    @rule(minutes=st.integers(1, 45))
    def time_passes(self, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))
        self.school.deals.expire_due()
        self.school.fees.collect_due()

    @rule(down=st.booleans())
    def provider_outage(self, down: bool) -> None:
        self.gateway.unreachable = down

    @rule(data=st.data())
    def notifications_arrive(self, data: st.DataObject) -> None:
        """Some notifications, any number of times, in any order, maybe long after."""
        self.backlog += self.gateway.take_notifications()
        if not self.backlog:
            return
        for kind, key in data.draw(st.lists(st.sampled_from(self.backlog), max_size=4)):
            if kind == "succeeded":
                self.school.payments.notify_succeeded(key)
            else:
                self.school.payments.notify_failed(key)

    @rule()
    def reconcile(self) -> None:
        self.school.payments.reconcile()

    @rule(later=st.booleans())
    def settle(self, later: bool) -> None:
        """One reconcile with a reachable provider leaves nothing pending (``later``: at
        the end of the day, past every group's deadline)."""
        if later:
            self.clock.advance(timedelta(minutes=31))
        self.gateway.unreachable = False
        self.gateway.clear_script()
        self.school.deals.expire_due()  # groups past their deadline fail first
        self.school.payments.reconcile(settle_after=timedelta(0))
        assert self.school.payments.count_open() == 0
        for order in self.order_of:
            assert self._status(order) not in (*PAYING, "refund_due")
        for gid in self.group_ids:
            group = self.school.deals.get_group(gid, actor=SYSTEM)
            kept = "paid" if group.state in (GroupState.OPEN, GroupState.FORMED) else "refunded"
            for m in group.members:
                assert m.status in (kept, "refunded"), (gid, group.state, m)
        self._books_balance()

    # --- invariants ----------------------------------------------------------------------

    def _books_balance(self) -> None:
        charged, refunded = self.gateway.totals()
        net = (charged or ZERO) - (refunded or ZERO)
        held = ZERO
        for order in self.order_of:
            got = self.school.pricing.get_order(order, actor=SYSTEM)
            if got.status == "paid":
                held += got.quote.total
        for gid in self.group_ids:
            group = self.school.deals.get_group(gid, actor=SYSTEM)
            if group.state in (GroupState.OPEN, GroupState.FORMED):
                held += PRICE * len(group.paid)
        for student in STUDENTS:
            held += FEE * sum(
                1 for f in self.school.fees.fees_of(student, actor=SYSTEM) if f.state == "charged"
            )
        assert net == held, (net, held)

    def _held(self, charge: Charge) -> bool:
        """Whether something the school keeps accounts for this (unrefunded) charge."""
        intent = self.school.payments.intent(charge.key)
        if intent is not None and intent.is_open:
            return True  # its outcome is being learnt
        kind, _, rest = charge.key.partition(":")
        if kind == "order":
            got = self.school.pricing.get_order(rest, actor=SYSTEM)
            refund = self.school.payments.intent(f"refund:{rest}")
            return (got.charge_id == charge.id and got.status in ("paid", "refund_due")) or (
                refund is not None and refund.is_open
            )
        if kind == "charge":
            gid, student = rest.split(":")[:2]
            group = self.school.deals.get_group(gid, actor=SYSTEM)
            member = group.member(student)
            refund = self.school.payments.intent(f"refund:{charge.key}")
            live = group.state in (GroupState.OPEN, GroupState.FORMED)
            return (
                member is not None
                and member.charge_id == charge.id
                and (member.status == "refund_due" or (live and member.status == "paid"))
            ) or (refund is not None and refund.is_open)
        assert kind == "late-fee", charge.key
        fees = [
            f
            for s in STUDENTS
            for f in self.school.fees.fees_of(s, actor=SYSTEM)
            if f.booking_id == rest
        ]
        return any(f.state == "charged" and f.charge_id == charge.id for f in fees)

    @invariant()
    def nobody_is_charged_for_nothing(self) -> None:
        refunded = {r.charge_id for r in self.gateway.refunds.values()}
        for charge in self.gateway.charges.values():
            if charge.id not in refunded:
                assert self._held(charge), charge

    @invariant()
    def every_coupon_use_has_a_paid_or_pending_order(self) -> None:
        assert self.school.pricing.redemptions("TWO") == self._coupon_holders()


def _machine_for(adapter: str) -> type[MoneyMachine]:
    return type(f"MoneyMachine_{adapter}", (MoneyMachine,), {"adapter": adapter})


def _case_for(adapter: str) -> type:
    case = _machine_for(adapter).TestCase
    # a short default run (every step reads every order and group); HYPOTHESIS_PROFILE=deep
    # runs the profile's examples with longer walks
    examples = case.settings.max_examples
    steps = 40
    if examples <= 100:
        examples, steps = (6 if adapter == "postgres" else 15), 25
    case.settings = settings(case.settings, stateful_step_count=steps, max_examples=examples)
    return case


for _adapter in ADAPTERS:
    globals()[f"TestMoneyMachine_{_adapter}"] = _case_for(_adapter)
