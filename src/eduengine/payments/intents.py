"""Payment intents: what the school asked the provider to do, written before asking.

Every command that moves money files an intent (kind ``payment_intent``, keyed by the
idempotency key it gives the provider) in the same unit of work as the order, the group
place or the fee it pays for, and only then calls the gateway. An intent is **open**
(``pending``: the call is under way or was never made; ``unknown``: the answer was lost)
until the owner learns the outcome and closes it in the same unit of work as the order,
place or fee it settles (``charged``, ``refunded``, ``failed``, ``released``). Open
intents are filed under the ``"open"`` index by the time they were filed, so
:meth:`~eduengine.payments.service.PaymentService.reconcile` reads only those.

An open charge also keeps the payment account it charges (a retried call needs it) and,
under the index ``student:<id>``, the student it charges, so erasure
(:func:`erase_accounts`) finds the student's open intents and drops their account; what
reconcile needs to settle or refund (the key, the amount, the charge id) stays.

>>> from datetime import datetime, timezone
>>> from eduengine import InMemoryStore
>>> from eduengine.kernel.money import Money
>>> now = datetime(2026, 3, 2, tzinfo=timezone.utc)
>>> with InMemoryStore().unit_of_work() as uow:
...     _ = record_charge(uow, "order:o1", owner="order", ref={"order_id": "o1"},
...                       account="acct-ann", amount=Money("10", "CNY"), now=now)
...     before = [k for k, _ in uow.records.scan(INTENTS, OPEN)]
...     close(uow, "order:o1", "charged", settled_id="ch_1")
...     before, uow.records.scan(INTENTS, OPEN), get_intent(uow, "order:o1").state
(['order:o1'], [], 'charged')
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import attrs

from eduengine.kernel.codec import dt_in, dt_out, micros
from eduengine.kernel.money import Money
from eduengine.payments.gateway import Charge, Refund
from eduengine.service_layer.ports import UnitOfWork

INTENTS = "payment_intent"
#: index of the intents still open, by the time they were filed
OPEN = "open"
OPEN_STATES = ("pending", "unknown")
CLOSED_STATES = ("charged", "refunded", "failed", "released")


@attrs.frozen(kw_only=True)
class PaymentIntent:
    """One call to the provider, as the school filed it."""

    key: str
    #: ``charge`` or ``refund``
    action: str
    #: the module that settles it (``order``, ``deal``, ``late_fee``)
    owner: str
    #: what it pays for, in the owner's terms (e.g. ``{"order_id": "o1"}``)
    ref: dict[str, str]
    amount: Money
    state: str
    since: datetime
    #: the charge a refund returns
    charge_id: str | None = None
    #: the provider's id of the charge or refund that settled it
    settled_id: str | None = None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @classmethod
    def from_record(cls, key: str, d: dict[str, Any]) -> PaymentIntent:
        return cls(
            key=key,
            action=d["action"],
            owner=d["owner"],
            ref=dict(d["ref"]),
            amount=Money.from_record(d["amount"]),
            state=d["state"],
            since=dt_in(d["since"]),
            charge_id=d.get("charge_id"),
            settled_id=d.get("settled_id"),
        )


class PaymentSettler(Protocol):
    """What a module that moves money offers the reconcile sweep and the notifications.

    Each method is idempotent (it re-reads its documents under their locks) and closes the
    intent in the same unit of work as the order, place or fee it settles.
    """

    def payment_charged(self, intent: PaymentIntent, charge: Charge) -> None:
        """The provider took the money: confirm, or refund if what it paid for is gone."""

    def payment_not_charged(self, intent: PaymentIntent) -> None:
        """The provider moved no money: release the seat, place or coupon."""

    def payment_refunded(self, intent: PaymentIntent, refund: Refund) -> None:
        """A refund intent went through."""


def _put(uow: UnitOfWork, key: str, doc: dict[str, Any]) -> None:
    index = None
    if doc["state"] in OPEN_STATES:
        since = micros(dt_in(doc["since"]))
        index = {OPEN: since}
        if doc.get("student_id"):
            index[f"student:{doc['student_id']}"] = since
    uow.records.put(INTENTS, key, doc, index=index)


def record_charge(
    uow: UnitOfWork,
    key: str,
    *,
    owner: str,
    ref: dict[str, str],
    account: str,
    amount: Money,
    now: datetime,
    student_id: str | None = None,
) -> dict[str, Any]:
    """File (or re-open, for a retried call) a charge intent; returns its document.

    ``student_id`` (default: ``ref["student_id"]``) is whom it charges, for erasure."""
    doc = uow.records.get(INTENTS, key)
    if doc is not None and doc["state"] in OPEN_STATES:
        if doc.get("account") != account:
            doc["account"] = account
            _put(uow, key, doc)
        return doc
    doc = {
        "action": "charge",
        "owner": owner,
        "ref": ref,
        "account": account,
        "amount": amount.to_record(),
        "state": "pending",
        "since": dt_out(now),
        "charge_id": None,
        "settled_id": None,
        "student_id": student_id or ref.get("student_id"),
    }
    _put(uow, key, doc)
    return doc


def erase_accounts(uow: UnitOfWork, student_id: str, now: datetime) -> int:
    """Eraser: drop the payment account of the student's open charge intents; returns
    how many it changed. Reconcile still settles them: it asks the provider by key and
    refunds by charge id, never by account (a retried command gives the account again).

    >>> from datetime import datetime, timezone
    >>> from eduengine import InMemoryStore
    >>> from eduengine.kernel.money import Money
    >>> now = datetime(2026, 3, 2, tzinfo=timezone.utc)
    >>> with InMemoryStore().unit_of_work() as uow:
    ...     _ = record_charge(uow, "order:o1", owner="order", ref={"order_id": "o1"},
    ...                       account="acct-ann", amount=Money("10", "CNY"), now=now,
    ...                       student_id="ann")
    ...     erase_accounts(uow, "ann", now), account_of(uow, "order:o1")
    (1, None)
    """
    erased = 0
    for key, _ in uow.records.scan(INTENTS, f"student:{student_id}"):
        doc = uow.records.get(INTENTS, key)
        if doc is not None and doc["state"] in OPEN_STATES and doc.get("account") is not None:
            doc["account"] = None
            _put(uow, key, doc)
            erased += 1
    return erased


def record_refund(
    uow: UnitOfWork,
    key: str,
    *,
    owner: str,
    ref: dict[str, str],
    charge_id: str,
    amount: Money,
    now: datetime,
) -> None:
    """File a refund intent (once: a refund already filed under ``key`` is kept)."""
    if uow.records.get(INTENTS, key) is not None:
        return
    _put(
        uow,
        key,
        {
            "action": "refund",
            "owner": owner,
            "ref": ref,
            "account": None,
            "amount": amount.to_record(),
            "state": "pending",
            "since": dt_out(now),
            "charge_id": charge_id,
            "settled_id": None,
        },
    )


def get_intent(uow: UnitOfWork, key: str) -> PaymentIntent | None:
    doc = uow.records.get(INTENTS, key)
    return None if doc is None else PaymentIntent.from_record(key, doc)


def account_of(uow: UnitOfWork, key: str) -> str | None:
    """The account an open charge intent charges (``None`` once it is closed)."""
    doc = uow.records.get(INTENTS, key)
    return None if doc is None else doc.get("account")


def note_unknown(uow: UnitOfWork, key: str) -> None:
    """The provider's answer was lost: the intent stays open for the sweep."""
    doc = uow.records.get(INTENTS, key)
    if doc is not None and doc["state"] == "pending":
        doc["state"] = "unknown"
        _put(uow, key, doc)


def close(uow: UnitOfWork, key: str, state: str, *, settled_id: str | None = None) -> None:
    """Close an open intent. A closed one is left as it is (the first outcome wins),
    except that a charge found to have landed after all overrides ``failed`` or
    ``released``: the provider's books are the truth.

    The payment account is dropped with it: only an open charge needs it.
    """
    if state not in CLOSED_STATES:
        raise ValueError(f"not a closed intent state: {state!r}")
    doc = uow.records.get(INTENTS, key)
    if doc is None:
        return
    late_charge = state == "charged" and doc["state"] in ("failed", "released")
    if doc["state"] not in OPEN_STATES and not late_charge:
        return
    doc.update(state=state, settled_id=settled_id, account=None)
    _put(uow, key, doc)
