"""The payment port: charges, refunds and what a provider knows about a key.

Every call carries an idempotency key: calling ``charge`` or ``refund`` again with the
same key returns the first result and never moves money twice. That is what lets the
group-deal sweep retry a refund the gateway failed to confirm.

A call whose answer is lost raises :class:`~eduengine.errors.PaymentOutcomeUnknown`; the
school then asks :meth:`PaymentGateway.lookup` what became of the key (see
docs/payments.md). :class:`~eduengine.payments.fake.FakePaymentGateway` implements the
port in memory for tests and examples.

>>> from eduengine.kernel.money import Money
>>> charge = Charge(id="ch_1", key="join:g1:ann", account="acct-ann", amount=Money("99", "CNY"))
>>> PaymentOutcome(key=charge.key, state=PaymentState.CHARGED, charge=charge).state.value
'charged'
"""

from __future__ import annotations

import enum
from typing import Protocol

import attrs

from eduengine.kernel.money import Money


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
