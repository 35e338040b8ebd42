"""Group-deal metrics computed from events alone (成团率, 病毒传播系数 ...).

>>> DealMetrics().success_rate is None
True
"""

from __future__ import annotations

from decimal import Decimal

from eduengine.deals.events import GroupFailed, GroupFormed, GroupOpened, MemberJoined
from eduengine.kernel.events import DomainEvent
from eduengine.kernel.money import Money


class DealMetrics:
    """Feed it every event (``apply``); read the figures as properties."""

    def __init__(self) -> None:
        #: opener of each group seen opening, so an opener's payment is never counted as
        #: a student the group brought in (also for events from before ``is_initiator``)
        self._initiators: dict[str, str] = {}
        self.groups_opened = 0
        self.groups_formed = 0
        self.groups_failed = 0
        self.orders = 0
        self.revenue: Money | None = None
        self.new_students = 0

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, GroupOpened):
            self.groups_opened += 1
            self._initiators[event.group_id] = event.initiator
        elif isinstance(event, GroupFormed):
            self.groups_formed += 1
        elif isinstance(event, GroupFailed):
            self.groups_failed += 1
        elif isinstance(event, MemberJoined):
            self.orders += 1
            self.revenue = event.amount if self.revenue is None else self.revenue + event.amount
            opener = event.is_initiator or self._initiators.get(event.group_id) == event.student_id
            if event.new_student and not opener:
                self.new_students += 1

    @property
    def success_rate(self) -> Decimal | None:
        """Formed groups over settled (formed + failed) groups."""
        settled = self.groups_formed + self.groups_failed
        return None if settled == 0 else Decimal(self.groups_formed) / settled

    @property
    def average_order_value(self) -> Money | None:
        if self.revenue is None or self.orders == 0:
            return None
        return self.revenue.average(self.orders)

    @property
    def viral_coefficient(self) -> Decimal | None:
        """New students brought in per group opened (病毒传播系数)::

            viral_coefficient = new_students / groups_opened

        ``new_students`` counts the ``MemberJoined`` events of members other than the
        opener whose payment was their first paid order (``new_student``); the opener is
        never counted, so a group nobody joined scores 0. A student counts when their
        payment is confirmed and stays counted if the group later fails and refunds
        them: they were brought in. ``None`` before any group opened.
        """
        return None if self.groups_opened == 0 else Decimal(self.new_students) / self.groups_opened
