"""Charging late-cancellation fees through the payment gateway, after commit.

A late cancellation files its fee in the same unit of work as the cancellation (see
:mod:`eduengine.policies.handlers`); the gateway is called only afterwards, with the
idempotency key ``late-fee:<booking id>``, so a declined or lost charge never undoes the
cancellation and a retry never charges twice. :meth:`FeeService.collect_due` is the
periodic job that retries fees still due (with a growing back-off). Each attempt files a
payment intent first (:mod:`eduengine.payments.intents`): a charge whose answer is lost is
settled by :meth:`eduengine.payments.service.PaymentService.reconcile` (charged: the fee
is marked charged; not charged: the fee stays due and is tried again later).

>>> from eduengine import InMemoryStore
>>> from eduengine.payments import FakePaymentGateway
>>> FeeService(InMemoryStore().unit_of_work, gateway=FakePaymentGateway()).collect_due()
0
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Unpack

import attrs

from eduengine.errors import PaymentFailed, PaymentOutcomeUnknown, PersistenceError
from eduengine.kernel.codec import micros
from eduengine.kernel.deprecation import EduEngineDeprecationWarning
from eduengine.kernel.events import DomainEvent
from eduengine.kernel.inputs import check_id
from eduengine.kernel.money import Money
from eduengine.payments import Charge, PaymentGateway, Refund
from eduengine.payments.intents import PaymentIntent, close, note_unknown, record_charge
from eduengine.payments.methods import default_of
from eduengine.people.access import AccessGate, Look, audit_system, shown
from eduengine.people.model import Actor
from eduengine.policies.events import LateFeeCharged, LateFeeDue, LateFeeFailed
from eduengine.policies.records import DUE, LATE_FEES
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase, ServiceOptions

PAYMENT_ACCOUNTS = "payment_account"
#: the owner name of late fees' payment intents
FEE_OWNER = "late_fee"


def fee_key(booking_id: str) -> str:
    """The idempotency key of a late fee's charge."""
    return f"late-fee:{booking_id}"


@attrs.frozen(kw_only=True)
class LateFee:
    booking_id: str
    student_id: str
    fee: Money
    state: str
    attempts: int
    charge_id: str | None


class FeeService(ServiceBase):
    """Late fees: the students' payment accounts and the job that charges due fees.

    ``retry_after`` is the first back-off after a declined charge; it doubles with each
    attempt, up to ``max_backoff``.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        gateway: PaymentGateway,
        retry_after: timedelta = timedelta(minutes=10),
        max_backoff: timedelta = timedelta(days=1),
        **base: Unpack[ServiceOptions],
    ) -> None:
        super().__init__(uow, **base)
        self.gateway = gateway
        self.retry_after = retry_after
        self.max_backoff = max_backoff
        #: the access check of fee reads (the school's, from School.build)
        self.gate = AccessGate()

    def set_payment_account(self, student_id: str, account: str) -> None:
        """Deprecated: file a payment method with ``school.payments.add_method(...)``; late
        fees charge the student's default method, and this account only when they have
        none (personal data: erased with the student)."""
        warnings.warn(
            "fees.set_payment_account is deprecated: use school.payments.add_method "
            "(late fees charge the student's default payment method)",
            EduEngineDeprecationWarning,
            stacklevel=2,
        )
        check_id(student_id, "student_id")
        check_id(account, "payment account")
        self._run(
            lambda uow, now: uow.records.put(PAYMENT_ACCOUNTS, student_id, {"account": account}),
            ids={"student_id": student_id},
        )

    def fees_of(self, student_id: str, *, actor: Actor | None = None) -> list[LateFee]:
        """A student's late fees, read as ``actor`` (refused unless the actor may see
        her; audited: docs/privacy.md). Without an actor (deprecated) as before."""
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> list[LateFee]:
            shown(look, student_id)
            keys = [k for k, _ in uow.records.scan(LATE_FEES, f"student:{student_id}")]
            return [_fee(k, uow.records.get(LATE_FEES, k) or {}) for k in keys]

        return self.gate.read(
            self._run, actor, ("fees",), query, ids={"student_id": student_id}, records=True
        )

    def collect_due(self, *, batch: int = 50) -> int:
        """Charge every fee due now; returns how many were charged. Safe to run from
        several workers: the gateway key makes a double attempt harmless."""
        charged = 0

        def collect(key: str) -> None:
            nonlocal charged
            charged += self.collect(key)

        self._sweep_due(LATE_FEES, DUE, collect, batch)
        return charged

    def collect(self, booking_id: str) -> bool:
        """Try to charge one due fee now; returns whether it is (now) charged."""
        check_id(booking_id, "booking_id")

        def read(uow: UnitOfWork, now: datetime) -> tuple[dict[str, Any] | None, str | None]:
            doc = uow.records.get(LATE_FEES, booking_id)
            if doc is None or doc["state"] != "due":
                return None, None
            method = default_of(uow, doc["student_id"])
            if method is not None:
                return doc, method.account
            # the deprecated set_payment_account form, for a student with no method
            account = uow.records.get(PAYMENT_ACCOUNTS, doc["student_id"])
            return doc, None if account is None else str(account["account"])

        doc, account = self._run(read, write=False, ids={"booking_id": booking_id})
        if doc is None:
            return False
        fee = Money.from_record(doc["fee"])
        if account is None:
            self._run(
                self._failed(booking_id, "no payment account on file"),
                ids={"booking_id": booking_id},
            )
            return False
        key = fee_key(booking_id)

        def file_charge(uow: UnitOfWork, now: datetime) -> None:
            record_charge(
                uow,
                key,
                owner=FEE_OWNER,
                ref={"booking_id": booking_id},
                account=account,
                amount=fee,
                now=now,
                student_id=doc["student_id"],
            )
            # the library read her payment account to charge it: audited as system
            audit_system(uow, doc["student_id"], "collect", now)

        self._run(file_charge, ids={"booking_id": booking_id})
        try:
            made = self.gateway.charge(key, account, fee)
        except PaymentFailed as exc:
            self._run(
                self._failed(booking_id, str(exc), close_as="failed"),
                ids={"booking_id": booking_id},
            )
            return False
        except Exception as exc:  # answer lost: reconcile asks the provider
            self._run(
                self._failed(booking_id, f"outcome unknown: {exc}", close_as=None),
                ids={"booking_id": booking_id},
            )
            return False
        try:
            return bool(self._run(self._charged(booking_id, made), ids={"booking_id": booking_id}))
        except PersistenceError as exc:
            # the money moved: the fee's intent stays open and reconcile (or the next
            # collect, under the same key) marks it charged; never "nothing was written"
            raise PaymentOutcomeUnknown(
                key,
                f"charged ({made.id}), but marking the late fee of {booking_id!r} failed: {exc}",
                booking_id=booking_id,
            ) from exc

    # --- settling payments (PaymentSettler) ----------------------------------------------

    def payment_charged(self, intent: PaymentIntent, charge: Charge) -> None:
        booking_id = intent.ref["booking_id"]
        self._run(self._charged(booking_id, charge), ids={"booking_id": booking_id})

    def payment_not_charged(self, intent: PaymentIntent) -> None:
        # the fee is still owed: it stays due (with its back-off) and is tried again
        self._run(lambda uow, now: close(uow, intent.key, "released"))

    def payment_refunded(self, intent: PaymentIntent, refund: Refund) -> None:
        self._run(lambda uow, now: close(uow, intent.key, "refunded", settled_id=refund.id))

    def _charged(self, booking_id: str, made: Charge) -> Callable[[UnitOfWork, datetime], bool]:
        fee = made.amount

        def mark(uow: UnitOfWork, now: datetime) -> bool:
            close(uow, fee_key(booking_id), "charged", settled_id=made.id)
            fresh = uow.records.get(LATE_FEES, booking_id)
            if fresh is None or fresh["state"] != "due":
                return fresh is not None
            fresh.update(state="charged", charge_id=made.id, attempts=fresh["attempts"] + 1)
            # charged fees leave the due index; the student's own list keeps them
            uow.records.put(
                LATE_FEES, booking_id, fresh, index={f"student:{fresh['student_id']}": micros(now)}
            )
            uow.record_events(
                [
                    LateFeeCharged(
                        occurred_at=now,
                        student_id=fresh["student_id"],
                        booking_id=booking_id,
                        fee=fee,
                        charge_id=made.id,
                    )
                ]
            )
            return True

        return mark

    def _failed(self, booking_id: str, reason: str, close_as: str | None = None) -> Any:
        """File a failed attempt (with back-off); ``close_as`` closes the attempt's intent
        (``None``: its outcome is unknown, it stays open for reconcile)."""

        def command(uow: UnitOfWork, now: datetime) -> None:
            if close_as is None:
                note_unknown(uow, fee_key(booking_id))
            else:
                close(uow, fee_key(booking_id), close_as)
            doc = uow.records.get(LATE_FEES, booking_id)
            if doc is None or doc["state"] != "due":
                return
            doc["attempts"] += 1
            doc["last_error"] = reason
            backoff = min(self.retry_after * 2 ** (doc["attempts"] - 1), self.max_backoff)
            uow.records.put(
                LATE_FEES,
                booking_id,
                doc,
                index={DUE: micros(now + backoff), f"student:{doc['student_id']}": micros(now)},
            )
            uow.record_events(
                [
                    LateFeeFailed(
                        occurred_at=now,
                        student_id=doc["student_id"],
                        booking_id=booking_id,
                        fee=Money.from_record(doc["fee"]),
                        reason=reason,
                        attempts=doc["attempts"],
                    )
                ]
            )

        return command


class CollectOnCommit:
    """A publisher that tries each new late fee at once (the sweep retries failures)."""

    def __init__(self, fees: FeeService) -> None:
        self.fees = fees

    def publish(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            if isinstance(event, LateFeeDue):
                self.fees.collect(event.booking_id)


def erase_payment_account(uow: UnitOfWork, student_id: str, now: datetime) -> int:
    """Eraser: the student's payment account (fees already charged keep their charge id)."""
    if uow.records.get(PAYMENT_ACCOUNTS, student_id) is None:
        return 0
    uow.records.delete(PAYMENT_ACCOUNTS, student_id)
    return 1


def _fee(key: str, doc: dict[str, Any]) -> LateFee:
    return LateFee(
        booking_id=key,
        student_id=doc["student_id"],
        fee=Money.from_record(doc["fee"]),
        state=doc["state"],
        attempts=doc["attempts"],
        charge_id=doc["charge_id"],
    )
