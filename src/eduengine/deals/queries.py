"""The page of a campaign's groups still forming (拼团 "join a group" lists): how many
places each still needs, newest first or closing soonest first, never who is in it.

Every group still forming is filed under two indexes of its campaign (by deadline and by
opening instant, see :meth:`~eduengine.deals.model.GroupDeal.index_entries`); a page is
one index range read in a read-only unit of work, keyset paged (``after=page.next``), so
a campaign with 10^5 groups costs what a page of them costs.

>>> from datetime import datetime, timedelta, timezone
>>> from eduengine import FixedClock, InMemoryStore, School
>>> from eduengine.deals import GroupDealCampaign
>>> from eduengine.payments import FakePaymentGateway
>>> from eduengine.pricing import Money
>>> clock = FixedClock(datetime(2026, 3, 2, 8, tzinfo=timezone.utc))
>>> school = School.build(InMemoryStore(), clock=clock, gateway=FakePaymentGateway())
>>> for student in ("ann", "bob"):
...     _ = school.payments.add_method(student, f"wx-{student}")
>>> school.deals.create_campaign(GroupDealCampaign(
...     id="spring", course_id="math", list_price=Money("299", "CNY"),
...     group_price=Money("199", "CNY"), required_size=3, max_size=5,
...     duration=timedelta(hours=24), starts_at=clock.now(),
...     ends_at=clock.now() + timedelta(days=30)))
>>> first = school.deals.open_group("spring", "ann")
>>> _ = clock.advance(timedelta(hours=1))
>>> second = school.deals.open_group("spring", "bob")
>>> page = school.queries.open_groups("spring", order="newest", limit=1)
>>> [(g.group_id == second.id, g.members, g.seats_to_go) for g in page]
[(True, 1, 2)]
>>> [g.group_id == first.id for g in school.queries.open_groups(
...     "spring", order="newest", after=page.next)]
[True]
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

import attrs

from eduengine.booking.queries import MAX_PAGE, Zone, viewer_zone
from eduengine.booking.timetable import Page, decode_cursor, encode_cursor
from eduengine.deals.model import GroupDeal, GroupState, closing_index, newest_index
from eduengine.deals.records import GROUPS, _campaign, _group
from eduengine.errors import InvalidInput
from eduengine.kernel.codec import micros
from eduengine.kernel.inputs import check_id, check_int
from eduengine.pricing.money import Money
from eduengine.service_layer.ports import UnitOfWork
from eduengine.service_layer.runner import ServiceBase

#: ``"closing"``: the deadline soonest first; ``"newest"``: the latest opened first
GroupOrder = Literal["closing", "newest"]


@attrs.frozen(kw_only=True)
class OpenGroup:
    """A group still forming as a campaign's page shows it: counts, never members.

    ``members`` holds a place (paid or paying); ``seats_to_go`` more form the group;
    ``places_left`` is how many more it seats at most. Times are in the viewer's zone
    when the query was given one."""

    group_id: str
    campaign_id: str
    opened_at: datetime
    deadline: datetime
    price: Money
    required_size: int
    capacity: int
    members: int

    @property
    def seats_to_go(self) -> int:
        return max(0, self.required_size - self.members)

    @property
    def places_left(self) -> int:
        return max(0, self.capacity - self.members)

    @classmethod
    def of(cls, group: GroupDeal) -> OpenGroup:
        return cls(
            group_id=group.id,
            campaign_id=group.campaign_id,
            opened_at=group.opened_at,
            deadline=group.deadline,
            price=group.price,
            required_size=group.required_size,
            capacity=group.capacity,
            members=group.places_taken,
        )

    def in_zone(self, zone: Zone) -> OpenGroup:
        viewer = viewer_zone(zone)
        if viewer is None:
            return self
        return attrs.evolve(
            self,
            opened_at=self.opened_at.astimezone(viewer),
            deadline=self.deadline.astimezone(viewer),
        )

    def as_dict(self) -> dict[str, object]:
        """JSON-ready: times as ISO 8601 with their offset, the price as a string."""
        return {
            "group_id": self.group_id,
            "campaign_id": self.campaign_id,
            "opened_at": self.opened_at.isoformat(),
            "deadline": self.deadline.isoformat(),
            "price": str(self.price.amount),
            "currency": self.price.currency,
            "required_size": self.required_size,
            "capacity": self.capacity,
            "members": self.members,
            "seats_to_go": self.seats_to_go,
            "places_left": self.places_left,
        }


@attrs.frozen(kw_only=True)
class GroupSnapshot:
    """A group's counts and where its live page follows on from: ``sequence`` (the last
    event of ``stream``) and ``position`` (the feed's head) are read *before* the state,
    so the state is at least as new as them. ``paid`` members count toward forming, as
    in the ``deals.member_joined`` events the page then receives."""

    stream: str
    sequence: int
    position: int
    group_id: str
    state: str
    paid: int
    required_size: int
    capacity: int
    deadline: datetime

    @property
    def still_needed(self) -> int:
        return max(0, self.required_size - self.paid)

    def as_message(self) -> dict[str, Any]:
        """The snapshot as the JSON message a live page starts from."""
        return {
            "type": "snapshot",
            "stream": self.stream,
            "sequence": self.sequence,
            "position": self.position,
            "group_id": self.group_id,
            "data": {
                "state": self.state,
                "members": self.paid,
                "still_needed": self.still_needed,
                "deadline": self.deadline.isoformat(),
            },
        }


class GroupQueries(ServiceBase):
    """The reads of group deals' public pages (``school.queries`` has them):
    ``_sequence_of`` and ``_feed_head`` are wired by ``School.build`` as for
    :class:`~eduengine.booking.queries.TimetableQueries`."""

    _sequence_of: Callable[[str], int] | None = None
    _feed_head: Callable[[], int] | None = None

    def group_snapshot(self, group_id: str) -> GroupSnapshot:
        """A group's counts (no member) with the stream sequence and feed position to
        follow it from; ``GroupNotFound`` if there is no such group."""
        check_id(group_id, "group_id")
        stream = f"group:{group_id}"
        # the positions first: the state read after is at least as new as them
        sequence = self._sequence_of(stream) if self._sequence_of is not None else 0
        position = self._feed_head() if self._feed_head is not None else 0

        def query(uow: UnitOfWork, now: datetime) -> GroupSnapshot:
            group = _group(uow, group_id)
            return GroupSnapshot(
                stream=stream,
                sequence=sequence,
                position=position,
                group_id=group.id,
                state=group.state.value,
                paid=len(group.paid),
                required_size=group.required_size,
                capacity=group.capacity,
                deadline=group.deadline,
            )

        return self._run(query, write=False, ids={"group_id": group_id})

    def open_groups(
        self,
        campaign_id: str,
        *,
        order: GroupOrder = "closing",
        zone: Zone = None,
        limit: int = 50,
        after: str | None = None,
    ) -> Page[OpenGroup]:
        """The campaign's groups still forming whose deadline is still ahead, closing
        soonest first (``order="closing"``) or newest first (``order="newest"``), then by
        id; ``CampaignNotFound`` for an unknown campaign."""
        check_id(campaign_id, "campaign_id")
        if order not in ("closing", "newest"):
            raise InvalidInput(f"order must be 'closing' or 'newest', got {order!r}")
        limit = check_int(limit, "limit", low=1, high=MAX_PAGE)
        viewer = viewer_zone(zone)
        cursor = None if after is None else decode_cursor(after)
        newest = order == "newest"

        def query(uow: UnitOfWork, now: datetime) -> Page[OpenGroup]:
            _campaign(uow, campaign_id)
            index = newest_index(campaign_id) if newest else closing_index(campaign_id)

            def forming(group: GroupDeal) -> bool:
                # a group past its deadline waits for the sweep: no longer joinable
                return group.state is GroupState.OPEN and group.deadline > now

            lo = None if newest else micros(now) + 1
            found = _keyset(uow, index, lo, cursor, limit + 1, newest, forming)
            items = tuple(OpenGroup.of(g).in_zone(viewer) for g, _ in found[:limit])
            more = len(found) > limit
            return Page(items, encode_cursor(*found[limit - 1][1]) if more else None)

        return self._run(query, write=False, ids={"campaign_id": campaign_id})


def _keyset(
    uow: UnitOfWork,
    index: str,
    lo: int | None,
    cursor: tuple[int, str] | None,
    want: int,
    descending: bool,
    keep: Callable[[GroupDeal], bool],
) -> list[tuple[GroupDeal, tuple[int, str]]]:
    """Up to ``want`` groups filed under ``index`` (from ``lo``) past ``cursor`` in
    ``(value, id)`` order (or its reverse), that ``keep`` accepts, with their keys: index
    pages read one after another, never every group."""
    out: list[tuple[GroupDeal, tuple[int, str]]] = []
    last = cursor
    batch = want
    while len(out) < want:
        if descending:
            low, high = lo, None if last is None else last[0]
        else:
            low, high = (lo if last is None else max(lo or last[0], last[0])), None
        entries = uow.records.scan(
            GROUPS, index, lo=low, hi=high, limit=batch, descending=descending
        )
        fresh = [
            (key, value)
            for key, value in entries
            if last is None or ((value, key) < last if descending else (value, key) > last)
        ]
        if not fresh:
            if len(entries) < batch:
                break
            batch *= 2  # every entry read ties with the cursor's value: read more of them
            continue
        for key, value in fresh:
            doc = uow.records.get(GROUPS, key)
            if doc is not None and keep(group := GroupDeal.from_record(doc)):
                out.append((group, (value, key)))
        key, value = fresh[-1]
        last = (value, key)
        if len(entries) < batch:
            break
    return out[:want]


__all__ = ["GroupOrder", "GroupQueries", "GroupSnapshot", "OpenGroup"]
