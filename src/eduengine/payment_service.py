"""Moved to :mod:`eduengine.payments.service`; this path re-exports it until 0.4."""

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
