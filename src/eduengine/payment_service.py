"""Moved to :mod:`eduengine.payments.service`; this path re-exports it until 0.4."""

from eduengine.kernel.deprecation import warn_moved
from eduengine.payments.service import (
    MAX_KEY_LENGTH,
    RECONCILE_BATCH,
    SETTLE_AFTER,
    PaymentService,
    Reconciled,
)

__all__ = [
    "MAX_KEY_LENGTH",
    "RECONCILE_BATCH",
    "SETTLE_AFTER",
    "PaymentService",
    "Reconciled",
]

warn_moved("eduengine.payment_service", "eduengine.payments.service")
