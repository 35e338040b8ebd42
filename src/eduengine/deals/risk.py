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
