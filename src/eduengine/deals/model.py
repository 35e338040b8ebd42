"""Group deals (拼团), pure: campaigns, groups and their members.

A group is one JSON document: its state, its members and what happened to each member's
money. Membership moves ``pending`` (seat reserved, charge under way) -> ``paid`` ->
``refund_due`` (left, or the group failed) -> ``refunded``; a member whose charge was
declined is removed.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs

from eduengine.codec import dt_in, dt_out
from eduengine.errors import InvalidInput, InvalidTimeRange
from eduengine.pricing.money import Money


class GroupState(enum.Enum):
    OPEN = "open"
    FORMED = "formed"
    FAILED = "failed"
    CANCELLED = "cancelled"


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"{name} must be a positive int, got {value!r}")


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

    def __attrs_post_init__(self) -> None:
        for name in ("id", "course_id"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise InvalidInput(f"{name} must be a non-empty string")
        if not isinstance(self.list_price, Money) or not isinstance(self.group_price, Money):
            raise InvalidInput("prices must be Money")
        if self.group_price.currency != self.list_price.currency:
            raise InvalidInput("list and group price must share a currency")
        if not Money.zero(self.group_price.currency) < self.group_price <= self.list_price:
            raise InvalidInput(
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
        if self.ends_at <= self.starts_at:
            raise InvalidTimeRange("the campaign ends before it starts")
        _positive_int("max_opened_per_student", self.max_opened_per_student)
        _positive_int("max_joined_per_student", self.max_joined_per_student)
        if self.force_share is not None and not (
            isinstance(self.force_share, Decimal) and Decimal(0) < self.force_share <= 1
        ):
            raise InvalidInput(f"force_share must be a Decimal in (0, 1], got {self.force_share!r}")

    @property
    def capacity(self) -> int:
        return self.max_size if self.max_size is not None else self.required_size

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "course_id": self.course_id,
            "list_price": self.list_price.to_record(),
            "group_price": self.group_price.to_record(),
            "required_size": self.required_size,
            "max_size": self.max_size,
            "duration_s": self.duration.total_seconds(),
            "starts_at": dt_out(self.starts_at),
            "ends_at": dt_out(self.ends_at),
            "max_opened_per_student": self.max_opened_per_student,
            "max_joined_per_student": self.max_joined_per_student,
            "force_share": None if self.force_share is None else str(self.force_share),
        }

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> GroupDealCampaign:
        return cls(
            id=d["id"],
            course_id=d["course_id"],
            list_price=Money.from_record(d["list_price"]),
            group_price=Money.from_record(d["group_price"]),
            required_size=d["required_size"],
            max_size=d["max_size"],
            duration=timedelta(seconds=d["duration_s"]),
            starts_at=dt_in(d["starts_at"]),
            ends_at=dt_in(d["ends_at"]),
            max_opened_per_student=d["max_opened_per_student"],
            max_joined_per_student=d["max_joined_per_student"],
            force_share=None if d["force_share"] is None else Decimal(d["force_share"]),
        )


@attrs.define(kw_only=True)
class Member:
    student_id: str
    status: str  # pending | paid | refund_due | refunded
    joined_at: datetime
    account: str
    device_id: str | None = None
    ip: str | None = None
    charge_id: str | None = None
    access: bool = False

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

    def member(self, student_id: str) -> Member | None:
        return next((m for m in self.members if m.student_id == student_id), None)

    @property
    def places_taken(self) -> int:
        return sum(1 for m in self.members if m.counts)

    @property
    def paid(self) -> list[Member]:
        return [m for m in self.members if m.status == "paid"]

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "campaign_id": self.campaign_id,
            "initiator": self.initiator,
            "share_code": self.share_code,
            "opened_at": dt_out(self.opened_at),
            "deadline": dt_out(self.deadline),
            "price": self.price.to_record(),
            "required_size": self.required_size,
            "capacity": self.capacity,
            "state": self.state.value,
            "forced": self.forced,
            "members": [
                {
                    "student_id": m.student_id,
                    "status": m.status,
                    "joined_at": dt_out(m.joined_at),
                    "account": m.account,
                    "device_id": m.device_id,
                    "ip": m.ip,
                    "charge_id": m.charge_id,
                    "access": m.access,
                }
                for m in self.members
            ],
        }

    @classmethod
    def from_record(cls, d: dict[str, Any]) -> GroupDeal:
        return cls(
            id=d["id"],
            campaign_id=d["campaign_id"],
            initiator=d["initiator"],
            share_code=d["share_code"],
            opened_at=dt_in(d["opened_at"]),
            deadline=dt_in(d["deadline"]),
            price=Money.from_record(d["price"]),
            required_size=d["required_size"],
            capacity=d["capacity"],
            state=GroupState(d["state"]),
            forced=d["forced"],
            members=[
                Member(
                    student_id=m["student_id"],
                    status=m["status"],
                    joined_at=dt_in(m["joined_at"]),
                    account=m["account"],
                    device_id=m["device_id"],
                    ip=m["ip"],
                    charge_id=m["charge_id"],
                    access=m["access"],
                )
                for m in d["members"]
            ],
        )
