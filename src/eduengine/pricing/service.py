"""Quotes and checkout through units of work: coupon limits that hold under concurrency.

A coupon's document holds its redemption count as an integer, and each student's count of
it lives in a small record of its own (``coupon_use`` ``"<code>:<student id>"``), so a
checkout reads O(1) data however often the coupon was used. Both are read with
``uow.records.get`` (which locks them), the coupon first, so its lock serialises every
change to either and a coupon is never redeemed beyond its limits however many checkouts
race.
Coupons are stored under their canonical code (:func:`~eduengine.pricing.rules.
canonical_code`: NFKC, trimmed, case-folded) and found by it, so two codes that differ
only by case cannot both exist and a student may type either.
Checkout charges exactly the quoted total with the idempotency key ``order:<order id>``;
a declined payment or a cancelled order releases the redemptions again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs

from eduengine import referrals
from eduengine.booking.events import DomainEvent
from eduengine.booking.model import IdFactory
from eduengine.clock import Clock
from eduengine.errors import (
    CouponRefused,
    DuplicateCouponCode,
    DuplicateId,
    InvalidInput,
    InvalidMoney,
    InvalidTransition,
    OrderNotFound,
    PaymentFailed,
)
from eduengine.messagebus import MessageBus
from eduengine.payments import PaymentGateway
from eduengine.ports import EventPublisher, UnitOfWork, UnitOfWorkFactory
from eduengine.pricing.money import Money
from eduengine.pricing.rules import (
    Coupon,
    Customer,
    OrderLine,
    PriceRule,
    Quote,
    canonical_code,
    quote,
)
from eduengine.service import ServiceBase

COUPONS = "coupon"
#: one student's uses of one coupon, keyed ``"<coupon key>:<student id>"``
COUPON_USES = "coupon_use"
RULES = "price_rule"
ORDERS = "order"


@attrs.frozen(kw_only=True)
class OrderPaid(DomainEvent):
    order_id: str
    student_id: str
    total: Money
    coupons: tuple[str, ...]
    #: the courses bought (a student is enrolled in each)
    course_ids: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class OrderCancelled(DomainEvent):
    order_id: str
    student_id: str
    refunded: Money | None


@attrs.frozen(kw_only=True)
class Order:
    id: str
    student_id: str
    quote: Quote
    status: str  # pending | paid | failed | cancelled
    charge_id: str | None = None


class PricingService(ServiceBase):
    """Price rules, coupons, quotes and checkout.

    Rules are given to the service (they are configuration); coupons are stored, because
    their redemptions are state.

    >>> from datetime import datetime, timezone
    >>> from decimal import Decimal
    >>> from eduengine import FixedClock, InMemoryStore
    >>> from eduengine.payments import FakePaymentGateway
    >>> from eduengine.pricing.rules import DiscountKind
    >>> shop = PricingService(InMemoryStore().unit_of_work, gateway=FakePaymentGateway(),
    ...     clock=FixedClock(datetime(2026, 3, 2, tzinfo=timezone.utc)))
    >>> shop.add_coupon(Coupon(code="HELLO", kind=DiscountKind.AMOUNT,
    ...                        value=Money("20", "CNY")))
    >>> order = shop.checkout("o1", Customer(student_id="ann"),
    ...     [OrderLine(course_id="py", price=Money("199", "CNY"))], coupons=["HELLO"],
    ...     account="acct-ann")
    >>> str(order.quote.total), order.status
    ('179.00 CNY', 'paid')
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        gateway: PaymentGateway,
        rules: Sequence[PriceRule] = (),
        max_discount: Money | None = None,
        referral_reward: str = "coupon:REFERRAL-50",
        clock: Clock | None = None,
        publisher: EventPublisher | None = None,
        new_id: IdFactory | None = None,
        bus: MessageBus | None = None,
    ) -> None:
        super().__init__(uow, clock=clock, publisher=publisher, new_id=new_id, bus=bus)
        if not all(isinstance(rule, PriceRule) for rule in rules):
            raise InvalidInput(f"rules must be PriceRules, got {rules!r}")
        if max_discount is not None and (
            not isinstance(max_discount, Money) or max_discount.amount < 0
        ):
            raise InvalidMoney(f"max_discount must be non-negative Money, got {max_discount!r}")
        self.gateway = gateway
        self.rules = tuple(rules)
        self.max_discount = max_discount
        self.referral_reward = referral_reward

    def add_coupon(self, coupon: Coupon) -> None:
        """Store a coupon under its canonical code; a code that differs from a stored one
        only by case, Unicode width or blanks at the ends is refused
        (:class:`~eduengine.errors.DuplicateCouponCode`)."""
        if not isinstance(coupon, Coupon):
            raise InvalidInput(f"expected a Coupon, got {coupon!r}")

        def command(uow: UnitOfWork, now: datetime) -> None:
            for key in dict.fromkeys((coupon.key, coupon.code)):  # and one stored before keys
                found = uow.records.get(COUPONS, key)
                if found is not None:
                    raise DuplicateCouponCode(coupon.code, found["coupon"]["code"])
            uow.records.put(COUPONS, coupon.key, {"coupon": coupon.to_record(), "redeemed": 0})

        self._run(command)

    def redemptions(self, code: str) -> int:
        """How many orders hold a redemption of the coupon now."""

        def query(uow: UnitOfWork, now: datetime) -> int:
            return _redeemed(_find_coupon(uow, code)[1])

        return self._run(query, write=False)

    def quote(
        self, customer: Customer, lines: Sequence[OrderLine], coupons: Sequence[str] = ()
    ) -> Quote:
        """The price breakdown (checks coupon limits, redeems nothing)."""
        typed = _typed_codes(coupons)

        def query(uow: UnitOfWork, now: datetime) -> Quote:
            found = [self._usable(uow, code, customer.student_id)[0] for code in typed.values()]
            return quote(
                lines,
                customer,
                rules=self.rules,
                coupons=found,
                now=now,
                max_discount=self.max_discount,
            )

        return self._run(query, write=False)

    def checkout(
        self,
        order_id: str,
        customer: Customer,
        lines: Sequence[OrderLine],
        *,
        coupons: Sequence[str] = (),
        account: str,
    ) -> Order:
        """Quote, redeem the coupons that take something off, and charge exactly the
        quoted total."""
        typed = _typed_codes(coupons)

        def reserve(uow: UnitOfWork, now: datetime) -> Order:
            if uow.records.get(ORDERS, order_id) is not None:
                raise DuplicateId(f"order {order_id!r} already exists")
            found = {}
            for key in sorted(typed):  # lock coupons in one order: no deadlock
                found[key] = self._usable(uow, typed[key], customer.student_id)
            priced = quote(
                lines,
                customer,
                rules=self.rules,
                coupons=[found[key][0] for key in typed],
                now=now,
                max_discount=self.max_discount,
            )
            stored_keys = []
            for key in sorted(found):
                coupon, stored, doc = found[key]
                if coupon.code in priced.coupons:  # one that takes nothing off is kept
                    _count_use(uow, stored, customer.student_id, doc, coupon, +1)
                    stored_keys.append(stored)
            order = Order(
                id=order_id, student_id=customer.student_id, quote=priced, status="pending"
            )
            uow.records.put(ORDERS, order_id, {**_order_record(order), "coupon_keys": stored_keys})
            return order

        order = self._run(reserve)
        try:
            charge = None
            if order.quote.total.amount > 0:
                charge = self.gateway.charge(f"order:{order_id}", account, order.quote.total)
        except PaymentFailed:
            self._run(lambda uow, now: self._close(uow, order_id, "failed", now, None))
            raise

        def confirm(uow: UnitOfWork, now: datetime) -> Order:
            doc = _order_doc(uow, order_id)
            doc["status"] = "paid"
            doc["charge_id"] = None if charge is None else charge.id
            uow.records.put(ORDERS, order_id, doc)
            _, rewards = referrals.order_paid(uow, customer.student_id, now, self.referral_reward)
            uow.record_events(rewards)
            uow.record_events(
                [
                    OrderPaid(
                        occurred_at=now,
                        order_id=order_id,
                        student_id=customer.student_id,
                        total=order.quote.total,
                        coupons=order.quote.coupons,
                        course_ids=tuple(
                            dict.fromkeys(line.course_id for line in order.quote.lines)
                        ),
                    )
                ]
            )
            return attrs.evolve(order, status="paid", charge_id=doc["charge_id"])

        return self._run(confirm)

    def cancel_order(self, order_id: str) -> None:
        """Cancel a paid order: refund it and release its coupon redemptions."""
        doc = self._run(lambda uow, now: _order_doc(uow, order_id), write=False)
        if doc["status"] != "paid":
            raise InvalidTransition(f"order {order_id!r} is {doc['status']}")
        refunded = None
        if doc["charge_id"] is not None:
            total = Money.from_record(doc["total"])
            self.gateway.refund(f"refund:{order_id}", doc["charge_id"], total)
            refunded = total
        self._run(lambda uow, now: self._close(uow, order_id, "cancelled", now, refunded))

    # --- internals --------------------------------------------------------------------

    def _usable(
        self, uow: UnitOfWork, code: str, student_id: str
    ) -> tuple[Coupon, str, dict[str, Any]]:
        """The coupon ``code`` names, the key it is stored under, and its (locked)
        document, if the student may still use it."""
        stored, doc = _find_coupon(uow, code)
        coupon = Coupon.from_record(doc["coupon"])
        if coupon.max_redemptions is not None and _redeemed(doc) >= coupon.max_redemptions:
            raise CouponRefused(code, f"used up ({coupon.max_redemptions} redemptions)")
        if coupon.max_per_student is not None:
            mine = _uses_of(uow, stored, student_id, doc)
            if mine >= coupon.max_per_student:
                raise CouponRefused(code, f"student {student_id!r} already used it {mine} time(s)")
        return coupon, stored, doc

    def _close(
        self, uow: UnitOfWork, order_id: str, status: str, now: datetime, refunded: Money | None
    ) -> None:
        doc = _order_doc(uow, order_id)
        if doc["status"] in ("failed", "cancelled"):
            return
        # the order's status, read under its lock, makes the release happen exactly once
        # the keys the coupons are stored under (an order written without them: its codes)
        for code in sorted(doc.get("coupon_keys", doc["coupons"])):
            key, cdoc = _held_coupon(uow, code)
            coupon = Coupon.from_record(cdoc["coupon"])
            _count_use(uow, key, doc["student_id"], cdoc, coupon, -1)
        doc["status"] = status
        uow.records.put(ORDERS, order_id, doc)
        if status == "cancelled":
            uow.record_events(
                [
                    OrderCancelled(
                        occurred_at=now,
                        order_id=order_id,
                        student_id=doc["student_id"],
                        refunded=refunded,
                    )
                ]
            )


def _typed_codes(coupons: Sequence[str]) -> dict[str, str]:
    """The codes a student typed, by canonical key (refused if two name one coupon)."""
    if isinstance(coupons, str) or not all(isinstance(c, str) for c in coupons):
        raise InvalidInput(f"coupons must be a sequence of codes, got {coupons!r}")
    typed = {canonical_code(code): code for code in coupons}
    if len(typed) != len(coupons):
        raise InvalidInput(f"a coupon code can be used once per order, got {list(coupons)!r}")
    return typed


def _held_coupon(uow: UnitOfWork, code: str) -> tuple[str, dict[str, Any]]:
    """The key and document of a coupon an order holds: stored under exactly ``code``
    (its key, or the code of a coupon stored before codes were canonical), else under
    its canonical form."""
    doc = uow.records.get(COUPONS, code)
    if doc is not None:
        return code, doc
    return _find_coupon(uow, code)


def _find_coupon(uow: UnitOfWork, code: str) -> tuple[str, dict[str, Any]]:
    """The key and document of the coupon a student typed as ``code``: by its canonical
    form, else (a coupon stored before codes were canonical) by the code as typed."""
    key = canonical_code(code)
    doc = uow.records.get(COUPONS, key) if key else None
    if doc is None and code.strip() != key:
        key = code.strip()
        doc = uow.records.get(COUPONS, key)
    if doc is None:
        raise CouponRefused(code, "unknown code")
    return key, doc


def _redeemed(doc: dict[str, Any]) -> int:
    if "used" in doc:  # written before the count: every redemption by order id
        return len(doc["used"])
    return int(doc["redeemed"])


def _use_key(code: str, student_id: str) -> str:
    return f"{code}:{student_id}"


def _uses_of(uow: UnitOfWork, code: str, student_id: str, doc: dict[str, Any]) -> int:
    """How many redemptions of ``code`` the student holds (call with the coupon locked)."""
    if "used" in doc:
        return sum(1 for s in doc["used"].values() if s == student_id)
    mine = uow.records.get(COUPON_USES, _use_key(code, student_id))
    return 0 if mine is None else int(mine["count"])


def _count_use(
    uow: UnitOfWork,
    code: str,
    student_id: str,
    doc: dict[str, Any],
    coupon: Coupon,
    step: int,
) -> None:
    """Add ``step`` (+1 redeem, -1 release) to the coupon's count and, if it limits uses
    per student, to the student's; ``doc`` is the locked coupon document."""
    if "used" in doc:
        _upgrade(uow, code, doc, coupon)
    doc["redeemed"] += step
    uow.records.put(COUPONS, code, doc)
    if coupon.max_per_student is None:
        return
    key = _use_key(code, student_id)
    mine = uow.records.get(COUPON_USES, key) or {"count": 0}
    mine["count"] = int(mine["count"]) + step
    if mine["count"]:
        uow.records.put(COUPON_USES, key, mine)
    else:
        uow.records.delete(COUPON_USES, key)


def _upgrade(uow: UnitOfWork, code: str, doc: dict[str, Any], coupon: Coupon) -> None:
    """Turn a document that listed every redemption by order into counts (once per
    coupon, in the first checkout or release that changes it). An order being released
    is still listed, so it is counted and then taken off like any other."""
    used: dict[str, str] = doc.pop("used")
    doc["redeemed"] = len(used)
    if coupon.max_per_student is None:
        return
    per_student: dict[str, int] = {}
    for student in used.values():
        per_student[student] = per_student.get(student, 0) + 1
    for student, count in sorted(per_student.items()):
        uow.records.put(COUPON_USES, _use_key(code, student), {"count": count})


def _order_doc(uow: UnitOfWork, order_id: str) -> dict[str, Any]:
    doc = uow.records.get(ORDERS, order_id)
    if doc is None:
        raise OrderNotFound(str(order_id))
    return doc


def _order_record(order: Order) -> dict[str, Any]:
    return {
        "student_id": order.student_id,
        "status": order.status,
        "charge_id": order.charge_id,
        "total": order.quote.total.to_record(),
        "coupons": list(order.quote.coupons),
        "lines": [
            {"course_id": line.course_id, "total": line.total.to_record()}
            for line in order.quote.lines
        ],
    }
