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

The charge is filed as a payment intent with the order (status ``pending``) before the
gateway is called. A lost answer leaves the order ``payment_unknown``, holding its
coupons: checking out again with the same order id resumes it (the same key never charges
twice), and :meth:`eduengine.payment_service.PaymentService.reconcile` settles it (paid, or
``expired`` with its coupons released when the provider never charged). A charge that
lands for an order that is gone already is refunded under ``refund:<order id>``; so is a
cancelled order (status ``refund_due`` until the provider confirms).
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
    IdempotencyKeyReused,
    InvalidInput,
    InvalidMoney,
    InvalidTransition,
    OrderNotFound,
    PaymentFailed,
    PaymentOutcomeUnknown,
    PersistenceError,
    WrongType,
)
from eduengine.inputs import check_id, check_ids
from eduengine.intents import PaymentIntent, close, note_unknown, record_charge, record_refund
from eduengine.messagebus import MessageBus
from eduengine.payments import Charge, PaymentGateway, PaymentState, Refund
from eduengine.ports import EventPublisher, UnitOfWork, UnitOfWorkFactory
from eduengine.pricing.coupons import COUPONS as COUPONS  # where it was defined before
from eduengine.pricing.money import Money
from eduengine.pricing.rules import (
    Coupon,
    Customer,
    OrderLine,
    PriceRule,
    Quote,
    QuoteLine,
    canonical_code,
    quote,
)
from eduengine.service import ServiceBase

#: one student's uses of one coupon, keyed ``"<coupon key>:<student id>"``
COUPON_USES = "coupon_use"
RULES = "price_rule"
ORDERS = "order"
#: the owner name of checkout's payment intents
ORDER_OWNER = "order"
#: an order whose charge is under way, or whose answer was lost
PAYING = ("pending", "payment_unknown")
#: an order that holds nothing any more (its coupons are released)
CLOSED = ("failed", "expired", "cancelled")


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
    #: pending | payment_unknown | paid | refund_due | cancelled | failed | expired
    status: str
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
        referral_reward: referrals.ReferralReward = referrals.DEFAULT_REFERRAL_REWARD,
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
        #: the coupon a referrer is issued when the student they brought first pays
        self.referral_reward = referrals.referral_reward(referral_reward)

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
        check_id(code, "code")

        def query(uow: UnitOfWork, now: datetime) -> int:
            return _redeemed(_find_coupon(uow, code)[1])

        return self._run(query, write=False)

    def quote(
        self, customer: Customer, lines: Sequence[OrderLine], coupons: Sequence[str] = ()
    ) -> Quote:
        """The price breakdown (checks coupon limits, redeems nothing)."""
        _check_order(customer, lines, coupons)
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

    def get_order(self, order_id: str) -> Order:
        """The order as stored (its status says where its payment is)."""
        check_id(order_id, "order_id")
        return self._run(
            lambda uow, now: _order_from(order_id, _order_doc(uow, order_id)), write=False
        )

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
        quoted total.

        Idempotent by ``order_id``: checking out an order whose payment is pending or
        unknown resumes it (same idempotency key, so the student is charged at most once),
        and checking out a paid order returns it. Raises ``PaymentFailed`` when the
        provider declined (the coupons are released) and ``PaymentOutcomeUnknown`` when
        its answer was lost (the order stays ``payment_unknown`` and keeps its coupons
        until a retry or :meth:`~eduengine.payment_service.PaymentService.reconcile`
        settles it).
        """
        check_id(order_id, "order_id")
        check_id(account, "account")
        _check_order(customer, lines, coupons)
        typed = _typed_codes(coupons)
        key = charge_key(order_id)
        request = _request(customer, lines, typed)

        def reserve(uow: UnitOfWork, now: datetime) -> Order:
            doc = uow.records.get(ORDERS, order_id)
            if doc is not None:
                _same_request(order_id, doc, request)
                if doc["status"] in CLOSED:
                    raise DuplicateId(f"order {order_id!r} already exists ({doc['status']})")
                if doc["status"] in PAYING:  # a retry: charge the same key again
                    record_charge(
                        uow,
                        key,
                        owner=ORDER_OWNER,
                        ref={"order_id": order_id},
                        account=account,
                        amount=Money.from_record(doc["total"]),
                        now=now,
                        student_id=customer.student_id,
                    )
                return _order_from(order_id, doc)
            found = {}
            for code_key in sorted(typed):  # lock coupons in one order: no deadlock
                found[code_key] = self._usable(uow, typed[code_key], customer.student_id)
            priced = quote(
                lines,
                customer,
                rules=self.rules,
                coupons=[found[code_key][0] for code_key in typed],
                now=now,
                max_discount=self.max_discount,
            )
            stored_keys = []
            for code_key in sorted(found):
                coupon, stored, cdoc = found[code_key]
                if coupon.code in priced.coupons:  # one that takes nothing off is kept
                    _count_use(uow, stored, customer.student_id, cdoc, coupon, +1)
                    stored_keys.append(stored)
            order = Order(
                id=order_id, student_id=customer.student_id, quote=priced, status="pending"
            )
            uow.records.put(
                ORDERS,
                order_id,
                {**_order_record(order), "coupon_keys": stored_keys, "request": request},
            )
            if priced.total.amount <= 0:  # nothing to charge: paid at once
                return self._mark_paid(uow, now, order_id, None)
            # the intent is filed with the order: a crash before the charge is reconciled
            record_charge(
                uow,
                key,
                owner=ORDER_OWNER,
                ref={"order_id": order_id},
                account=account,
                amount=priced.total,
                now=now,
                student_id=customer.student_id,
            )
            return order

        order = self._run(reserve)
        if order.status not in PAYING:
            return order
        try:
            charge = self.gateway.charge(key, account, order.quote.total)
        except PaymentFailed:
            self._run(lambda uow, now: self._release(uow, order_id, "failed", now))
            raise
        except Exception as exc:  # a lost answer of any kind: the money may have moved
            self._run(lambda uow, now: self._note_unknown(uow, order_id))
            raise PaymentOutcomeUnknown(
                key,
                f"order {order_id!r} is payment_unknown ({PaymentOutcomeUnknown.reason(exc)})",
                order_id=order_id,
            ) from exc
        try:
            paid = self._settle_charge(order_id, charge)
        except PersistenceError as exc:
            # the money moved and the order still holds its coupons: not "nothing was
            # written"; checking out again (or reconcile) confirms it under the same key
            raise PaymentOutcomeUnknown(
                key,
                f"charged ({charge.id}), but confirming order {order_id!r} failed: {exc}",
                order_id=order_id,
            ) from exc
        if paid is None:
            raise InvalidTransition(
                f"order {order_id!r} was closed before its charge {charge.id!r} was "
                "confirmed; the charge is being refunded"
            )
        return paid

    def cancel_order(self, order_id: str) -> None:
        """Cancel an order: refund it and release its coupon redemptions.

        A paid order turns ``refund_due`` until the provider confirms the refund (retry
        this call, or let reconcile retry it). An order whose payment is pending or
        unknown is settled first by asking the provider: charged, it is cancelled and
        refunded like a paid one; not charged, it is cancelled at once. When the provider
        cannot be reached this raises ``PaymentOutcomeUnknown`` and changes nothing.
        """
        check_id(order_id, "order_id")
        doc = self._run(lambda uow, now: _order_doc(uow, order_id), write=False)
        key = charge_key(order_id)
        if doc["status"] in PAYING:
            try:
                outcome = self.gateway.lookup(key)
            except Exception as exc:  # no answer: nothing may change
                raise PaymentOutcomeUnknown(
                    key,
                    f"order {order_id!r} cannot be cancelled before its payment is known",
                    order_id=order_id,
                ) from exc
            if outcome.state is PaymentState.CHARGED and outcome.charge is not None:
                self._settle_charge(order_id, outcome.charge)
            else:
                # if a charge still lands, settling it finds the order gone and refunds it
                self._run(lambda uow, now: self._release(uow, order_id, "cancelled", now))
                return
            doc = self._run(lambda uow, now: _order_doc(uow, order_id), write=False)
        if doc["status"] not in ("paid", "refund_due"):
            raise InvalidTransition(f"order {order_id!r} is {doc['status']}")
        if doc["charge_id"] is None:
            self._run(lambda uow, now: self._close(uow, order_id, "cancelled", now, None))
            return
        refund_key = _refund_key(order_id)

        def file_refund(uow: UnitOfWork, now: datetime) -> None:
            fresh = _order_doc(uow, order_id)
            if fresh["status"] == "paid":
                fresh["status"] = "refund_due"
                uow.records.put(ORDERS, order_id, fresh)
                record_refund(
                    uow,
                    refund_key,
                    owner=ORDER_OWNER,
                    ref={"order_id": order_id},
                    charge_id=fresh["charge_id"],
                    amount=Money.from_record(fresh["total"]),
                    now=now,
                )

        self._run(file_refund)
        try:
            refund = self.gateway.refund(
                refund_key, doc["charge_id"], Money.from_record(doc["total"])
            )
        except PaymentFailed:
            raise
        except Exception as exc:
            raise PaymentOutcomeUnknown(
                refund_key,
                f"order {order_id!r} is refund_due ({PaymentOutcomeUnknown.reason(exc)})",
                order_id=order_id,
            ) from exc
        self._run(lambda uow, now: self._refunded(uow, order_id, refund, now))

    # --- settling payments (PaymentSettler) ----------------------------------------------

    def payment_charged(self, intent: PaymentIntent, charge: Charge) -> None:
        self._settle_charge(intent.ref["order_id"], charge)

    def payment_not_charged(self, intent: PaymentIntent) -> None:
        order_id = intent.ref["order_id"]
        self._run(lambda uow, now: self._release(uow, order_id, "expired", now))

    def payment_refunded(self, intent: PaymentIntent, refund: Refund) -> None:
        order_id = intent.ref["order_id"]
        self._run(lambda uow, now: self._refunded(uow, order_id, refund, now))

    def _settle_charge(self, order_id: str, charge: Charge) -> Order | None:
        """Confirm the order a charge paid for; if it is gone already, file a refund of
        the charge and try it (the sweep retries it). Returns the order if paid."""
        orphan = False

        def confirm(uow: UnitOfWork, now: datetime) -> Order | None:
            nonlocal orphan
            doc = _order_doc(uow, order_id)
            if doc["status"] in PAYING:
                return self._mark_paid(uow, now, order_id, charge.id)
            if doc["charge_id"] == charge.id:
                return _order_from(order_id, doc)  # confirmed already
            orphan = True
            close(uow, charge_key(order_id), "charged", settled_id=charge.id)
            record_refund(
                uow,
                _refund_key(order_id),
                owner=ORDER_OWNER,
                ref={"order_id": order_id},
                charge_id=charge.id,
                amount=charge.amount,
                now=now,
            )
            return None

        paid = self._run(confirm)
        if orphan:
            try:
                refund = self.gateway.refund(_refund_key(order_id), charge.id, charge.amount)
            except Exception:  # declined or lost: reconcile retries it
                return None
            self._run(lambda uow, now: self._refunded(uow, order_id, refund, now))
        return paid

    def _mark_paid(
        self, uow: UnitOfWork, now: datetime, order_id: str, charge_id: str | None
    ) -> Order:
        doc = _order_doc(uow, order_id)
        doc["status"] = "paid"
        doc["charge_id"] = charge_id
        uow.records.put(ORDERS, order_id, doc)
        close(uow, charge_key(order_id), "charged", settled_id=charge_id)
        order = _order_from(order_id, doc)
        _, rewards = referrals.order_paid(uow, order.student_id, now, self.referral_reward)
        uow.record_events(rewards)
        uow.record_events(
            [
                OrderPaid(
                    occurred_at=now,
                    order_id=order_id,
                    student_id=order.student_id,
                    total=order.quote.total,
                    coupons=order.quote.coupons,
                    course_ids=tuple(dict.fromkeys(line.course_id for line in order.quote.lines)),
                )
            ]
        )
        return order

    def _note_unknown(self, uow: UnitOfWork, order_id: str) -> None:
        doc = _order_doc(uow, order_id)
        if doc["status"] == "pending":
            doc["status"] = "payment_unknown"
            uow.records.put(ORDERS, order_id, doc)
        note_unknown(uow, charge_key(order_id))

    def _release(self, uow: UnitOfWork, order_id: str, status: str, now: datetime) -> None:
        """An order whose charge never happened gives its coupons back (once)."""
        if _order_doc(uow, order_id)["status"] not in PAYING:
            return
        close(uow, charge_key(order_id), "failed" if status == "failed" else "released")
        self._close(uow, order_id, status, now, None)

    def _refunded(self, uow: UnitOfWork, order_id: str, refund: Refund, now: datetime) -> None:
        close(uow, _refund_key(order_id), "refunded", settled_id=refund.id)
        if _order_doc(uow, order_id)["status"] == "refund_due":
            self._close(uow, order_id, "cancelled", now, refund.amount)

    # --- internals --------------------------------------------------------------------

    def _usable(
        self, uow: UnitOfWork, code: str, student_id: str
    ) -> tuple[Coupon, str, dict[str, Any]]:
        """The coupon ``code`` names, the key it is stored under, and its (locked)
        document, if the student may still use it."""
        stored, doc = _find_coupon(uow, code)
        coupon = Coupon.from_record(doc["coupon"])
        if coupon.student_id is not None and coupon.student_id != student_id:
            raise CouponRefused(code, f"it was issued to another student, not {student_id!r}")
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
        if doc["status"] in CLOSED:
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


def _check_order(customer: object, lines: object, coupons: object) -> None:
    """The input rule for a quote or checkout: a Customer, a list of OrderLines, and
    coupon codes that are ids."""
    if not isinstance(customer, Customer):
        raise WrongType(f"customer must be a Customer, got {customer!r}", field="customer")
    if not isinstance(lines, list | tuple) or not all(isinstance(x, OrderLine) for x in lines):
        raise WrongType(f"lines must be a list of OrderLines, got {lines!r}", field="lines")
    check_ids(coupons, "coupons")


def _typed_codes(coupons: Sequence[str]) -> dict[str, str]:
    """The codes a student typed, by canonical key (refused if two name one coupon)."""
    if isinstance(coupons, str) or not all(isinstance(c, str) for c in coupons):
        raise InvalidInput(f"coupons must be a sequence of codes, got {coupons!r}")
    typed = {canonical_code(code): code for code in coupons}
    if len(typed) != len(coupons):
        raise InvalidInput(f"a coupon code can be used once per order, got {list(coupons)!r}")
    return typed


def _request(
    customer: Customer, lines: Sequence[OrderLine], typed: dict[str, str]
) -> dict[str, Any]:
    """What a checkout asked for, kept with its order: the order id is an idempotency
    key, and a key sent again must come with the same request."""
    return {
        "student_id": customer.student_id,
        "lines": [[line.course_id, line.price.to_record()] for line in lines],
        "coupons": sorted(typed),
    }


def _same_request(order_id: str, doc: dict[str, Any], request: dict[str, Any]) -> None:
    """Refuse (``IdempotencyKeyReused``) a checkout whose order id names an order made
    by another request; an order stored before requests were kept is compared by its
    student and lines (course and list price)."""
    if doc["student_id"] != request["student_id"]:
        raise IdempotencyKeyReused(order_id, "another student")
    stored = doc.get("request")
    if stored is None:
        stored_lines = [[ln["course_id"], ln["list_price"]] for ln in doc["lines"]]
    else:
        stored_lines = stored["lines"]
        if stored["coupons"] != request["coupons"]:
            raise IdempotencyKeyReused(order_id, "other coupons")
    if [(c, Money.from_record(p)) for c, p in stored_lines] != [
        (c, Money.from_record(p)) for c, p in request["lines"]
    ]:
        raise IdempotencyKeyReused(order_id, "other lines or another currency")


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


def charge_key(order_id: str) -> str:
    """The idempotency key of an order's charge."""
    return f"order:{order_id}"


def _refund_key(order_id: str) -> str:
    return f"refund:{order_id}"


def _order_record(order: Order) -> dict[str, Any]:
    q = order.quote
    return {
        "student_id": order.student_id,
        "status": order.status,
        "charge_id": order.charge_id,
        "total": q.total.to_record(),
        "coupons": list(q.coupons),
        "unused_coupons": list(q.unused_coupons),
        "lines": [
            {
                "course_id": line.course_id,
                "total": line.total.to_record(),
                "list_price": line.list_price.to_record(),
                "adjustments": [[label, m.to_record()] for label, m in line.adjustments],
            }
            for line in q.lines
        ],
        "subtotal": q.subtotal.to_record(),
        "discount": q.discount.to_record(),
    }


def _order_from(order_id: str, doc: dict[str, Any]) -> Order:
    total = Money.from_record(doc["total"])
    lines = tuple(
        QuoteLine(
            course_id=line["course_id"],
            # orders written before the full quote was kept show each line at its total
            list_price=Money.from_record(line.get("list_price", line["total"])),
            adjustments=tuple(
                (label, Money.from_record(m)) for label, m in line.get("adjustments", [])
            ),
            total=Money.from_record(line["total"]),
        )
        for line in doc["lines"]
    )
    subtotal = Money.from_record(doc["subtotal"]) if "subtotal" in doc else total
    discount = Money.from_record(doc["discount"]) if "discount" in doc else total - total
    return Order(
        id=order_id,
        student_id=doc["student_id"],
        quote=Quote(
            lines=lines,
            coupons=tuple(doc["coupons"]),
            unused_coupons=tuple(doc.get("unused_coupons", ())),
            subtotal=subtotal,
            discount=discount,
            total=total,
        ),
        status=doc["status"],
        charge_id=doc["charge_id"],
    )
