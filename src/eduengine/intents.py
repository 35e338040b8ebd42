"""Moved to :mod:`eduengine.payments.intents`; this path re-exports it until 0.4."""

from eduengine.kernel.deprecation import warn_moved
from eduengine.payments.intents import (
    CLOSED_STATES,
    INTENTS,
    OPEN,
    OPEN_STATES,
    PaymentIntent,
    PaymentSettler,
    account_of,
    close,
    erase_accounts,
    get_intent,
    note_unknown,
    record_charge,
    record_refund,
)

__all__ = [
    "CLOSED_STATES",
    "INTENTS",
    "OPEN",
    "OPEN_STATES",
    "PaymentIntent",
    "PaymentSettler",
    "account_of",
    "close",
    "erase_accounts",
    "get_intent",
    "note_unknown",
    "record_charge",
    "record_refund",
]

warn_moved("eduengine.intents", "eduengine.payments.intents")
