"""Settling payments whose outcome the school does not know: reconcile and notifications.

A module that moves money (checkout, group deals, late fees) files a payment intent
before it calls the provider (:mod:`eduengine.payments.intents`) and registers itself here as the
intent's owner. :meth:`PaymentService.reconcile` is the periodic job: it reads only the
open intents, through their index, asks the provider what became of each key and hands
the answer to the owner (charged: confirm, or refund when what it paid for is gone; not
charged: release the place and the coupon). The provider's notifications
(:meth:`~PaymentService.notify_succeeded`, :meth:`~PaymentService.notify_failed`) settle
one key at once the same way.

>>> from datetime import datetime, timedelta, timezone
>>> from eduengine import FixedClock, InMemoryStore, School
>>> from eduengine.payments import FakePaymentGateway, Fault
>>> from eduengine.kernel.money import Money
>>> from eduengine.pricing.catalogue import CatalogueItem, ItemKind, PriceList
>>> from eduengine.errors import PaymentOutcomeUnknown
>>> clock = FixedClock(datetime(2026, 3, 2, tzinfo=timezone.utc))
>>> from eduengine.people import SYSTEM
>>> gateway = FakePaymentGateway()
>>> school = School.build(InMemoryStore(), clock=clock, gateway=gateway)
>>> school.catalogue.add_item(CatalogueItem(id="py", kind=ItemKind.COURSE, title="Python"))
>>> _ = school.catalogue.publish(PriceList(id="base", currency="CNY",
...     valid_from=clock.now(), prices={"py": Money("199", "CNY")}))
>>> _ = school.payments.add_method("ann", "acct-ann")
>>> quote = school.catalogue.quote("ann", ["py"], "CNY")
>>> gateway.script(Fault.TIMEOUT_AFTER)          # charged, but the answer is lost
>>> try:
...     school.pricing.checkout("o1", quote_id=quote.id)
... except PaymentOutcomeUnknown as lost:
...     print(lost.key, school.pricing.get_order("o1", actor=SYSTEM).status)
order:o1 payment_unknown
>>> _ = clock.advance(timedelta(minutes=20))
>>> school.payments.reconcile(), school.pricing.get_order("o1", actor=SYSTEM).status
(1, 'paid')
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Unpack

import attrs

from eduengine.errors import DuplicateId, InvalidInput, PaymentFailed, PaymentMethodNotFound
from eduengine.kernel.codec import micros
from eduengine.kernel.inputs import (
    MAX_ID_LENGTH,
    check_duration,
    check_id,
    check_ids,
    check_int,
    check_text,
)
from eduengine.payments.gateway import PaymentGateway, PaymentState
from eduengine.payments.intents import INTENTS, OPEN, PaymentIntent, PaymentSettler, get_intent
from eduengine.payments.methods import (
    DEFAULTS,
    METHODS,
    PaymentMethod,
    default_of,
    get_method,
    mask_account,
    methods_for,
    put_method,
    refile_method,
    set_default,
)
from eduengine.people.access import AccessGate, Look, Refused
from eduengine.people.model import Actor
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase, ServiceOptions, scan_after

log = logging.getLogger("eduengine.payments")

#: how long an intent may stay open before the sweep asks the provider about it: longer
#: than the provider's own request timeout, so the sweep never releases a place whose
#: charge is still on its way (if one lands later anyway, it is refunded)
SETTLE_AFTER = timedelta(minutes=15)
RECONCILE_BATCH = 100
#: idempotency keys join an owner and ids (``order:<order id>``, ``group:<id>:<student>``)
MAX_KEY_LENGTH = 4 * MAX_ID_LENGTH


class Reconciled(int):
    """What :meth:`PaymentService.reconcile` did: an ``int``, the number of intents it
    settled, which also names the intents it could not settle because settling them
    failed (``failed``: their keys, in the order met; each was logged with its error).

    >>> done = Reconciled(3, failed=["order:o9"])
    >>> done == 3, done.failed
    (True, ('order:o9',))
    """

    failed: tuple[str, ...]

    def __new__(cls, settled: int = 0, *, failed: Sequence[str] = ()) -> Reconciled:
        done = super().__new__(cls, settled)
        done.failed = tuple(failed)
        return done


class PaymentService(ServiceBase):
    """Open payment intents: read them, reconcile them, take the provider's notifications.

    ``settle_after`` is how old an open intent must be before :meth:`reconcile` settles
    it; a pending order or place the provider never charged is released then, so it is
    also how long an abandoned checkout holds its coupon.
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        gateway: PaymentGateway,
        settle_after: timedelta = SETTLE_AFTER,
        **base: Unpack[ServiceOptions],
    ) -> None:
        super().__init__(uow, **base)
        if not isinstance(settle_after, timedelta) or settle_after < timedelta(0):
            raise InvalidInput(f"settle_after must be a timedelta >= 0, got {settle_after!r}")
        check_duration(settle_after, "settle_after")
        self.gateway = gateway
        # the school's access check (School.build sets its own)
        self.gate = AccessGate()
        self.settle_after = settle_after
        self._owners: dict[str, PaymentSettler] = {}

    def register(self, owner: str, settler: PaymentSettler) -> None:
        """Route the intents filed by ``owner`` (e.g. ``"order"``) to ``settler``."""
        check_id(owner, "owner")
        self._owners[owner] = settler

    # --- payment methods on file (the one model checkout, groups and fees use) --------

    def add_method(
        self,
        holder_id: str,
        account: str,
        *,
        method_id: str | None = None,
        label: str = "",
        pays_for: Sequence[str] = (),
        default: bool | None = None,
    ) -> PaymentMethod:
        """File a provider account (``account``, what the gateway charges) held by a
        student or a guardian (``holder_id``); a guardian's method names the students it
        ``pays_for``. It becomes the default of the holder and of each student it pays
        for with ``default=True``, or (``None``) of those who have no default yet.

        >>> from datetime import datetime, timezone
        >>> from eduengine import FixedClock, InMemoryStore, School
        >>> school = School.build(InMemoryStore(),
        ...     clock=FixedClock(datetime(2026, 3, 2, tzinfo=timezone.utc)))
        >>> card = school.payments.add_method("mum", "tok_visa_4242", pays_for=["ann"],
        ...                                   label="Visa 4242", method_id="m1")
        >>> from eduengine.people import SYSTEM
        >>> school.payments.default_method("ann", actor=SYSTEM).account
        'tok_visa_4242'
        """
        check_id(holder_id, "holder_id")
        check_id(account, "account")
        if method_id is not None:
            check_id(method_id, "method_id")
        if default is not None and not isinstance(default, bool):
            raise InvalidInput(f"default must be True, False or None, got {default!r}")
        students = tuple(dict.fromkeys(check_ids(pays_for, "pays_for")))
        chosen = method_id if method_id is not None else self._new_id()

        def command(uow: UnitOfWork, now: datetime) -> PaymentMethod:
            if uow.records.get(METHODS, chosen) is not None:
                raise DuplicateId(f"payment method {chosen!r} already exists")
            method = PaymentMethod(
                id=chosen,
                holder_id=holder_id,
                account=account,
                label=label,
                pays_for=students,
                added_at=now,
            )
            put_method(uow, method)
            for payer in dict.fromkeys((holder_id, *students)):
                if default or (default is None and default_of(uow, payer) is None):
                    set_default(uow, payer, method)
            return method

        return self._run(command, ids={"holder_id": holder_id, "method_id": method_id})

    def set_default_method(self, student_id: str, method_id: str) -> None:
        """Make ``method_id`` (which must pay for the student) the student's default."""
        check_id(student_id, "student_id")
        check_id(method_id, "method_id")
        self._run(
            lambda uow, now: set_default(uow, student_id, get_method(uow, method_id)),
            ids={"student_id": student_id, "method_id": method_id},
        )

    def default_method(
        self, student_id: str, *, actor: Actor | None = None
    ) -> PaymentMethod | None:
        """The method charged for the student when a command names none, or ``None``,
        read as ``actor``: the account whole with the payments field set (audited
        once), masked without it, refused to an actor who may not see the student.
        Without an actor (deprecated) the account is masked."""
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> PaymentMethod | None:
            shown = _shown_methods(look, student_id, [default_of(uow, student_id)])
            return shown[0]

        return self.gate.read(
            self._run, actor, ("payments",), query, ids={"student_id": student_id}
        )

    def methods_of(self, student_id: str, *, actor: Actor | None = None) -> list[PaymentMethod]:
        """The methods that may pay for the student (theirs and their guardians'),
        oldest first, read as ``actor`` as :meth:`default_method` reads."""
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> list[PaymentMethod]:
            found = _shown_methods(look, student_id, list(methods_for(uow, student_id)))
            return [m for m in found if m is not None]

        return self.gate.read(
            self._run, actor, ("payments",), query, ids={"student_id": student_id}
        )

    def reindex_methods(self) -> int:
        """File every payment method under its payers again (``for:<holder>`` and each
        student it pays for), a one-off repair step that reads every method; returns
        how many. A method whose account was crypto-shredded is left as it is (it reads
        as gone). ``School.reindex()`` runs it."""

        return self._refile_all(METHODS, refile_method)

    def remove_method(self, method_id: str) -> None:
        """Delete a method; it stops being anyone's default. A card whose account was
        crypto-shredded (its guardian removed) reads as gone, and is removed all the
        same: its record and the defaults that name it."""
        check_id(method_id, "method_id")

        def command(uow: UnitOfWork, now: datetime) -> None:
            doc = uow.records.get(METHODS, method_id)
            if doc is None:
                raise PaymentMethodNotFound(method_id)
            holder, paid_for = str(doc["holder_id"]), [str(s) for s in doc["pays_for"]]
            for payer in dict.fromkeys((holder, *paid_for)):
                found = uow.records.get(DEFAULTS, payer)
                if found is not None and found["method_id"] == method_id:
                    uow.records.delete(DEFAULTS, payer)
            uow.records.delete(METHODS, method_id)

        self._run(command, ids={"method_id": method_id})

    def intent(self, key: str) -> PaymentIntent | None:
        """The intent filed under an idempotency key, or ``None``."""
        check_text(key, "key", max_length=MAX_KEY_LENGTH)
        return self._run(lambda uow, now: get_intent(uow, key), write=False)

    def open_intents(self, *, limit: int = 100) -> list[PaymentIntent]:
        """The oldest open intents (pending or unknown), at most ``limit``."""
        check_int(limit, "limit", low=1)

        def query(uow: UnitOfWork, now: datetime) -> list[PaymentIntent]:
            found = []
            for key, _ in uow.records.scan(INTENTS, OPEN, limit=limit):
                intent = get_intent(uow, key)
                if intent is not None and intent.is_open:
                    found.append(intent)
            return found

        return self._run(query, write=False)

    def count_open(self) -> int:
        """How many intents are open (a health metric: it should stay near zero)."""
        return self._run(lambda uow, now: uow.records.count(INTENTS, OPEN), write=False)

    def reconcile(
        self, *, settle_after: timedelta | None = None, batch_size: int = RECONCILE_BATCH
    ) -> Reconciled:
        """Settle every open intent filed at least ``settle_after`` ago (default: the
        service's); returns how many it settled (a :class:`Reconciled`, an ``int`` whose
        ``failed`` lists the keys it could not settle).

        Reads only the ``"open"`` index, ``batch_size`` keys per read; an intent the
        provider cannot answer about stays open for the next run. Each intent is settled
        in units of work of its own: one whose settling fails is logged with its key,
        counted in ``failed`` and left open, and the run goes on to the rest, so one bad
        intent never blocks the others. Safe to run from several workers at once and
        beside the commands (every owner re-reads under its locks).
        """
        if settle_after is not None:
            check_duration(settle_after, "settle_after")
        check_int(batch_size, "batch_size", low=1)
        age = self.settle_after if settle_after is None else settle_after
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInput(f"batch_size must be a positive int, got {batch_size!r}")
        settled = 0
        failed: list[str] = []
        cursor: tuple[int, str] | None = None
        while True:

            def find(
                uow: UnitOfWork, now: datetime, after: tuple[int, str] | None = cursor
            ) -> list[tuple[str, int]]:
                return scan_after(uow.records, INTENTS, OPEN, after, micros(now - age), batch_size)

            rows = self._run(find, write=False)
            if not rows:
                return Reconciled(settled, failed=failed)
            for key, _ in rows:
                try:
                    settled += self.settle(key, not_found_means_not_charged=True)
                except Exception:
                    log.exception("reconcile could not settle payment intent %r", key)
                    failed.append(key)
            cursor = rows[-1][1], rows[-1][0]

    def notify_succeeded(self, key: str) -> bool:
        """The provider's webhook says ``key`` went through. Safe to deliver twice, late,
        or out of order: the school reads the outcome back with ``lookup`` rather than
        trusting the message, and an intent settled already is left alone. Returns whether
        this call settled the intent."""
        check_text(key, "key", max_length=MAX_KEY_LENGTH)
        return self.settle(key, not_found_means_not_charged=False)

    def notify_failed(self, key: str) -> bool:
        """The provider's webhook says ``key`` failed (same rules as
        :meth:`notify_succeeded`: a "failed" arriving after a success changes nothing)."""
        check_text(key, "key", max_length=MAX_KEY_LENGTH)
        return self.settle(key, not_found_means_not_charged=False)

    def settle(self, key: str, *, not_found_means_not_charged: bool = True) -> bool:
        """Ask the provider about one intent now and settle it; returns whether it was
        settled (``False``: unknown key, settled already, or no answer yet). An intent
        released as not charged is asked about too: a charge that landed late for it is
        handed to its owner, who refunds it."""
        check_text(key, "key", max_length=MAX_KEY_LENGTH)
        intent = self.intent(key)
        if intent is None:
            return False
        owner = self._owners.get(intent.owner)
        if owner is None:
            return False
        late_charge = intent.action == "charge" and intent.state in ("failed", "released")
        if not intent.is_open and not late_charge:
            return False
        if intent.action == "refund":
            return self._retry_refund(intent, owner)
        try:
            outcome = self.gateway.lookup(key)
        except Exception:  # no answer (of any kind): try again next run
            return False
        if outcome.state is PaymentState.CHARGED and outcome.charge is not None:
            # for a released intent: the charge landed after its place was given back, so
            # the owner refunds it
            owner.payment_charged(intent, outcome.charge)
        elif late_charge:
            return False
        elif outcome.state is PaymentState.FAILED or (
            outcome.state is PaymentState.NOT_FOUND and not_found_means_not_charged
        ):
            owner.payment_not_charged(intent)
        else:
            return False
        return True

    def _retry_refund(self, intent: PaymentIntent, owner: PaymentSettler) -> bool:
        if intent.charge_id is None:
            return False
        try:
            # a refund is idempotent by key: asking again is how its outcome is learnt
            refund = self.gateway.refund(intent.key, intent.charge_id, intent.amount)
        except PaymentFailed:
            return False
        except Exception:  # no answer: try again next run
            return False
        owner.payment_refunded(intent, refund)
        return True


def _shown_methods(
    look: Look, student_id: str, methods: list[PaymentMethod | None]
) -> list[PaymentMethod | None]:
    """The methods as the reader's field set for the student shows them: the account
    whole with the payments set, else masked; refused, nothing."""
    fields = look(student_id)
    if fields.refused:
        raise Refused()
    if fields.payments:
        return methods
    return [
        None if m is None else attrs.evolve(m, account=mask_account(m.account)) for m in methods
    ]
