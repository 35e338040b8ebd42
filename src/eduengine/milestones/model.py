"""Milestones, pure: quests, the "next level by" estimate, contest standings and signed
certificates.

>>> from datetime import datetime, timezone
>>> at = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
>>> est = estimate_next_level(level=2, xp=120, next_at=276, xp_in_window=78, window_days=28,
...                           at=at)
>>> str(est.rate_per_day), est.days_needed, est.by.isoformat()
('2.785714285714', 56, '2026-04-27')
>>> [(s.team_id, s.points, s.rank) for s in rank_teams({"red": 40, "blue": 40, "gold": 90})]
[('gold', 90, 1), ('blue', 40, 2), ('red', 40, 3)]
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs

from eduengine.errors import InvalidInput, InvalidTimeRange
from eduengine.kernel.codec import dt_in, dt_out
from eduengine.kernel.inputs import check_id, check_instant, check_int, check_text
from eduengine.kernel.records import reader, writer

__all__ = [
    "MEASURES",
    "Certificate",
    "NextLevel",
    "Quest",
    "QuestProgress",
    "TeamStanding",
    "certificate_id",
    "estimate_next_level",
    "rank_teams",
    "sign",
]

#: what a quest counts: lessons attended (``booking.attendance_marked`` as attended), XP
#: earned (``levels.xp_awarded`` points), knowledge points mastered (a
#: ``mastery.mastery_updated`` that crosses the mastery threshold), or ``events``: the
#: student's events of the quest's ``event_type`` (one the school counts for quests)
MEASURES = ("lessons_attended", "xp_earned", "points_mastered", "events")

#: places of the XP rate per day
RATE_PLACES = Decimal("0.000000000001")


def _check_reward(value: object, what: str) -> int:
    return check_int(value, what)


@attrs.frozen(kw_only=True)
class Quest:
    """ "Do ``target`` of ``measure`` by ``ends_at``" for every student: what happens from
    ``starts_at`` (default: always) up to ``ends_at`` (excluded) counts, by the time it
    happened, so a late catch-up counts what an inline one would have. Completing it
    earns ``reward_xp``, the badge ``reward_badge`` and, with ``certificate``, a
    certificate, each once."""

    id: str = attrs.field(validator=lambda _, __, v: check_id(v, "quest id"))
    title: str = attrs.field(validator=lambda _, __, v: check_text(v, "title", max_length=200))
    measure: str
    target: int
    ends_at: datetime
    starts_at: datetime | None = None
    #: the event type name an ``events`` quest counts (``"booking.seat_booked"``)
    event_type: str | None = None
    reward_xp: int = 0
    reward_badge: str | None = None
    certificate: bool = False

    def __attrs_post_init__(self) -> None:
        if self.measure not in MEASURES:
            raise InvalidInput(f"a quest measures one of {MEASURES}, got {self.measure!r}")
        if (self.measure == "events") != (self.event_type is not None):
            raise InvalidInput("an event_type is given for, and only for, an 'events' quest")
        if self.event_type is not None:
            check_text(self.event_type, "event_type", max_length=200)
        check_int(self.target, "target", low=1)
        check_instant(self.ends_at, "ends_at")
        if self.starts_at is not None:
            check_instant(self.starts_at, "starts_at")
            if self.starts_at >= self.ends_at:
                raise InvalidTimeRange("a quest starts before it ends")
        _check_reward(self.reward_xp, "reward_xp")
        if self.reward_badge is not None:
            check_id(self.reward_badge, "reward_badge")
        if not isinstance(self.certificate, bool):
            raise InvalidInput(f"certificate must be True or False, got {self.certificate!r}")

    def counts_at(self, at: datetime) -> bool:
        """Whether something that happened at ``at`` counts for the quest."""
        return (self.starts_at is None or self.starts_at <= at) and at < self.ends_at

    def to_record(self) -> dict[str, Any]:
        return _quest_out(self)

    @classmethod
    def from_record(cls, doc: Mapping[str, Any]) -> Quest:
        return _quest_in(doc)


@attrs.frozen(kw_only=True)
class QuestProgress:
    """A student's progress on a quest at ``at``: ``status`` is ``done`` (completed at
    ``done_at``), ``open`` or ``expired`` (``ends_at`` passed before completion)."""

    quest_id: str
    title: str
    measure: str
    count: int
    target: int
    ends_at: datetime
    status: str
    done_at: datetime | None


@attrs.frozen(kw_only=True)
class NextLevel:
    """When she reaches the next level at her recent XP rate, with the data it comes
    from: ``by`` is ``None`` with a ``reason`` when it cannot be estimated."""

    level: int
    xp: int
    next_level_at: int | None
    xp_needed: int
    window_days: int
    xp_in_window: int
    rate_per_day: Decimal
    days_needed: int | None
    by: date | None
    reason: str | None

    def explain(self) -> str:
        if self.by is None:
            return f"level {self.level} with {self.xp} XP: {self.reason}"
        return (
            f"level {self.level} with {self.xp} XP; {self.xp_needed} XP to level "
            f"{self.level + 1}; {self.xp_in_window} XP in the last {self.window_days} days "
            f"is {self.rate_per_day.normalize()} a day, so about {self.days_needed} days: "
            f"by {self.by.isoformat()}"
        )


def estimate_next_level(
    *,
    level: int,
    xp: int,
    next_at: int | None,
    xp_in_window: int,
    window_days: int,
    at: datetime,
) -> NextLevel:
    """The day she reaches ``next_at`` XP if she keeps earning ``xp_in_window`` XP per
    ``window_days`` days (rounded up to whole days from ``at``'s UTC date)."""
    check_int(window_days, "window_days", low=1)
    rate = (Decimal(xp_in_window) / window_days).quantize(RATE_PLACES)
    needed = 0 if next_at is None else max(next_at - xp, 0)
    base: dict[str, Any] = {
        "level": level,
        "xp": xp,
        "next_level_at": next_at,
        "xp_needed": needed,
        "window_days": window_days,
        "xp_in_window": xp_in_window,
        "rate_per_day": rate,
    }
    if next_at is None:
        return NextLevel(**base, days_needed=None, by=None, reason="already at the top level")
    if xp_in_window <= 0:
        return NextLevel(
            **base,
            days_needed=None,
            by=None,
            reason=f"no XP earned in the last {window_days} days, so no rate to go by",
        )
    # exact: the rate is a ratio of integers, so rounding it first could add a day
    days = math.ceil(Decimal(needed * window_days) / xp_in_window)
    return NextLevel(**base, days_needed=days, by=at.date() + timedelta(days=days), reason=None)


@attrs.frozen(kw_only=True)
class TeamStanding:
    """One team of a contest: its points, its place (1 is first) and its members' points."""

    team_id: str
    points: int
    rank: int
    members: dict[str, int] = attrs.field(factory=dict)


def rank_teams(
    points: Mapping[str, int], members: Mapping[str, Mapping[str, int]] | None = None
) -> list[TeamStanding]:
    """Teams by points, most first; a tie goes to the smaller team id, so equal points
    always come out in the same order and every place is held by one team."""
    ordered = sorted(points.items(), key=lambda item: (-item[1], item[0]))
    return [
        TeamStanding(
            team_id=team,
            points=total,
            rank=place,
            members=dict(sorted((members or {}).get(team, {}).items())),
        )
        for place, (team, total) in enumerate(ordered, start=1)
    ]


# --- certificates ------------------------------------------------------------------------


def certificate_id(kind: str, subject_id: str, student_id: str) -> str:
    """The certificate's stable id: the same completion always has the same one.

    >>> certificate_id("course", "algebra", "ann")
    'crt_455aeca44bb28b5eee180817'
    """
    text = f"{kind}\x1f{subject_id}\x1f{student_id}".encode()
    return "crt_" + hashlib.sha256(text).hexdigest()[:24]


def _canonical(content: Mapping[str, Any]) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(key: bytes, content: Mapping[str, Any]) -> str:
    """HMAC-SHA256 of the canonical JSON of ``content`` with the school's key (hex)."""
    return hmac.new(key, _canonical(content), hashlib.sha256).hexdigest()


@attrs.frozen(kw_only=True)
class Certificate:
    """A certificate: who completed what (``kind`` ``quest`` or ``course``), on what
    ``basis`` (``quest``, ``host``: the host said so, ``mastery``: every point of the
    course mastered), when, and the school's signature over all of it."""

    id: str
    student_id: str
    kind: str
    subject_id: str
    title: str
    basis: str
    issued_at: datetime
    signature: str

    def content(self) -> dict[str, Any]:
        """What the signature covers."""
        return {
            "id": self.id,
            "student_id": self.student_id,
            "kind": self.kind,
            "subject_id": self.subject_id,
            "title": self.title,
            "basis": self.basis,
            "issued_at": dt_out(self.issued_at),
        }

    def payload(self) -> dict[str, Any]:
        """The record a host hands out (to print, to link): the content and its signature."""
        return {**self.content(), "signature": self.signature}

    @classmethod
    def from_payload(cls, doc: Mapping[str, Any]) -> Certificate:
        return cls(
            id=doc["id"],
            student_id=doc["student_id"],
            kind=doc["kind"],
            subject_id=doc["subject_id"],
            title=doc["title"],
            basis=doc["basis"],
            issued_at=dt_in(doc["issued_at"]),
            signature=doc["signature"],
        )

    @classmethod
    def issue(
        cls,
        key: bytes,
        *,
        student_id: str,
        kind: str,
        subject_id: str,
        title: str,
        basis: str,
        at: datetime,
    ) -> Certificate:
        unsigned = cls(
            id=certificate_id(kind, subject_id, student_id),
            student_id=student_id,
            kind=kind,
            subject_id=subject_id,
            title=title,
            basis=basis,
            issued_at=at,
            signature="",
        )
        return attrs.evolve(unsigned, signature=sign(key, unsigned.content()))


_quest_out = writer(Quest)
_quest_in = reader(Quest)
