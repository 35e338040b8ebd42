"""Rush booking (团班抢课): a fair queue in front of a slot that opens at an instant."""

from eduengine.rush.events import QueueAdmitted, QueueEntered
from eduengine.rush.model import QueuePosition, RushQueue, fair_order
from eduengine.rush.service import RushService

__all__ = [
    "QueueAdmitted",
    "QueueEntered",
    "QueuePosition",
    "RushQueue",
    "RushService",
    "fair_order",
]
