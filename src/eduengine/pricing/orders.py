"""Orders: how they are stored, and settling their payments (charged, never charged,
refunded) for :class:`eduengine.pricing.service.PricingService`.

>>> charge_key("o1")
'order:o1'
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import attrs

from eduengine.errors import IdempotencyKeyReused, OrderNotFound
from eduengine.kernel.money import Money
from eduengine.payments import Charge, PaymentGateway, Refund
from eduengine.payments.intents import PaymentIntent, close, note_unknown, record_refund
from eduengine.pricing import referrals
from eduengine.pricing.coupons import _count_use, _held_coupon
from eduengine.pricing.events import OrderCancelled, OrderPaid
from eduengine.pricing.rules import Coupon, Customer, OrderLine, Quote, QuoteLine
from eduengine.service_layer.ports import UnitOfWork
from eduengine.service_layer.runner import ServiceBase

ORDERS = "order"


#: the owner name of checkout's payment intents
ORDER_OWNER = "order"


#: an order whose charge is under way, or whose answer was lost
PAYING = ("pending", "payment_unknown")


#: an order that holds nothing any more (its coupons are released)
CLOSED = ("failed", "expired", "cancelled")


@attrs.frozen(kw_only=True)
class Order:
    id: str
    student_id: str
    quote: Quote
    #: pending | payment_unknown | paid | refund_due | cancelled | failed | expired
    status: str
    charge_id: str | None = None
    #: the guardian who pays on the student's behalf (``None``: the student pays)
    payer_id: str | None = None


class OrderSettlement(ServiceBase):
    """Settles an order's payment: the ``PaymentSettler`` of checkout."""

    gateway: PaymentGateway
    referral_reward: referrals.ReferralReward

    def payment_charged(self, intent: PaymentIntent, charge: Charge) -> None:
        self._settle_charge(intent.ref["order_id"], charge)

    def payment_not_charged(self, intent: PaymentIntent) -> None:
        order_id = intent.ref["order_id"]
        self._run(
            lambda uow, now: self._release(uow, order_id, "expired", now),
            ids={"order_id": order_id},
        )

    def payment_refunded(self, intent: PaymentIntent, refund: Refund) -> None:
        order_id = intent.ref["order_id"]
        self._run(
            lambda uow, now: self._refunded(uow, order_id, refund, now), ids={"order_id": order_id}
        )

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

        paid = self._run(confirm, ids={"order_id": order_id})
        if orphan:
            try:
                refund = self.gateway.refund(_refund_key(order_id), charge.id, charge.amount)
            except Exception:  # declined or lost: reconcile retries it
                return None
            self._run(
                lambda uow, now: self._refunded(uow, order_id, refund, now),
                ids={"order_id": order_id},
            )
        return paid

    def _mark_paid(
        self, uow: UnitOfWork, now: datetime, order_id: str, charge_id: str | None
    ) -> Order:
        doc = _order_doc(uow, order_id)
        doc["status"] = "paid"
        doc["charge_id"] = charge_id
        put_order(uow, order_id, doc)
        close(uow, charge_key(order_id), "charged", settled_id=charge_id)
        order = _order_from(order_id, doc)
        _, rewards = referrals.order_paid(
            uow, order.student_id, now, self.referral_reward, order=f"order:{order_id}"
        )
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
                    payer_id=order.payer_id,
                )
            ]
        )
        return order

    def _note_unknown(self, uow: UnitOfWork, order_id: str) -> None:
        doc = _order_doc(uow, order_id)
        if doc["status"] == "pending":
            doc["status"] = "payment_unknown"
            put_order(uow, order_id, doc)
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
        put_order(uow, order_id, doc)
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


def put_order(uow: UnitOfWork, order_id: str, doc: dict[str, Any]) -> None:
    """Write an order filed under ``student:<id>`` at its creation time (a put replaces
    the entries, so every write of an order goes through here). An order written before
    orders were filed by student has no ``created_us``: ``School.reindex()`` files it at 0."""
    index = {f"student:{doc['student_id']}": int(doc.get("created_us", 0))}
    uow.records.put(ORDERS, order_id, doc, index=index)


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
        "payer_id": order.payer_id,
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
        payer_id=doc.get("payer_id"),
    )


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
