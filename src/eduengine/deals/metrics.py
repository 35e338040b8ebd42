"""Group-deal metrics computed from events alone (成团率, 病毒传播系数 ...), for the whole
school and by campaign, by opener and by course.

>>> DealMetrics().success_rate is None
True
"""

from __future__ import annotations

from decimal import Decimal

from eduengine.deals.events import (
    GroupFailed,
    GroupFormed,
    GroupOpened,
    JoinAttributed,
    MemberJoined,
    RegistrationAttributed,
)
from eduengine.kernel.events import DomainEvent
from eduengine.kernel.money import Money


class DealFigures:
    """The counters of one slice (the school, a campaign, an opener or a course) and
    the figures read from them."""

    def __init__(self) -> None:
        self.groups_opened = 0
        self.groups_formed = 0
        self.groups_failed = 0
        self.orders = 0
        self.revenue: Money | None = None
        #: joiners whose group payment was their first paid order
        self.new_students = 0
        #: students attributed to a share link whose first touch came before any paid
        #: order: a registration (or an open or join) a sharer brought
        self.attributed_students = 0

    def _order(self, amount: Money, new_student: bool) -> None:
        self.orders += 1
        self.revenue = amount if self.revenue is None else self.revenue + amount
        self.new_students += int(new_student)

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
        """New students attributed to share links per group opened (病毒传播系数)::

            viral_coefficient = attributed_students / groups_opened

        ``attributed_students`` counts each student once, at her first touch through a
        share link (``RegistrationAttributed`` or ``JoinAttributed`` with
        ``first_touch`` and ``new_student``): a sign-up a sharer brought counts when
        she registers, whether or not she pays. ``None`` before any group opened.
        """
        return (
            None
            if self.groups_opened == 0
            else Decimal(self.attributed_students) / self.groups_opened
        )

    @property
    def first_payment_coefficient(self) -> Decimal | None:
        """New paying students per group opened (what ``viral_coefficient`` measured
        before sign-ups were attributed)::

            first_payment_coefficient = new_students / groups_opened

        ``new_students`` counts the ``MemberJoined`` events of members other than the
        opener whose payment was their first paid order (``new_student``); the opener is
        never counted, so a group nobody joined scores 0. A student counts when their
        payment is confirmed and stays counted if the group later fails and refunds
        them. ``None`` before any group opened.
        """
        return None if self.groups_opened == 0 else Decimal(self.new_students) / self.groups_opened


class DealMetrics(DealFigures):
    """Feed it every event (``apply``); read the school's figures as properties and each
    slice's from :attr:`by_campaign`, :attr:`by_opener` and :attr:`by_course`.

    A group counts under its campaign, its opener and its opener's course; an order
    under the group's campaign and opener and the course the member took (a campaign
    may cover several courses); a student brought through a share link under the
    link's campaign, its sharer (as opener) and the course of the group she came to.

    >>> from datetime import UTC, datetime, timedelta
    >>> t = datetime(2026, 3, 2, tzinfo=UTC)
    >>> m = DealMetrics()
    >>> m.apply(GroupOpened(occurred_at=t, group_id="g", campaign_id="c", initiator="ann",
    ...                     share_code="ABCDEFGHJKMN", deadline=t + timedelta(days=1),
    ...                     course_id="py"))
    >>> m.apply(RegistrationAttributed(occurred_at=t, student_id="bob", sharer_id="ann",
    ...     token="tok", campaign_id="c", group_id="g", first_touch=True,
    ...     new_student=True, referred=True))
    >>> m.viral_coefficient, m.by_opener["ann"].viral_coefficient, m.by_course["py"].groups_opened
    (Decimal('1'), Decimal('1'), 1)
    """

    def __init__(self) -> None:
        super().__init__()
        #: opener of each group seen opening, so an opener's payment is never counted as
        #: a student the group brought in (also for events from before ``is_initiator``)
        self._initiators: dict[str, str] = {}
        self._campaigns: dict[str, str] = {}
        self._courses: dict[str, str] = {}
        self.by_campaign: dict[str, DealFigures] = {}
        self.by_opener: dict[str, DealFigures] = {}
        self.by_course: dict[str, DealFigures] = {}

    def _slices(
        self, campaign: str | None, opener: str | None, course: str | None
    ) -> list[DealFigures]:
        found: list[DealFigures] = [self]
        for table, key in (
            (self.by_campaign, campaign),
            (self.by_opener, opener),
            (self.by_course, course),
        ):
            if key is not None:
                found.append(table.setdefault(key, DealFigures()))
        return found

    def _of_group(self, group_id: str, course: str | None = None) -> list[DealFigures]:
        return self._slices(
            self._campaigns.get(group_id),
            self._initiators.get(group_id),
            course or self._courses.get(group_id),
        )

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, GroupOpened):
            self._initiators[event.group_id] = event.initiator
            self._campaigns[event.group_id] = event.campaign_id
            if event.course_id is not None:
                self._courses[event.group_id] = event.course_id
            for figures in self._of_group(event.group_id):
                figures.groups_opened += 1
        elif isinstance(event, GroupFormed):
            for figures in self._of_group(event.group_id):
                figures.groups_formed += 1
        elif isinstance(event, GroupFailed):
            for figures in self._of_group(event.group_id):
                figures.groups_failed += 1
        elif isinstance(event, MemberJoined):
            opener = event.is_initiator or self._initiators.get(event.group_id) == event.student_id
            for figures in self._of_group(event.group_id, event.course_id):
                figures._order(event.amount, event.new_student and not opener)
        elif (
            isinstance(event, RegistrationAttributed | JoinAttributed)
            and event.first_touch
            and event.new_student
        ):
            course = None if event.group_id is None else self._courses.get(event.group_id)
            for figures in self._slices(event.campaign_id, event.sharer_id, course):
                figures.attributed_students += 1
