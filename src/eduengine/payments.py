"""The payment port and an in-memory fake gateway for tests and examples.

Every call carries an idempotency key: calling ``charge`` or ``refund`` again with the
same key returns the first result and never moves money twice. That is what lets the
group-deal sweep retry a refund the gateway failed to confirm.

>>> from eduengine.pricing import Money
>>> gateway = FakePaymentGateway()
>>> first = gateway.charge("join:g1:ann", "acct-ann", Money("99.00", "CNY"))
>>> gateway.charge("join:g1:ann", "acct-ann", Money("99.00", "CNY")) == first
True
>>> gateway.balance("acct-ann")
Money(amount=Decimal('-99.00'), currency='CNY')
"""

from __future__ import annotations

import threading
from typing import Protocol

import attrs

from eduengine.errors import InvalidInput, PaymentFailed
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


class PaymentGateway(Protocol):
    """Charges and refunds, idempotent by ``key``; raises ``PaymentFailed``."""

    def charge(self, key: str, account: str, amount: Money) -> Charge: ...

    def refund(self, key: str, charge_id: str, amount: Money) -> Refund: ...


class FakePaymentGateway:
    """A thread-safe in-memory gateway; ``fail_next_refunds(n)`` / ``fail_next_charges(n)``
    make the next calls fail, as a real gateway sometimes does."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.charges: dict[str, Charge] = {}
        self.refunds: dict[str, Refund] = {}
        self._charges_by_id: dict[str, Charge] = {}
        self._refunded: dict[str, Money] = {}
        self._fail_charges = 0
        self._fail_refunds = 0

    def fail_next_charges(self, n: int) -> None:
        with self._lock:
            self._fail_charges = n

    def fail_next_refunds(self, n: int) -> None:
        with self._lock:
            self._fail_refunds = n

    def charge(self, key: str, account: str, amount: Money) -> Charge:
        with self._lock:
            if key in self.charges:
                return self.charges[key]
            if self._fail_charges:
                self._fail_charges -= 1
                raise PaymentFailed(f"charge {key!r} declined by the gateway")
            if amount.amount <= 0:
                raise InvalidInput(f"charge {key!r}: amount must be positive, got {amount}")
            made = Charge(id=f"ch_{len(self.charges) + 1}", key=key, account=account, amount=amount)
            self.charges[key] = made
            self._charges_by_id[made.id] = made
            return made

    def refund(self, key: str, charge_id: str, amount: Money) -> Refund:
        with self._lock:
            if key in self.refunds:
                return self.refunds[key]
            if self._fail_refunds:
                self._fail_refunds -= 1
                raise PaymentFailed(f"refund {key!r} not confirmed by the gateway")
            charge = self._charges_by_id.get(charge_id)
            if charge is None:
                raise PaymentFailed(f"refund {key!r}: unknown charge {charge_id!r}")
            already = self._refunded.get(charge_id, Money.zero(amount.currency))
            if already + amount > charge.amount:
                raise PaymentFailed(f"refund {key!r} exceeds charge {charge_id!r}")
            made = Refund(
                id=f"re_{len(self.refunds) + 1}", key=key, charge_id=charge_id, amount=amount
            )
            self.refunds[key] = made
            self._refunded[charge_id] = already + amount
            return made

    def balance(self, account: str) -> Money | None:
        """What the account paid net of refunds (negative: money out of the account)."""
        with self._lock:
            total: Money | None = None
            for charge in self.charges.values():
                if charge.account != account:
                    continue
                back = self._refunded.get(charge.id, Money.zero(charge.amount.currency))
                net = -(charge.amount - back)
                total = net if total is None else total + net
            return total

    def totals(self) -> tuple[Money | None, Money | None]:
        """All charged and all refunded money."""
        with self._lock:
            charged = refunded = None
            for c in self.charges.values():
                charged = c.amount if charged is None else charged + c.amount
            for r in self.refunds.values():
                refunded = r.amount if refunded is None else refunded + r.amount
            return charged, refunded
