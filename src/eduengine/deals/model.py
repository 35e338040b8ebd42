"""Group deals (拼团), pure: campaigns, groups and their members.

A group is one JSON document: its state, its members and what happened to each member's
money. Membership moves ``pending`` (seat reserved, charge under way) -> ``paid`` ->
``refund_due`` (left, or the group failed) -> ``refunded``; a member whose charge was
declined is removed.

Each group document is filed under indexes so that sweeps, nudges and erasure read only
the groups they concern (see :meth:`GroupDeal.index_entries`):

* ``"due"``: the deadline, while the group is open;
* ``"refund_due"``: since when a refund has been outstanding, while one is;
* ``"member:<student>"``: when that student joined, for every member.

Share codes (the 拼团 link a student sends friends) come from :func:`new_share_code`:

>>> code = new_share_code()
>>> len(code) == SHARE_CODE_LENGTH and set(code) <= set(SHARE_CODE_ALPHABET)
True
>>> normalise_share_code("  abcd-efgh jkmn ")
'ABCDEFGHJKMN'
"""

from __future__ import annotations

import enum
import secrets
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs

from eduengine.errors import InvalidInput, InvalidMoney, InvalidTimeRange
from eduengine.kernel.clock import require_aware
from eduengine.kernel.codec import micros
from eduengine.kernel.inputs import (
    MAX_CAPACITY,
    check_duration,
    check_id,
    check_ids,
    check_instant,
    check_int,
)
from eduengine.kernel.money import Money
from eduengine.kernel.records import override, reader, writer

#: Digits and capitals without 0/O, 1/I/L: a code read aloud or typed from a poster
#: cannot be mistaken for another.
SHARE_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
#: 31**12 is about 2**59.5. Codes are public links, but a guessable one lets a scraper
#: walk every group (who opened it, what price). With 10 million live codes a guess hits
#: one in about 8e10 tries; and the chance that any two of ten million groups ever draw
#: the same code is about 1 in 16,000 (the birthday bound), which the retry absorbs.
#: Ten characters (49.5 bits) would already do; twelve still type in three groups of four.
SHARE_CODE_LENGTH = 12

#: Index names of group documents (kind ``group_deal``).
DUE = "due"
REFUND_DUE = "refund_due"


def closing_index(campaign_id: str) -> str:
    """The index of a campaign's forming groups by deadline."""
    return f"campaign:{campaign_id}:closing"


def newest_index(campaign_id: str) -> str:
    """The index of a campaign's forming groups by opening instant."""
    return f"campaign:{campaign_id}:newest"


def member_index(student_id: str) -> str:
    """The index that files every group ``student_id`` is (or was) a member of."""
    return f"member:{student_id}"


def new_share_code() -> str:
    """A random share code: :data:`SHARE_CODE_LENGTH` characters of
    :data:`SHARE_CODE_ALPHABET`, drawn with :mod:`secrets` (not guessable from earlier
    codes, unlike :mod:`random`)."""
    return "".join(secrets.choice(SHARE_CODE_ALPHABET) for _ in range(SHARE_CODE_LENGTH))


def normalise_share_code(text: str) -> str:
    """The stored form of a code as a student typed it: upper case, without blanks or
    hyphens (codes are shown in groups, ``ABCD-EFGH-JKMN``)."""
    return "".join(text.split()).replace("-", "").upper()


class GroupState(enum.Enum):
    OPEN = "open"
    FORMED = "formed"
    FAILED = "failed"
    CANCELLED = "cancelled"


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"{name} must be a positive int, got {value!r}")
    check_int(value, name, low=1, high=MAX_CAPACITY)


@attrs.frozen(kw_only=True)
class GroupDealCampaign:
    """A course offered at ``group_price`` to groups of ``required_size`` (up to
    ``max_size``) formed within ``duration`` of opening, while the campaign runs.

    ``force_share``, off by default, lets a group that reached that share of its size at
    the deadline form anyway with its real members (recorded as forced).
    """

    id: str
    course_id: str
    list_price: Money
    group_price: Money
    required_size: int
    max_size: int | None = None
    duration: timedelta = timedelta(hours=24)
    starts_at: datetime
    ends_at: datetime
    max_opened_per_student: int = 1
    max_joined_per_student: int = 3
    force_share: Decimal | None = None
    #: the courses a member may choose (``course_id`` among them), all sold at this
    #: campaign's prices (one price band): members of different courses form one group.
    #: ``None``: ``course_id`` only
    course_ids: frozenset[str] | None = None

    def __attrs_post_init__(self) -> None:
        for name in ("id", "course_id"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise InvalidInput(f"{name} must be a non-empty string")
            check_id(getattr(self, name), name)
        if not isinstance(self.list_price, Money) or not isinstance(self.group_price, Money):
            raise InvalidMoney(
                f"prices must be Money, got {self.list_price!r} and {self.group_price!r}"
            )
        if self.group_price.currency != self.list_price.currency:
            raise InvalidMoney("list and group price must share a currency")
        if not Money.zero(self.group_price.currency) < self.group_price <= self.list_price:
            raise InvalidMoney(
                f"group price {self.group_price} must be positive and at most {self.list_price}"
            )
        _positive_int("required_size", self.required_size)
        if self.required_size < 2:
            raise InvalidInput("a group needs at least 2 members")
        if self.max_size is not None:
            _positive_int("max_size", self.max_size)
            if self.max_size < self.required_size:
                raise InvalidInput("max_size is below required_size")
        if not isinstance(self.duration, timedelta) or self.duration <= timedelta(0):
            raise InvalidTimeRange(f"duration must be positive, got {self.duration!r}")
        check_duration(self.duration, "duration")
        require_aware("starts_at", self.starts_at)
        require_aware("ends_at", self.ends_at)
        check_instant(self.starts_at, "starts_at")
        check_instant(self.ends_at, "ends_at")
        if self.ends_at <= self.starts_at:
            raise InvalidTimeRange("the campaign ends before it starts")
        _positive_int("max_opened_per_student", self.max_opened_per_student)
        _positive_int("max_joined_per_student", self.max_joined_per_student)
        if self.force_share is not None and not (
            isinstance(self.force_share, Decimal)
            and self.force_share.is_finite()
            and Decimal(0) < self.force_share <= 1
        ):
            raise InvalidInput(f"force_share must be a Decimal in (0, 1], got {self.force_share!r}")
        if self.course_ids is not None:
            if not isinstance(self.course_ids, frozenset):
                raise InvalidInput(f"course_ids must be a frozenset, got {self.course_ids!r}")
            check_ids(self.course_ids, "course_ids")
            if self.course_id not in self.course_ids:
                raise InvalidInput(
                    f"course_ids {sorted(self.course_ids)} must include course_id "
                    f"{self.course_id!r}"
                )

    @property
    def courses(self) -> frozenset[str]:
        """The courses a member may take in this campaign's groups."""
        return self.course_ids if self.course_ids is not None else frozenset({self.course_id})

    def course_for(self, course_id: str | None) -> str:
        """The course a member takes: ``course_id`` if the campaign covers it (refused
        with ``InvalidInput`` otherwise), the campaign's own course when ``None``."""
        if course_id is None:
            return self.course_id
        check_id(course_id, "course_id")
        if course_id not in self.courses:
            raise InvalidInput(
                f"campaign {self.id!r} covers {sorted(self.courses)}, not {course_id!r}"
            )
        return course_id

    @property
    def capacity(self) -> int:
        return self.max_size if self.max_size is not None else self.required_size

    def to_record(self) -> dict[str, Any]:
        return _campaign_out(self)

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> GroupDealCampaign:
        return _campaign_in(d)


@attrs.define(kw_only=True)
class Member:
    student_id: str
    status: str  # pending | paid | refund_due | refunded
    joined_at: datetime
    #: payment account; ``None`` once the student's personal data was erased
    account: str | None
    device_id: str | None = None
    ip: str | None = None
    charge_id: str | None = None
    access: bool = False
    #: the idempotency key of this membership's charge (``None``: written before keys
    #: were kept, so ``charge:<group>:<student>``)
    charge_key: str | None = None
    #: the guardian who pays for this place on the student's behalf (``None``: she does)
    payer_id: str | None = None
    #: the course this member takes (``None``: the campaign's ``course_id``)
    course_id: str | None = None

    @property
    def counts(self) -> bool:
        """Holds a place in the group (pending payment or paid)."""
        return self.status in ("pending", "paid")


@attrs.define(kw_only=True)
class GroupDeal:
    id: str
    campaign_id: str
    initiator: str
    share_code: str
    opened_at: datetime
    deadline: datetime
    price: Money
    required_size: int
    capacity: int
    state: GroupState = GroupState.OPEN
    forced: bool = False
    members: list[Member] = attrs.field(factory=list)
    #: since when a member's refund has been outstanding (``None``: none is); the sweep
    #: retries from the oldest
    refund_due_since: datetime | None = None

    def member(self, student_id: str) -> Member | None:
        return next((m for m in self.members if m.student_id == student_id), None)

    @property
    def takes_joins(self) -> bool:
        """Open, or formed with room left: a group forms at ``required_size`` and keeps
        seating paid members up to its capacity (``max_size``) until its deadline."""
        if self.state is GroupState.OPEN:
            return True
        return self.state is GroupState.FORMED and self.places_taken < self.capacity

    @property
    def places_taken(self) -> int:
        return sum(1 for m in self.members if m.counts)

    @property
    def paid(self) -> list[Member]:
        return [m for m in self.members if m.status == "paid"]

    @property
    def refunds_outstanding(self) -> bool:
        return any(m.status == "refund_due" for m in self.members)

    def note_refunds(self, now: datetime) -> None:
        """Keep :attr:`refund_due_since` in step with the members' refunds."""
        if not self.refunds_outstanding:
            self.refund_due_since = None
        elif self.refund_due_since is None:
            self.refund_due_since = now

    def index_entries(self) -> dict[str, int]:
        """The index values this group is filed under: a finished group (closed, every
        refund confirmed) leaves the hot ``due`` and ``refund_due`` indexes, and stays
        findable by member for erasure."""
        index = {member_index(m.student_id): micros(m.joined_at) for m in self.members}
        if self.state is GroupState.OPEN:
            index[DUE] = micros(self.deadline)
            # a campaign's page of groups still forming, closing soonest or newest first
            index[closing_index(self.campaign_id)] = micros(self.deadline)
            index[newest_index(self.campaign_id)] = micros(self.opened_at)
        if self.refund_due_since is not None:
            index[REFUND_DUE] = micros(self.refund_due_since)
        return index

    def to_record(self) -> dict[str, Any]:
        return _deal_out(self)

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> GroupDeal:
        return _deal_in(d)


#: 16 random bytes, url-safe base64 (22 characters): a share link is posted publicly, so
#: it must not be guessable from another one, nor enumerable (unlike a group's share code,
#: typed by hand, it is only ever clicked, so it can be long)
SHARE_TOKEN_BYTES = 16

#: how a student came through a share link (:class:`Touch.via`)
VIA_REGISTRATION = "registration"
VIA_JOIN = "join"
VIA_OPEN = "open"
VIAS = (VIA_REGISTRATION, VIA_JOIN, VIA_OPEN)


def new_share_token() -> str:
    """A random share-link token, drawn with :mod:`secrets`.

    >>> len(new_share_token()) == 22
    True
    """
    return secrets.token_urlsafe(SHARE_TOKEN_BYTES)


@attrs.frozen(kw_only=True)
class ShareLink:
    """A link a student (the sharer) sends friends: to a campaign, or to one of its groups.
    Whoever registers, opens or joins through it is attributed to the sharer.

    >>> from datetime import UTC
    >>> link = ShareLink(token="t0k3n", sharer_id="ann", campaign_id="spring",
    ...                  group_id=None, created_at=datetime(2026, 3, 2, tzinfo=UTC))
    >>> ShareLink.from_record(link.to_record()) == link
    True
    """

    token: str
    sharer_id: str
    campaign_id: str
    group_id: str | None
    created_at: datetime

    def to_record(self) -> dict[str, Any]:
        return _link_out(self)

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> ShareLink:
        return _link_in(d)


@attrs.frozen(kw_only=True)
class Touch:
    """A student came through a share link: which, whose, how (``via``) and when."""

    token: str
    sharer_id: str
    campaign_id: str
    group_id: str | None
    via: str
    at: datetime

    def to_record(self) -> dict[str, Any]:
        return _touch_out(self)

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> Touch:
        return _touch_in(d)


@attrs.frozen(kw_only=True)
class Attribution:
    """Whom a student is attributed to: the first share link she came through (kept
    for good) and the last one; ``touches`` counts every attributed visit.

    ``referrer`` is the sharer whose referral reward the student's first paid order
    earns: the first touch's sharer, when that touch came before any paid order."""

    student_id: str
    first: Touch
    last: Touch
    touches: int
    referrer: str | None

    def to_record(self) -> dict[str, Any]:
        return _attribution_out(self)

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> Attribution:
        return _attribution_in(d)


# float seconds, as the first campaigns were stored (whole seconds in practice)
_DURATION = override(
    rename="duration_s",
    unstruct_hook=timedelta.total_seconds,
    struct_hook=lambda seconds, _: timedelta(seconds=seconds),
)
_campaign_out = writer(GroupDealCampaign, duration=_DURATION)
_campaign_in = reader(GroupDealCampaign, duration=_DURATION)
_deal_out = writer(GroupDeal)
_deal_in = reader(GroupDeal)
_link_out = writer(ShareLink)
_link_in = reader(ShareLink)
_touch_out = writer(Touch)
_touch_in = reader(Touch)
_attribution_out = writer(Attribution)
_attribution_in = reader(Attribution)
