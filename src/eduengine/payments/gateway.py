"""The payment port and an in-memory fake gateway for tests and examples.

Every call carries an idempotency key: calling ``charge`` or ``refund`` again with the
same key returns the first result and never moves money twice. That is what lets the
group-deal sweep retry a refund the gateway failed to confirm.

A call whose answer is lost raises :class:`~eduengine.errors.PaymentOutcomeUnknown`; the
school then asks :meth:`PaymentGateway.lookup` what became of the key (see
docs/payments.md). The fake can be told to decline, to time out before or after moving
the money, and keeps the notifications a real provider would send.

>>> from eduengine.pricing import Money
>>> gateway = FakePaymentGateway()
>>> first = gateway.charge("join:g1:ann", "acct-ann", Money("99.00", "CNY"))
>>> gateway.charge("join:g1:ann", "acct-ann", Money("99.00", "CNY")) == first
True
>>> gateway.balance("acct-ann")
Money(amount=Decimal('-99.00'), currency='CNY')
>>> gateway.lookup("join:g1:ann").state.value
'charged'
>>> gateway.script(Fault.TIMEOUT_AFTER)    # the next call moves money, the answer is lost
>>> try:
...     gateway.charge("join:g1:bob", "acct-bob", Money("99.00", "CNY"))
... except PaymentOutcomeUnknown:
...     print(gateway.lookup("join:g1:bob").state.value)
charged
"""

from __future__ import annotations

import enum
import threading
from collections import deque
from typing import Protocol

import attrs

from eduengine.errors import InvalidInput, PaymentFailed, PaymentOutcomeUnknown
from eduengine.pricing.money import Money


@attrs.frozen(kw_only=True)
class Charge:
    id: str
    key: str
    account: str
    amount: Money


@attrs.frozen(kw_only=True)
class Refund:
    id: str
    key: str
    charge_id: str
    amount: Money


class PaymentState(enum.Enum):
    """What the provider knows about an idempotency key."""

    #: the charge went through (it may have been refunded since, under another key)
    CHARGED = "charged"
    #: the refund went through
    REFUNDED = "refunded"
    #: the provider declined the call and moved no money
    FAILED = "failed"
    #: the provider never saw the key: no money moved (yet)
    NOT_FOUND = "not_found"


@attrs.frozen(kw_only=True)
class PaymentOutcome:
    """The answer of :meth:`PaymentGateway.lookup`."""

    key: str
    state: PaymentState
    charge: Charge | None = None
    refund: Refund | None = None


class PaymentGateway(Protocol):
    """Charges and refunds, idempotent by ``key``.

    ``charge`` and ``refund`` raise ``PaymentFailed`` when the provider declined (no money
    moved) and ``PaymentOutcomeUnknown`` when its answer was lost (money may have moved);
    any other exception is treated as a lost answer too. ``lookup`` reports what became of
    a key, and raises ``PaymentOutcomeUnknown`` when the provider cannot be reached.
    """

    def charge(self, key: str, account: str, amount: Money) -> Charge: ...

    def refund(self, key: str, charge_id: str, amount: Money) -> Refund: ...

    def lookup(self, key: str) -> PaymentOutcome: ...
