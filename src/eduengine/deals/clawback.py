"""Claw-back of referral rewards: a reaction to refunds, as a projection of the feed.

A referral reward is issued by the payment that earns it (a rule of the paying unit of
work, :func:`eduengine.pricing.referrals.order_paid`). Taking it back only follows from
a refund that committed, so it is a reaction: the ``referral_clawback`` projection
(wired by ``School.build``) reads ``OrderCancelled`` (a checkout refunded or
cancelled) and ``RefundIssued`` (a group-deal member refunded: she left, or the group
failed or was cancelled) from the feed, each event once, and calls
:func:`eduengine.pricing.referrals.claw_back` for the order it names. The referral
document remembers a claw-back, so the same refund seen again (a rebuilt checkpoint)
takes nothing twice.

>>> sorted(kind.__name__ for kind in clawback_rules())
['OrderCancelled', 'RefundIssued']
"""

from __future__ import annotations

from eduengine.deals.events import RefundIssued
from eduengine.deals.records import deal_order
from eduengine.kernel.events import DomainEvent
from eduengine.pricing import referrals
from eduengine.pricing.events import OrderCancelled
from eduengine.service_layer.messagebus import Handler
from eduengine.service_layer.ports import UnitOfWork

#: the projection's name (its checkpoint's key)
CLAWBACK_PROJECTION = "referral_clawback"


def claw_back_refunded_order(event: DomainEvent, uow: UnitOfWork) -> None:
    """A checkout order or a group-deal payment was refunded: claw back the referral
    reward it earned, if it earned one within the reward's window."""
    if isinstance(event, OrderCancelled):
        student, order = event.student_id, f"order:{event.order_id}"
    elif isinstance(event, RefundIssued):
        student, order = event.student_id, deal_order(event.group_id, event.student_id)
    else:
        return
    uow.record_events(referrals.claw_back(uow, student, order, event.occurred_at))


def clawback_rules() -> dict[type[DomainEvent], list[Handler]]:
    """The handlers of the ``referral_clawback`` projection, by event type."""
    return {
        OrderCancelled: [claw_back_refunded_order],
        RefundIssued: [claw_back_refunded_order],
    }


__all__ = ["CLAWBACK_PROJECTION", "claw_back_refunded_order", "clawback_rules"]
