"""Payments: the gateway port, an in-memory fake, payment intents and settling them.

- :mod:`eduengine.payments.gateway`: the port (``PaymentGateway``) and what it answers;
- :mod:`eduengine.payments.fake`: ``FakePaymentGateway``, for tests and examples;
- :mod:`eduengine.payments.intents`: each charge and refund filed before the call;
- :mod:`eduengine.payments.service`: ``PaymentService``, which settles the open intents.

This package re-exports the port and the fake only: pricing, deals and policies import
the port, and importing it runs this file.

>>> from eduengine.payments import FakePaymentGateway, PaymentGateway
>>> gateway: PaymentGateway = FakePaymentGateway()
>>> gateway.lookup("no-such-key").state.value
'not_found'
"""

from eduengine.payments.fake import FakePaymentGateway, Fault
from eduengine.payments.gateway import (
    Charge,
    PaymentGateway,
    PaymentOutcome,
    PaymentState,
    Refund,
)

__all__ = [
    "Charge",
    "FakePaymentGateway",
    "Fault",
    "PaymentGateway",
    "PaymentOutcome",
    "PaymentState",
    "Refund",
]
