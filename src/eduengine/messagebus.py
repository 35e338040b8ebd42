"""The message bus: deprecated path, moved to :mod:`eduengine.service_layer.messagebus`
(seat guards: :mod:`eduengine.booking.guards`); removed in 0.4."""

from eduengine.booking.guards import SeatGuard
from eduengine.kernel.deprecation import warn_moved
from eduengine.service_layer.messagebus import (
    MAX_ROUNDS,
    Batch,
    Guard,
    Handler,
    Listener,
    MessageBus,
    PublicationOrder,
    handler_name,
)

__all__ = [
    "MAX_ROUNDS",
    "Batch",
    "Guard",
    "Handler",
    "Listener",
    "MessageBus",
    "PublicationOrder",
    "SeatGuard",
    "handler_name",
]

warn_moved(
    "eduengine.messagebus",
    "eduengine.service_layer.messagebus (seat guards: eduengine.booking.guards)",
)
