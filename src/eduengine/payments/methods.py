"""Payment methods on file: one model for students and guardians, used by checkout, group
joins and late fees (issue #27).

A method is a provider account (a card or wallet token) held by a student or a guardian;
a guardian's method names the students it ``pays_for``. Each student has at most one
default method, which a command uses when the host names none. Methods are personal
data: erasing a student deletes the methods they hold and takes them off a guardian's.

Stored as records: ``payment_method`` documents, filed under ``for:<student or holder>``
(their adding time), and one ``payment_default`` document per student.

>>> method = PaymentMethod(id="m1", holder_id="mum", account="tok_visa", pays_for=("ann",))
>>> method.can_pay_for("ann"), method.can_pay_for("bob")
(True, False)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from eduengine.errors import NoPaymentMethod, PaymentMethodNotFound
from eduengine.kernel.codec import micros
from eduengine.kernel.inputs import check_id, check_ids, check_text
from eduengine.kernel.records import override, reader, writer
from eduengine.people.access import GUARDIANS
from eduengine.service_layer.ports import UnitOfWork

METHODS = "payment_method"
DEFAULTS = "payment_default"


def _payers(holder_id: str, pays_for: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((holder_id, *pays_for)))


@attrs.frozen(kw_only=True)
class PaymentMethod:
    """A provider account on file: ``account`` is what the gateway charges."""

    id: str
    holder_id: str
    account: str
    label: str = ""
    #: the students (besides the holder) this method may pay for: a guardian's children
    pays_for: tuple[str, ...] = ()
    added_at: datetime | None = None

    def __attrs_post_init__(self) -> None:
        check_id(self.id, "method_id")
        check_id(self.holder_id, "holder_id")
        check_id(self.account, "account")
        check_text(self.label, "label", max_length=200)
        check_ids(self.pays_for, "pays_for")

    def can_pay_for(self, student_id: str) -> bool:
        return student_id == self.holder_id or student_id in self.pays_for

    def to_record(self) -> dict[str, Any]:
        return _record_out(self)

    @classmethod
    def from_record(cls, method_id: str, d: dict[str, Any]) -> PaymentMethod:
        # the id is the document's key, not in it
        return _record_in({**d, "id": method_id})


_record_out = writer(PaymentMethod, id=override(omit=True))
_record_in = reader(PaymentMethod)


def put_method(uow: UnitOfWork, method: PaymentMethod) -> None:
    at = 0 if method.added_at is None else micros(method.added_at)
    index = {f"for:{payer}": at for payer in _payers(method.holder_id, method.pays_for)}
    record = method.to_record()
    # whose data key seals the account (crypto.CONTACT_FIELDS): a guardian account's own
    # (``guardian:<id>``), so removing the guardian shreds his cards as his contacts
    guardian = uow.records.get(GUARDIANS, method.holder_id)
    subject = method.holder_id
    if guardian is not None and not guardian.get("removed"):
        subject = f"guardian:{method.holder_id}"
    uow.records.put(METHODS, method.id, {**record, "sealed_for": subject}, index=index)


def _method_in(method_id: str, doc: dict[str, Any] | None) -> PaymentMethod | None:
    # a method whose account was crypto-shredded (its guardian removed) is gone
    if doc is None or doc.get("account") is None:
        return None
    return PaymentMethod.from_record(method_id, doc)


def refile_method(uow: UnitOfWork, method_id: str, doc: dict[str, Any]) -> bool:
    """Write a stored method again with its index entries (a reindex step); a method
    whose account was crypto-shredded is left as it is (``False``)."""
    method = _method_in(method_id, doc)
    if method is None:
        return False
    put_method(uow, method)
    return True


def get_method(uow: UnitOfWork, method_id: str) -> PaymentMethod:
    method = _method_in(method_id, uow.records.get(METHODS, method_id))
    if method is None:
        raise PaymentMethodNotFound(method_id)
    return method


def methods_for(uow: UnitOfWork, student_id: str) -> list[PaymentMethod]:
    """The methods that may pay for ``student_id`` (held or a guardian's), oldest first."""
    out = []
    for key, _ in uow.records.scan(METHODS, f"for:{student_id}"):
        method = _method_in(key, uow.records.get(METHODS, key))
        if method is not None:
            out.append(method)
    return out


def default_of(uow: UnitOfWork, student_id: str) -> PaymentMethod | None:
    doc = uow.records.get(DEFAULTS, student_id)
    if doc is None:
        return None
    return _method_in(str(doc["method_id"]), uow.records.get(METHODS, str(doc["method_id"])))


def set_default(uow: UnitOfWork, student_id: str, method: PaymentMethod) -> None:
    if not method.can_pay_for(student_id):
        raise NoPaymentMethod(student_id, f"method {method.id!r} does not pay for them")
    uow.records.put(DEFAULTS, student_id, {"method_id": method.id})


def paying_method(uow: UnitOfWork, student_id: str, method_id: str | None) -> PaymentMethod:
    """The method a command charges for ``student_id``: ``method_id`` if given (it must
    pay for them), else their default; ``NoPaymentMethod`` when there is none."""
    if method_id is None:
        found = default_of(uow, student_id)
        if found is None:
            raise NoPaymentMethod(student_id)
        return found
    method = get_method(uow, method_id)
    if not method.can_pay_for(student_id):
        raise NoPaymentMethod(student_id, f"method {method_id!r} does not pay for them")
    return method


def erase_methods(uow: UnitOfWork, student_id: str, now: datetime) -> int:
    """Eraser: the methods the student holds are deleted, and they are taken off the
    methods that paid for them (a guardian's card stays the guardian's)."""
    erased = 0
    for key, _ in uow.records.scan(METHODS, f"for:{student_id}"):
        doc = uow.records.get(METHODS, key)
        method = _method_in(key, doc)
        if method is None:
            if doc is not None:  # a removed guardian's shredded card: no use to keep
                uow.records.delete(METHODS, key)
                erased += 1
            continue
        if method.holder_id == student_id:
            uow.records.delete(METHODS, method.id)
        else:
            left = tuple(s for s in method.pays_for if s != student_id)
            put_method(uow, attrs.evolve(method, pays_for=left))
        erased += 1
    if uow.records.get(DEFAULTS, student_id) is not None:
        uow.records.delete(DEFAULTS, student_id)
        erased += 1
    return erased


__all__ = [
    "DEFAULTS",
    "METHODS",
    "PaymentMethod",
    "default_of",
    "erase_methods",
    "get_method",
    "mask_account",
    "methods_for",
    "paying_method",
    "put_method",
    "set_default",
]


def mask_account(account: str) -> str:
    """A provider account with all but its first three characters hidden.

    >>> mask_account("alipay-8831")
    'ali********'
    """
    return account[:3] + "*" * max(len(account) - 3, 1)
