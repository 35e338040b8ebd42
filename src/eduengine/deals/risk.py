"""Anti-abuse (薅羊毛 / 刷单): pluggable risk rules evaluated before opening or joining.

A rule looks at the attempt, the group and the student's recent attempts, and answers
allow, review (let through, flagged) or deny, with reasons. The strictest answer wins.

>>> from datetime import datetime, timezone
>>> rule = SameDevice()
>>> attempt = JoinAttempt(student_id="b", account="acct-b", device_id="phone-1", ip=None,
...                       at=datetime(2026, 3, 2, tzinfo=timezone.utc))
>>> rule.evaluate(attempt, [("a", "acct-a", "phone-1", None)], []).level
'deny'
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

import attrs

from eduengine.errors import InvalidInput

LEVELS = ("allow", "review", "deny")

#: other members of the group: (student, payment account, device id, ip); a field is
#: ``None`` when not given or erased
Peer = tuple[str, str | None, str | None, str | None]


@attrs.frozen(kw_only=True)
class JoinAttempt:
    student_id: str
    account: str
    device_id: str | None
    ip: str | None
    at: datetime


@attrs.frozen(kw_only=True)
class RiskDecision:
    level: str = "allow"
    reasons: tuple[str, ...] = ()

    @staticmethod
    def combine(decisions: Sequence[RiskDecision]) -> RiskDecision:
        level = max((d.level for d in decisions), key=LEVELS.index, default="allow")
        reasons = tuple(r for d in decisions for r in d.reasons)
        return RiskDecision(level=level, reasons=reasons)


def _shared_with_peer(
    level: str, peers: Sequence[Peer], field: int, value: str | None, what: str
) -> RiskDecision:
    # the "same device / IP / account" rules differ only in the peer field they compare;
    # ``None`` is never shared (not given, or erased)
    if value is not None and any(p[field] == value for p in peers):
        return RiskDecision(level=level, reasons=(f"{what} {value} already in the group",))
    return RiskDecision()


class RiskRule(Protocol):
    def evaluate(
        self, attempt: JoinAttempt, peers: Sequence[Peer], recent: Sequence[datetime]
    ) -> RiskDecision: ...


@attrs.frozen
class SameDevice:
    level: str = "deny"

    def evaluate(
        self, attempt: JoinAttempt, peers: Sequence[Peer], recent: Sequence[datetime]
    ) -> RiskDecision:
        return _shared_with_peer(self.level, peers, 2, attempt.device_id or None, "device")


@attrs.frozen
class SameIp:
    level: str = "review"

    def evaluate(
        self, attempt: JoinAttempt, peers: Sequence[Peer], recent: Sequence[datetime]
    ) -> RiskDecision:
        return _shared_with_peer(self.level, peers, 3, attempt.ip or None, "IP")


@attrs.frozen
class SamePaymentAccount:
    level: str = "deny"

    def evaluate(
        self, attempt: JoinAttempt, peers: Sequence[Peer], recent: Sequence[datetime]
    ) -> RiskDecision:
        return _shared_with_peer(self.level, peers, 1, attempt.account, "payment account")


@attrs.frozen
class TooManyGroups:
    """More than ``limit`` groups opened or joined within ``window``."""

    limit: int = 5
    window: timedelta = timedelta(hours=1)
    level: str = "deny"

    def evaluate(
        self, attempt: JoinAttempt, peers: Sequence[Peer], recent: Sequence[datetime]
    ) -> RiskDecision:
        count = sum(1 for t in recent if t > attempt.at - self.window)
        if count >= self.limit:
            return RiskDecision(
                level=self.level,
                reasons=(f"{count} groups in the last {self.window}, limit {self.limit}",),
            )
        return RiskDecision()


DEFAULT_RULES: tuple[RiskRule, ...] = (
    SameDevice(),
    SameIp(),
    SamePaymentAccount(),
    TooManyGroups(),
)


#: what :class:`AcrossGroups` compares, as named in its reasons
SEEN_FIELDS = {"device": "device", "ip": "IP", "account": "payment account"}


@attrs.frozen(kw_only=True)
class Sighting:
    """A device, IP or payment account (``field``, ``value``) a student used to take a
    place in a group; ``account``, ``device_id`` and ``ip`` are all she gave then."""

    student_id: str
    group_id: str
    field: str
    value: str
    at: datetime
    account: str | None = None
    device_id: str | None = None
    ip: str | None = None


def _check_level(_: object, __: object, value: object) -> None:
    if value not in ("review", "deny"):
        raise InvalidInput(f"level must be 'review' or 'deny', got {value!r}")


def _check_fields(_: object, __: object, value: object) -> None:
    if not isinstance(value, frozenset) or not value or not value <= set(SEEN_FIELDS):
        raise InvalidInput(f"fields must be a non-empty frozenset of {sorted(SEEN_FIELDS)}")


@attrs.frozen(kw_only=True)
class AcrossGroups:
    """Anti-abuse across the groups of one campaign: a device, IP or payment account
    another student used in another group of the same campaign within ``window`` flags
    both: the attempt gets ``level`` (``review`` lets it through, ``deny`` refuses it)
    and the other student's membership is recorded for review in her group.

    >>> from datetime import UTC
    >>> at = datetime(2026, 3, 2, tzinfo=UTC)
    >>> seen = Sighting(student_id="a", group_id="g1", field="device", value="phone-1",
    ...                 at=at - timedelta(hours=2))
    >>> attempt = JoinAttempt(student_id="b", account="acct-b", device_id="phone-1",
    ...                       ip=None, at=at)
    >>> rule = AcrossGroups()
    >>> [s.group_id for s in rule.matches(attempt, "g2", [seen])]
    ['g1']
    >>> rule.decision(attempt, "g2", [seen]).reasons
    ('device phone-1 also in group g1 of the campaign (student a)',)
    >>> rule.matches(attempt, "g1", [seen])  # the same group: SameDevice's business
    []
    """

    window: timedelta = timedelta(days=7)
    level: str = attrs.field(default="review", validator=_check_level)
    fields: frozenset[str] = attrs.field(default=frozenset(SEEN_FIELDS), validator=_check_fields)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.window, timedelta) or self.window <= timedelta(0):
            raise InvalidInput(f"window must be a positive timedelta, got {self.window!r}")

    def values(self, attempt: JoinAttempt) -> dict[str, str]:
        """The attempt's values this rule compares, by field (a missing one is never
        compared)."""
        given = {"device": attempt.device_id, "ip": attempt.ip, "account": attempt.account}
        return {f: v for f, v in given.items() if f in self.fields and v}

    def matches(
        self, attempt: JoinAttempt, group_id: str, sightings: Sequence[Sighting]
    ) -> list[Sighting]:
        """The sightings that flag an attempt to take a place in ``group_id``: the same
        value, used by another student, in another group, within the window."""
        mine = self.values(attempt)
        return [
            s
            for s in sightings
            if s.field in mine
            and mine[s.field] == s.value
            and s.student_id != attempt.student_id
            and s.group_id != group_id
            and attempt.at - self.window < s.at <= attempt.at
        ]

    def decision(
        self, attempt: JoinAttempt, group_id: str, matches: Sequence[Sighting]
    ) -> RiskDecision:
        """The attempt's decision: ``level``, one reason per match."""
        if not matches:
            return RiskDecision()
        return RiskDecision(
            level=self.level,
            reasons=tuple(
                f"{SEEN_FIELDS[s.field]} {s.value} also in group {s.group_id} of the campaign "
                f"(student {s.student_id})"
                for s in matches
            ),
        )

    def flags(
        self, attempt: JoinAttempt, group_id: str, matches: Sequence[Sighting]
    ) -> list[tuple[Sighting, RiskDecision]]:
        """The decision recorded about each other student matched (once per student and
        group, with every value shared): always ``review``, since her place was given."""
        found: dict[tuple[str, str], tuple[Sighting, list[str]]] = {}
        for s in matches:
            entry = found.setdefault((s.student_id, s.group_id), (s, []))
            entry[1].append(
                f"{SEEN_FIELDS[s.field]} {s.value} also used by student {attempt.student_id} "
                f"in group {group_id} of the campaign"
            )
        return [
            (s, RiskDecision(level="review", reasons=tuple(reasons)))
            for s, reasons in found.values()
        ]


#: the anti-abuse across groups when a school configures none
DEFAULT_ACROSS_GROUPS = AcrossGroups()
