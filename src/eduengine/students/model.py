"""Student records, pure: profiles and guardians, lesson packages (课时包), classes,
tags and lifecycle stages.

>>> from datetime import datetime, timedelta, timezone
>>> t = datetime(2026, 3, 1, tzinfo=timezone.utc)
>>> stage({"purchases": 2, "trial": True, "last_active": t}, t + timedelta(days=3))
'renewed'
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import attrs

from eduengine.errors import InvalidInput
from eduengine.kernel.codec import dt_in
from eduengine.kernel.inputs import MAX_CAPACITY, check_id, check_int, check_optional_id, check_text
from eduengine.people.model import GuardianRole as GuardianRole


@attrs.frozen(kw_only=True)
class Guardian:
    """A guardian as a student's contact row (given at registration), or an account of
    :class:`~eduengine.people.service.PeopleService` linked to the student (``id``)."""

    name: str
    phone: str | None = None
    email: str | None = None
    roles: frozenset[GuardianRole] = frozenset()
    id: str | None = None


PERSONAL_FIELDS = ("name", "phone", "email", "birth_date")


@attrs.frozen(kw_only=True)
class Profile:
    """Contact data of a student (personal: masked or erased as the policy says)."""

    student_id: str
    name: str | None
    phone: str | None = None
    email: str | None = None
    birth_date: str | None = None  # ISO date
    guardians: tuple[Guardian, ...] = ()
    class_id: str | None = None
    tags: frozenset[str] = frozenset()
    stage: str = "registered"
    erased: bool = False
    #: where her data belongs (data residency; ``None``: not said)
    region: str | None = None


class LifecycleStage(enum.Enum):
    REGISTERED = "registered"
    TRIAL = "trial"
    FIRST_PURCHASE = "first_purchase"
    RENEWED = "renewed"
    CHURNED = "churned"


def stage(
    facts: Mapping[str, Any], now: datetime, churn_after: timedelta = timedelta(days=60)
) -> str:
    """The lifecycle stage from a student's activity facts.

    A student the school marked churned (``churned_at``) stays churned until their next
    activity or purchase after that instant.
    """
    last = facts.get("last_active")
    last_at = dt_in(last) if isinstance(last, str) else last
    marked = facts.get("churned_at")
    marked_at = dt_in(marked) if isinstance(marked, str) else marked
    if marked_at is not None and (last_at is None or last_at <= marked_at):
        return LifecycleStage.CHURNED.value
    if facts.get("purchases", 0) > 0 and last_at is not None and now - last_at > churn_after:
        return LifecycleStage.CHURNED.value
    if facts.get("purchases", 0) >= 2:
        return LifecycleStage.RENEWED.value
    if facts.get("purchases", 0) == 1:
        return LifecycleStage.FIRST_PURCHASE.value
    if facts.get("trial"):
        return LifecycleStage.TRIAL.value
    return LifecycleStage.REGISTERED.value


@attrs.frozen(kw_only=True)
class TagRule:
    """A dynamic tag: present while ``holds(facts, now)`` is true."""

    tag: str
    holds: Callable[[Mapping[str, Any], datetime], bool] = attrs.field(eq=False)
    #: when the tag next changes by time alone (``None``: it does not), so a sweep can
    #: re-evaluate a student just then (``eduengine.growth`` files it in a due index)
    changes_at: Callable[[Mapping[str, Any]], datetime | None] | None = attrs.field(
        default=None, eq=False
    )

    @classmethod
    def inactive_for(cls, tag: str, days: int) -> TagRule:
        def holds(facts: Mapping[str, Any], now: datetime) -> bool:
            last = facts.get("last_login")
            return last is None or now - dt_in(last) >= timedelta(days=days)

        def changes_at(facts: Mapping[str, Any]) -> datetime | None:
            last = facts.get("last_login")
            return None if last is None else dt_in(last) + timedelta(days=days)

        return cls(tag=tag, holds=holds, changes_at=changes_at)

    @classmethod
    def completed(cls, tag: str, module: str) -> TagRule:
        return cls(tag=tag, holds=lambda facts, now: module in facts.get("modules", []))


@attrs.frozen(kw_only=True)
class SchoolClass:
    """A class with a capacity and who it suits: levels, ages, a time preference."""

    id: str
    name: str
    capacity: int
    min_level: int = 0
    max_level: int = 99
    min_age: int = 0
    max_age: int = 200
    time_slot: str | None = None  # e.g. "weekday-evening"

    def __attrs_post_init__(self) -> None:
        if (
            isinstance(self.capacity, bool)
            or not isinstance(self.capacity, int)
            or self.capacity < 1
        ):
            raise InvalidInput(f"class capacity must be a positive int, got {self.capacity!r}")
        check_id(self.id, "class id")
        check_text(self.name, "name", max_length=1000)
        check_int(self.capacity, "capacity", low=1, high=MAX_CAPACITY)
        for bound in ("min_level", "max_level", "min_age", "max_age"):
            check_int(getattr(self, bound), bound)
        check_optional_id(self.time_slot, "time_slot")

    def suits(self, level: int, age: int | None, time_slot: str | None) -> bool:
        if not self.min_level <= level <= self.max_level:
            return False
        if age is not None and not self.min_age <= age <= self.max_age:
            return False
        return time_slot is None or self.time_slot is None or self.time_slot == time_slot


def placement_level(score: int, bands: Mapping[int, int]) -> int:
    """The level a placement test score leads to: ``bands`` maps a minimum score to a
    level (e.g. ``{0: 1, 40: 2, 70: 3}``)."""
    if isinstance(score, bool) or not isinstance(score, int) or score < 0:
        raise InvalidInput(f"a placement score is a non-negative int, got {score!r}")
    eligible = [min_score for min_score in bands if score >= min_score]
    if not eligible:
        raise InvalidInput(f"no placement band covers score {score}")
    return bands[max(eligible)]
