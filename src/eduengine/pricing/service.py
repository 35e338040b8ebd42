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
twice), and :meth:`eduengine.payments.service.PaymentService.reconcile` settles it (paid, or
``expired`` with its coupons released when the provider never charged). A charge that
lands for an order that is gone already is refunded under ``refund:<order id>``; so is a
cancelled order (status ``refund_due`` until the provider confirms).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Unpack

from eduengine.errors import (
    DuplicateCouponCode,
    DuplicateId,
    IdempotencyKeyReused,
    InvalidInput,
    InvalidMoney,
    InvalidTransition,
    PaymentFailed,
    PaymentOutcomeUnknown,
    PersistenceError,
    WrongType,
)
from eduengine.kernel.codec import micros
from eduengine.kernel.deprecation import EduEngineDeprecationWarning
from eduengine.kernel.inputs import check_id, check_ids, check_optional_id
from eduengine.kernel.money import Money
from eduengine.payments import PaymentGateway, PaymentState
from eduengine.payments.intents import record_charge, record_refund
from eduengine.payments.methods import paying_method
from eduengine.people.access import AccessGate, Look, check_payer, shown
from eduengine.people.model import Actor
from eduengine.pricing import referrals
from eduengine.pricing.catalogue import ItemKind
from eduengine.pricing.coupons import (
    COUPON_USES,
    COUPONS,
    _count_use,
    _find_coupon,
    _redeemed,
    _typed_codes,
    usable_coupon,
)
from eduengine.pricing.events import OrderCancelled, OrderPaid
from eduengine.pricing.orders import (
    CLOSED,
    ORDER_OWNER,
    ORDERS,
    PAYING,
    Order,
    OrderSettlement,
    _order_doc,
    _order_from,
    _order_record,
    _refund_key,
    _request,
    _same_request,
    charge_key,
    put_order,
)
from eduengine.pricing.rules import (
    Coupon,
    Customer,
    OrderLine,
    PriceRule,
    Quote,
    canonical_code,
    quote,
)
from eduengine.pricing.shop import take_quote
from eduengine.service_layer.idempotency import check_key, once
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceOptions

#: what a read of an order shows of its student (the audit rows' fields)
ORDER_FIELDS = ("orders",)

RULES = "price_rule"


class PricingService(OrderSettlement):
    """Price rules, coupons, quotes and checkout.

    Rules are given to the service (they are configuration); coupons are stored, because
    their redemptions are state.

    >>> from datetime import datetime, timezone
    >>> from decimal import Decimal
    >>> from eduengine import FixedClock, InMemoryStore, School
    >>> from eduengine.payments import FakePaymentGateway
    >>> from eduengine.pricing.catalogue import CatalogueItem, ItemKind, PriceList
    >>> from eduengine.pricing.rules import DiscountKind
    >>> clock = FixedClock(datetime(2026, 3, 2, tzinfo=timezone.utc))
    >>> school = School.build(InMemoryStore(), clock=clock, gateway=FakePaymentGateway())
    >>> shop = school.pricing
    >>> shop.add_coupon(Coupon(code="HELLO", kind=DiscountKind.AMOUNT,
    ...                        value=Money("20", "CNY")))
    >>> school.catalogue.add_item(CatalogueItem(id="py", kind=ItemKind.COURSE, title="Py"))
    >>> _ = school.catalogue.publish(PriceList(id="base", currency="CNY",
    ...     valid_from=clock.now(), prices={"py": Money("199", "CNY")}))
    >>> _ = school.payments.add_method("ann", "acct-ann")
    >>> quote = school.catalogue.quote("ann", ["py"], "CNY", coupon="HELLO")
    >>> order = shop.checkout("o1", quote_id=quote.id)
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
        **base: Unpack[ServiceOptions],
    ) -> None:
        super().__init__(uow, **base)
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
        #: the access check of order reads (the school's, from School.build)
        self.gate = AccessGate()

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

    def reindex_orders(self) -> int:
        """File orders written before orders were filed by student (a one-off upgrade
        step: it reads every order); returns how many. ``School.reindex()`` runs it."""

        def refile(uow: UnitOfWork, key: str, doc: dict[str, Any]) -> None:
            put_order(uow, key, doc)

        return self._refile_all(ORDERS, refile)

    def get_order(self, order_id: str, *, actor: Actor | None = None) -> Order:
        """The order as stored (its status says where its payment is), read as
        ``actor``: refused unless the actor may see its student; audited
        (docs/privacy.md). An order holds no payment account (the intent does), so
        nothing in it is masked. Without an actor (deprecated) it is read as before."""
        check_id(order_id, "order_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> Order:
            order = _order_from(order_id, _order_doc(uow, order_id))
            shown(look, order.student_id)
            return order

        return self.gate.read(
            self._run, actor, ORDER_FIELDS, query, ids={"order_id": order_id}, records=True
        )

    def checkout(
        self,
        order_id: str,
        customer: Customer | None = None,
        lines: Sequence[OrderLine] | None = None,
        *,
        quote_id: str | None = None,
        coupons: Sequence[str] = (),
        account: str | None = None,
        method_id: str | None = None,
        idempotency_key: str | None = None,
        payer: str | None = None,
    ) -> Order:
        """Check out the courses of a quote (``quote_id``, from
        ``school.catalogue.quote``): redeem its coupons that take something off and
        charge exactly its total to the student's payment method (``method_id``, or their
        default: see ``school.payments.add_method``). The quote must be the student's,
        of courses only, unexpired (``QuoteExpired``) and not used by another order
        (``QuoteRefused``); the prices are the quote's, whatever the price lists say now.
        ``payer`` is a guardian paying on the student's behalf (recorded on the order and
        its ``OrderPaid``); one without the "pay" role on a link to the student is
        refused (``PayerNotAllowed``).

        Idempotent by ``order_id``: checking out an order whose payment is pending or
        unknown resumes it (same idempotency key, so the student is charged at most once),
        and checking out a paid order returns it. Raises ``PaymentFailed`` when the
        provider declined (the coupons are released; the quote may pay for a new order
        until it expires) and ``PaymentOutcomeUnknown`` when its answer was lost (the
        order stays ``payment_unknown`` and keeps its coupons until a retry or
        :meth:`~eduengine.payments.service.PaymentService.reconcile` settles it).

        ``idempotency_key`` (optional: the order id already is one) binds a client's key
        to this order and its request, as for the other commands: the key sent again
        with the same arguments checks the order out again (which, as above, returns
        it or resumes its payment), and with another order id or other arguments raises
        ``IdempotencyKeyReused``.

        Deprecated forms (a ``DeprecationWarning`` each, removed in 0.4): ``customer``
        and ``lines`` (the caller's prices) with ``coupons`` instead of a quote, and
        ``account=`` instead of a payment method on file.
        """
        check_id(order_id, "order_id")
        check_key(idempotency_key)
        check_optional_id(payer, "payer")
        if method_id is not None:
            check_id(method_id, "method_id")
        if account is not None:
            warnings.warn(
                "checkout(account=...) is deprecated: file a payment method with "
                "school.payments.add_method and pass method_id= (or none: the default)",
                EduEngineDeprecationWarning,
                stacklevel=2,
            )
            check_id(account, "account")
            if method_id is not None:
                raise InvalidInput("pass a payment method_id or an account, not both")
        if quote_id is None:
            warnings.warn(
                "checkout(order_id, customer, lines) is deprecated: the caller's prices are "
                "not checked; quote with school.catalogue.quote and pass quote_id=",
                EduEngineDeprecationWarning,
                stacklevel=2,
            )
            _check_order(customer, lines, coupons)
            assert isinstance(customer, Customer) and lines is not None
            if account is None:
                return self._checkout_quoted(
                    order_id,
                    None,
                    method_id,
                    idempotency_key,
                    legacy=(customer, lines, coupons),
                    payer=payer,
                )
            return self._checkout_lines(
                order_id, customer, lines, coupons, account, idempotency_key, payer
            )
        check_id(quote_id, "quote_id")
        if customer is not None or lines is not None or coupons:
            raise InvalidInput("a quote carries the student, the lines and the coupons")
        return self._checkout_quoted(order_id, quote_id, method_id, idempotency_key, payer=payer)

    def _checkout_lines(
        self,
        order_id: str,
        customer: Customer,
        lines: Sequence[OrderLine],
        coupons: Sequence[str],
        account: str,
        idempotency_key: str | None,
        payer: str | None = None,
    ) -> Order:
        """The deprecated checkout of the caller's lines, charged to ``account``."""
        assert account is not None
        typed = _typed_codes(coupons)
        request = _request(customer, lines, typed)
        keyed = {"command": "checkout", "order_id": order_id, "account": account, **request}
        if payer is not None:
            keyed["payer"] = payer

        def file_charge(uow: UnitOfWork, amount: Money, now: datetime) -> None:
            assert account is not None
            _file_charge(uow, order_id, customer.student_id, account, amount, now)

        def reserve(uow: UnitOfWork, now: datetime) -> Order:
            # the order is its own record of the answer: a replay checks it out again
            return once(
                uow,
                now,
                idempotency_key,
                keyed,
                lambda: reserve_order(uow, now),
                encode=lambda order: order.id,
                decode=lambda _: reserve_order(uow, now),
            )

        def reserve_order(uow: UnitOfWork, now: datetime) -> Order:
            assert account is not None
            doc = uow.records.get(ORDERS, order_id)
            if doc is not None:
                _same_request(order_id, doc, request)
                if doc["status"] in CLOSED:
                    raise DuplicateId(f"order {order_id!r} already exists ({doc['status']})")
                if doc["status"] in PAYING:  # a retry: charge the same key again
                    file_charge(uow, Money.from_record(doc["total"]), now)
                return _order_from(order_id, doc)
            check_payer(uow, payer, customer.student_id)
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
                id=order_id,
                student_id=customer.student_id,
                quote=priced,
                status="pending",
                payer_id=payer,
            )
            put_order(
                uow,
                order_id,
                {
                    **_order_record(order),
                    "coupon_keys": stored_keys,
                    "request": request,
                    "created_us": micros(now),
                },
            )
            if priced.total.amount <= 0:  # nothing to charge: paid at once
                return self._mark_paid(uow, now, order_id, None)
            # the intent is filed with the order: a crash before the charge is reconciled
            file_charge(uow, priced.total, now)
            return order

        order = self._run(reserve, ids={"order_id": order_id})
        return self._charge(order_id, order, account)

    def _checkout_quoted(
        self,
        order_id: str,
        quote_id: str | None,
        method_id: str | None,
        idempotency_key: str | None,
        *,
        legacy: tuple[Customer, Sequence[OrderLine], Sequence[str]] | None = None,
        payer: str | None = None,
    ) -> Order:
        """Check out a quote, or (``legacy``) the caller's lines, paid by a method on
        file (``payer``: the guardian paying on the student's behalf)."""
        if legacy is not None:
            customer, lines, codes = legacy
            typed = _typed_codes(codes)
            request = _request(customer, lines, typed)
        else:
            request = {"quote_id": quote_id}
        keyed = {"command": "checkout", "order_id": order_id, "method_id": method_id, **request}
        if payer is not None:
            keyed["payer"] = payer
        account = ""

        def reserve(uow: UnitOfWork, now: datetime) -> Order:
            return once(
                uow,
                now,
                idempotency_key,
                keyed,
                lambda: reserve_order(uow, now),
                encode=lambda order: order.id,
                decode=lambda _: reserve_order(uow, now),
            )

        def reserve_order(uow: UnitOfWork, now: datetime) -> Order:
            nonlocal account
            doc = uow.records.get(ORDERS, order_id)
            if doc is not None:
                stored = doc.get("request", {})
                if stored.get("quote_id") != quote_id:
                    raise IdempotencyKeyReused(order_id, "another quote")
                if legacy is not None:
                    _same_request(order_id, doc, request)
                if doc["status"] in CLOSED:
                    raise DuplicateId(f"order {order_id!r} already exists ({doc['status']})")
                if doc["status"] in PAYING:  # a retry: charge the same key again
                    account = paying_method(uow, doc["student_id"], method_id).account
                    total = Money.from_record(doc["total"])
                    _file_charge(uow, order_id, doc["student_id"], account, total, now)
                return _order_from(order_id, doc)
            if legacy is not None:
                customer, lines, _ = legacy
                found = {}
                for code_key in sorted(typed):  # lock coupons in one order: no deadlock
                    found[code_key] = usable_coupon(uow, typed[code_key], customer.student_id)
                priced = quote(
                    lines,
                    customer,
                    rules=self.rules,
                    coupons=[found[code_key][0] for code_key in typed],
                    now=now,
                    max_discount=self.max_discount,
                )
                student_id = customer.student_id
            else:
                assert quote_id is not None

                def released(use: str) -> bool:
                    # a quote whose order was never paid may pay for a new order
                    owner, _, other = use.partition(":")
                    gone = uow.records.get(ORDERS, other) if owner == "order" else None
                    return gone is not None and gone["status"] in ("failed", "expired")

                given = take_quote(
                    uow,
                    quote_id,
                    now,
                    kinds={ItemKind.COURSE},
                    use=f"order:{order_id}",
                    released=released,
                )
                priced, student_id = given.breakdown, given.student_id
                found = {}
                # by the code as quoted, so a coupon stored before codes were canonical
                # (under the code as given) is found as at a checkout at one's own prices
                for code in sorted(priced.coupons, key=canonical_code):
                    found[canonical_code(code)] = usable_coupon(uow, code, student_id)
            check_payer(uow, payer, student_id)
            account = paying_method(uow, student_id, method_id).account
            stored_keys = []
            for code_key in sorted(found):
                coupon, stored, cdoc = found[code_key]
                if coupon.code in priced.coupons:  # one that takes nothing off is kept
                    _count_use(uow, stored, student_id, cdoc, coupon, +1)
                    stored_keys.append(stored)
            order = Order(
                id=order_id, student_id=student_id, quote=priced, status="pending", payer_id=payer
            )
            put_order(
                uow,
                order_id,
                {
                    **_order_record(order),
                    "coupon_keys": stored_keys,
                    "request": {**request, "student_id": student_id},
                    "created_us": micros(now),
                },
            )
            if priced.total.amount <= 0:  # nothing to charge: paid at once
                return self._mark_paid(uow, now, order_id, None)
            # the intent is filed with the order: a crash before the charge is reconciled
            _file_charge(uow, order_id, student_id, account, priced.total, now)
            return order

        order = self._run(
            reserve, ids={"order_id": order_id, "quote_id": quote_id, "method_id": method_id}
        )
        return self._charge(order_id, order, account)

    def _charge(self, order_id: str, order: Order, account: str) -> Order:
        """Charge a reserved order's total (nothing if it is paid or closed already)."""
        key = charge_key(order_id)
        if order.status not in PAYING:
            return order
        try:
            charge = self.gateway.charge(key, account, order.quote.total)
        except PaymentFailed:
            self._run(
                lambda uow, now: self._release(uow, order_id, "failed", now),
                ids={"order_id": order_id},
            )
            raise
        except Exception as exc:  # a lost answer of any kind: the money may have moved
            self._run(
                lambda uow, now: self._note_unknown(uow, order_id), ids={"order_id": order_id}
            )
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
        doc = self._run(
            lambda uow, now: _order_doc(uow, order_id), write=False, ids={"order_id": order_id}
        )
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
                self._run(
                    lambda uow, now: self._release(uow, order_id, "cancelled", now),
                    ids={"order_id": order_id},
                )
                return
            doc = self._run(
                lambda uow, now: _order_doc(uow, order_id), write=False, ids={"order_id": order_id}
            )
        if doc["status"] not in ("paid", "refund_due"):
            raise InvalidTransition(f"order {order_id!r} is {doc['status']}")
        if doc["charge_id"] is None:
            self._run(
                lambda uow, now: self._close(uow, order_id, "cancelled", now, None),
                ids={"order_id": order_id},
            )
            return
        refund_key = _refund_key(order_id)

        def file_refund(uow: UnitOfWork, now: datetime) -> None:
            fresh = _order_doc(uow, order_id)
            if fresh["status"] == "paid":
                fresh["status"] = "refund_due"
                put_order(uow, order_id, fresh)
                record_refund(
                    uow,
                    refund_key,
                    owner=ORDER_OWNER,
                    ref={"order_id": order_id},
                    charge_id=fresh["charge_id"],
                    amount=Money.from_record(fresh["total"]),
                    now=now,
                )

        self._run(file_refund, ids={"order_id": order_id})
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
        self._run(
            lambda uow, now: self._refunded(uow, order_id, refund, now), ids={"order_id": order_id}
        )

    def _usable(
        self, uow: UnitOfWork, code: str, student_id: str
    ) -> tuple[Coupon, str, dict[str, Any]]:
        return usable_coupon(uow, code, student_id)


def _file_charge(
    uow: UnitOfWork, order_id: str, student_id: str, account: str, amount: Money, now: datetime
) -> None:
    # a first charge and its retry file the same intent, under the same key
    record_charge(
        uow,
        charge_key(order_id),
        owner=ORDER_OWNER,
        ref={"order_id": order_id},
        account=account,
        amount=amount,
        now=now,
        student_id=student_id,
    )


def _check_order(customer: object, lines: object, coupons: object) -> None:
    """The input rule for a quote or checkout: a Customer, a list of OrderLines, and
    coupon codes that are ids."""
    if not isinstance(customer, Customer):
        raise WrongType(f"customer must be a Customer, got {customer!r}", field="customer")
    if not isinstance(lines, list | tuple) or not all(isinstance(x, OrderLine) for x in lines):
        raise WrongType(f"lines must be a list of OrderLines, got {lines!r}", field="lines")
    check_ids(coupons, "coupons")


__all__ = [
    "CLOSED",
    "COUPONS",
    "COUPON_USES",
    "ORDERS",
    "ORDER_OWNER",
    "PAYING",
    "RULES",
    "Order",
    "OrderCancelled",
    "OrderPaid",
    "PricingService",
    "charge_key",
]
