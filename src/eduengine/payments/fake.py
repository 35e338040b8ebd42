"""An in-memory payment gateway for tests and examples, which misbehaves on request.

It keeps every call's idempotency key, as a real provider does (see
:mod:`eduengine.payments.gateway`). It can be told to decline, to time out before or after
moving the money, and it keeps the notifications a real provider would send.

>>> from eduengine.kernel.money import Money
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

from eduengine.errors import InvalidInput, PaymentFailed, PaymentOutcomeUnknown
from eduengine.kernel.money import Money
from eduengine.payments.gateway import Charge, PaymentOutcome, PaymentState, Refund


class Fault(enum.Enum):
    """What :meth:`FakePaymentGateway.script` makes the next call do."""

    OK = "ok"
    #: declined: ``PaymentFailed``, nothing moves
    DECLINE = "decline"
    #: the request is lost on its way: ``PaymentOutcomeUnknown``, nothing moves
    TIMEOUT_BEFORE = "timeout_before"
    #: the money moves, the answer is lost: ``PaymentOutcomeUnknown``
    TIMEOUT_AFTER = "timeout_after"


class FakePaymentGateway:
    """A thread-safe in-memory gateway that misbehaves on request, as real ones do.

    ``fail_next_charges(n)`` / ``fail_next_refunds(n)`` decline the next calls;
    ``script(*faults)`` makes the next calls (charges and refunds, in order) decline or
    time out before or after moving the money; ``unreachable = True`` makes every call,
    lookups included, time out without moving anything. Each outcome the provider
    settled is queued in :attr:`notifications` as ``("succeeded" | "failed", key)``, what
    a real provider would post to the school's webhook (deliver them with
    :meth:`take_notifications`, as often and as late as you like).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.charges: dict[str, Charge] = {}
        self.refunds: dict[str, Refund] = {}
        self._charges_by_id: dict[str, Charge] = {}
        self._refunded: dict[str, Money] = {}
        self._declined: set[str] = set()
        self._fail_charges = 0
        self._fail_refunds = 0
        self._faults: deque[Fault] = deque()
        self.unreachable = False
        self.notifications: list[tuple[str, str]] = []

    def fail_next_charges(self, n: int) -> None:
        with self._lock:
            self._fail_charges = n

    def fail_next_refunds(self, n: int) -> None:
        with self._lock:
            self._fail_refunds = n

    def script(self, *faults: Fault) -> None:
        """Queue what the next calls do (after any ``fail_next_*`` declines)."""
        with self._lock:
            self._faults.extend(faults)

    def clear_script(self) -> None:
        """Forget the faults queued by :meth:`script` that no call used."""
        with self._lock:
            self._faults.clear()

    def take_notifications(self) -> list[tuple[str, str]]:
        """The notifications queued since the last call."""
        with self._lock:
            taken, self.notifications = self.notifications, []
            return taken

    def _fault(self, key: str) -> Fault:
        if self.unreachable:
            raise PaymentOutcomeUnknown(key, "the provider cannot be reached")
        fault = self._faults.popleft() if self._faults else Fault.OK
        if fault is Fault.TIMEOUT_BEFORE:
            raise PaymentOutcomeUnknown(key, "timed out before the provider saw the call")
        return fault

    def charge(self, key: str, account: str, amount: Money) -> Charge:
        with self._lock:
            if self.unreachable:
                raise PaymentOutcomeUnknown(key, "the provider cannot be reached")
            if key in self.charges:
                return self.charges[key]
            if self._fail_charges:
                self._fail_charges -= 1
                self._decline(key)
            fault = self._fault(key)
            if fault is Fault.DECLINE:
                self._decline(key)
            if amount.amount <= 0:
                raise InvalidInput(f"charge {key!r}: amount must be positive, got {amount}")
            made = Charge(id=f"ch_{len(self.charges) + 1}", key=key, account=account, amount=amount)
            self.charges[key] = made
            self._charges_by_id[made.id] = made
            self._declined.discard(key)
            self.notifications.append(("succeeded", key))
            if fault is Fault.TIMEOUT_AFTER:
                raise PaymentOutcomeUnknown(key, "charged, but the answer was lost")
            return made

    def _decline(self, key: str) -> None:
        self._declined.add(key)
        self.notifications.append(("failed", key))
        raise PaymentFailed(f"charge {key!r} declined by the gateway")

    def refund(self, key: str, charge_id: str, amount: Money) -> Refund:
        with self._lock:
            if self.unreachable:
                raise PaymentOutcomeUnknown(key, "the provider cannot be reached")
            if key in self.refunds:
                return self.refunds[key]
            if self._fail_refunds:
                self._fail_refunds -= 1
                raise PaymentFailed(f"refund {key!r} not confirmed by the gateway")
            fault = self._fault(key)
            if fault is Fault.DECLINE:
                raise PaymentFailed(f"refund {key!r} declined by the gateway")
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
            self.notifications.append(("succeeded", key))
            if fault is Fault.TIMEOUT_AFTER:
                raise PaymentOutcomeUnknown(key, "refunded, but the answer was lost")
            return made

    def lookup(self, key: str) -> PaymentOutcome:
        with self._lock:
            if self.unreachable:
                raise PaymentOutcomeUnknown(key, "the provider cannot be reached")
            if key in self.charges:
                return PaymentOutcome(key=key, state=PaymentState.CHARGED, charge=self.charges[key])
            if key in self.refunds:
                return PaymentOutcome(
                    key=key, state=PaymentState.REFUNDED, refund=self.refunds[key]
                )
            if key in self._declined:
                return PaymentOutcome(key=key, state=PaymentState.FAILED)
            return PaymentOutcome(key=key, state=PaymentState.NOT_FOUND)

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
