"""Levels (等级 / 经验值), pure: XP rules with a cheat guard, level curves, multipliers,
badges and leaderboards.

The geometric curve is Level Up XP's: level *n* starts at
``round(base * (1 + coef + coef**2 + ... + coef**(n-2)))`` XP.

>>> LevelCurve.geometric(base=120, coefficient=Decimal("1.3"), levels=10).thresholds[:5]
(0, 120, 276, 479, 742)
>>> board = Leaderboard()
>>> for s, xp in [("ann", 50), ("bob", 50), ("cat", 20)]:
...     board.update(s, xp)
>>> [board.rank(s) for s in ("ann", "bob", "cat")]
[1, 1, 3]
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import attrs
from sortedcontainers import SortedKeyList

from eduengine.errors import InvalidInput, InvalidTimeRange
from eduengine.kernel.clock import require_aware
from eduengine.kernel.inputs import check_id, check_instant, check_int, check_optional_id


def _non_negative_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{name} must be a non-negative int, got {value!r}")


@attrs.frozen(kw_only=True)
class LearningEvent:
    """Something a student did: ``kind`` (lesson_attended, minutes_watched,
    homework_submitted, test_passed, daily_streak ...) about ``source_id`` (a lesson, a
    homework ...). ``quantity`` (minutes) and ``score`` (0-100) feed the points."""

    student_id: str
    kind: str
    source_id: str
    occurred_at: datetime
    quantity: int = 1
    score: Decimal | None = None
    class_id: str | None = None

    def __attrs_post_init__(self) -> None:
        for name in ("student_id", "kind", "source_id"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise InvalidInput(f"{name} must be a non-empty string")
            check_id(getattr(self, name), name)
        check_optional_id(self.class_id, "class_id")
        require_aware("occurred_at", self.occurred_at)
        check_instant(self.occurred_at, "occurred_at")
        _non_negative_int("quantity", self.quantity)
        check_int(self.quantity, "quantity")
        if self.score is not None and not (
            isinstance(self.score, Decimal) and Decimal(0) <= self.score <= 100
        ):
            raise InvalidInput(f"score must be a Decimal from 0 to 100, got {self.score!r}")


@attrs.frozen(kw_only=True)
class XpRule:
    """Points for one kind of event. ``per_quantity`` multiplies by the quantity (per
    minute watched); ``scaled_by_score`` by score/100 (homework quality). ``cap`` limits
    the XP of this kind within ``cap_window``; ``min_gap`` is the least time between two
    awards of this kind (the cheat guard)."""

    kind: str
    points: int
    per_quantity: bool = False
    scaled_by_score: bool = False
    cap: int | None = None
    cap_window: timedelta = timedelta(days=1)
    min_gap: timedelta | None = None

    def __attrs_post_init__(self) -> None:
        _non_negative_int("points", self.points)
        if self.cap is not None:
            _non_negative_int("cap", self.cap)
        if self.cap_window <= timedelta(0):
            raise InvalidTimeRange("cap_window must be positive")
        if self.min_gap is not None and self.min_gap < timedelta(0):
            raise InvalidTimeRange("min_gap must not be negative")

    def base_points(self, event: LearningEvent) -> Decimal:
        points = Decimal(self.points)
        if self.per_quantity:
            points *= event.quantity
        if self.scaled_by_score:
            points = points * (event.score or Decimal(0)) / 100
        return points


@attrs.frozen
class LevelCurve:
    """XP at which each level starts; level 1 starts at 0."""

    thresholds: tuple[int, ...]

    def __attrs_post_init__(self) -> None:
        t = self.thresholds
        if not t or t[0] != 0 or any(b <= a for a, b in itertools.pairwise(t)):
            raise InvalidInput(f"a level curve starts at 0 and strictly increases, got {t!r}")

    @classmethod
    def explicit(cls, thresholds: Sequence[int]) -> LevelCurve:
        return cls(tuple(thresholds))

    @classmethod
    def flat(cls, step: int, levels: int) -> LevelCurve:
        return cls(tuple(step * i for i in range(levels)))

    @classmethod
    def linear(cls, base: int, increment: int, levels: int) -> LevelCurve:
        """Level n+1 needs ``base + (n-1) * increment`` more XP than level n."""
        out, total = [0], 0
        for i in range(levels - 1):
            total += base + i * increment
            out.append(total)
        return cls(tuple(out))

    @classmethod
    def geometric(
        cls, base: int = 120, coefficient: Decimal = Decimal("1.3"), levels: int = 10
    ) -> LevelCurve:
        """Level Up XP's default curve (base 120, coefficient 1.3, 10 levels); a
        coefficient of 1 is a flat curve (every level needs ``base`` more XP), as Level Up
        XP allows.

        >>> LevelCurve.geometric(base=100, coefficient=Decimal(1), levels=4).thresholds
        (0, 100, 200, 300)
        """
        if not isinstance(coefficient, Decimal) or coefficient < 1:
            raise InvalidInput(f"coefficient must be a Decimal of 1 or more, got {coefficient!r}")
        out, step, total = [0], Decimal(base), Decimal(0)
        for _ in range(levels - 1):
            total += step
            out.append(int(total.quantize(Decimal(1), ROUND_HALF_UP)))
            step *= coefficient
        return cls(tuple(out))

    @property
    def max_level(self) -> int:
        return len(self.thresholds)

    def level_for(self, xp: int) -> int:
        level = 1
        for i, t in enumerate(self.thresholds, start=1):
            if xp >= t:
                level = i
        return level


@attrs.frozen(kw_only=True)
class Progress:
    """Where a student stands and how far the next level is."""

    level: int
    xp: int
    xp_into_level: int
    xp_to_next: int | None  # None at the top level
    percent: Decimal  # 0-100, two decimals
    title: str | None
    max_level: bool


def progress(curve: LevelCurve, xp: int, titles: Mapping[int, str] | None = None) -> Progress:
    level = curve.level_for(xp)
    start = curve.thresholds[level - 1]
    title = _title(titles or {}, level)
    if level == curve.max_level:
        return Progress(
            level=level,
            xp=xp,
            xp_into_level=xp - start,
            xp_to_next=None,
            percent=Decimal("100.00"),
            title=title,
            max_level=True,
        )
    end = curve.thresholds[level]
    pct = (Decimal(xp - start) * 100 / (end - start)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return Progress(
        level=level,
        xp=xp,
        xp_into_level=xp - start,
        xp_to_next=end - xp,
        percent=pct,
        title=title,
        max_level=False,
    )


def _title(titles: Mapping[int, str], level: int) -> str | None:
    """The title of the highest titled level reached."""
    reached = [lvl for lvl in titles if lvl <= level]
    return titles[max(reached)] if reached else None


@attrs.frozen(kw_only=True)
class Multiplier:
    """An XP boost (double-XP weekend, campaign) for ``kinds`` (None: all) in a window.

    Active multipliers stack by multiplying their factors; the product is capped by the
    service's ``max_factor``; the boosted XP is rounded half-up to a whole point."""

    name: str
    factor: Decimal
    starts_at: datetime
    ends_at: datetime
    kinds: frozenset[str] | None = None
    #: a streak bonus: only while the student's daily streak is at least this long
    min_streak: int | None = None

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.factor, Decimal) or self.factor <= 0:
            raise InvalidInput(f"factor must be a positive Decimal, got {self.factor!r}")
        require_aware("starts_at", self.starts_at)
        require_aware("ends_at", self.ends_at)
        if self.ends_at <= self.starts_at:
            raise InvalidTimeRange(f"multiplier {self.name!r} ends before it starts")

    def applies(self, event: LearningEvent, streak: int = 0) -> bool:
        in_window = self.starts_at <= event.occurred_at < self.ends_at
        on_streak = self.min_streak is None or streak >= self.min_streak
        return in_window and on_streak and (self.kinds is None or event.kind in self.kinds)


@attrs.frozen(kw_only=True)
class Badge:
    """A badge awarded (once per student) when ``earned(state)`` first holds."""

    id: str
    name: str
    earned: Callable[[Mapping[str, Any]], bool] = attrs.field(eq=False)

    @classmethod
    def at_level(cls, badge_id: str, name: str, level: int) -> Badge:
        return cls(id=badge_id, name=name, earned=lambda s: s["level"] >= level)

    @classmethod
    def at_xp(cls, badge_id: str, name: str, xp: int) -> Badge:
        return cls(id=badge_id, name=name, earned=lambda s: s["xp"] >= xp)

    @classmethod
    def after(cls, badge_id: str, name: str, kind: str, count: int) -> Badge:
        return cls(id=badge_id, name=name, earned=lambda s: s["counts"].get(kind, 0) >= count)


@attrs.frozen(kw_only=True)
class Standing:
    rank: int
    student_id: str
    display_name: str
    xp: int


class Leaderboard:
    """XP standings in a ``SortedKeyList``: update, rank and neighbours in O(log n); ties
    share a rank (1, 1, 3)."""

    def __init__(self) -> None:
        self._entries: SortedKeyList[tuple[int, str], tuple[int, str]] = SortedKeyList(
            key=lambda e: (-e[0], e[1])
        )
        self._xp: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._xp)

    def update(self, student_id: str, xp: int) -> None:
        old = self._xp.get(student_id)
        if old is not None:
            self._entries.remove((old, student_id))
        self._xp[student_id] = xp
        self._entries.add((xp, student_id))

    def rank(self, student_id: str) -> int:
        xp = self._xp[student_id]
        return self._entries.bisect_key_left((-xp, "")) + 1

    def top(self, n: int, *, anonymous: bool = False) -> list[Standing]:
        return [self._standing(i, anonymous) for i in range(min(n, len(self._entries)))]

    def around(self, student_id: str, k: int = 2, *, anonymous: bool = False) -> list[Standing]:
        """The student and up to ``k`` neighbours on each side; other students' names are
        hidden when ``anonymous``."""
        xp = self._xp[student_id]
        index = self._entries.index((xp, student_id))
        return [
            self._standing(i, anonymous and self._entries[i][1] != student_id)
            for i in range(max(0, index - k), min(len(self._entries), index + k + 1))
        ]

    def _standing(self, index: int, anonymous: bool) -> Standing:
        xp, student = self._entries[index]
        rank = self._entries.bisect_key_left((-xp, "")) + 1
        name = f"student #{rank}" if anonymous else student
        return Standing(
            rank=rank, student_id="" if anonymous else student, display_name=name, xp=xp
        )
