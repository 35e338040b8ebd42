"""A student's payment method on file, for tests that charge a named account: the
current form of the deprecated ``account=`` of the group deals (docs/payments.md)."""

from __future__ import annotations

import contextlib

from eduengine.errors import DuplicateId
from eduengine.payments.service import PaymentService


def method_for(payments: PaymentService, student: str, account: str) -> str:
    """The id of ``student``'s method charging ``account``, filed on first use (not made
    her default: the caller names it)."""
    method_id = f"m-{student}-{account}"
    with contextlib.suppress(DuplicateId):
        payments.add_method(student, account, method_id=method_id, default=False)
    return method_id
