"""Leaderboards read from the record index: each student's XP document is filed under one
index per board, so the top of a board, a rank or a student's neighbours cost a few
index reads, never a pass over every student.

**Boards and their index names.** ``"xp"`` (all time), ``"xp:<period>"`` (a period of
:func:`~eduengine.levels.service.period_keys`, as ``"xp:week:2026-W10"``),
``"xp:class:<class id>"`` and ``"xp:class:<class id>:<period>"``. The indexed value is
the XP the student earned for that board; a student is on a period or class board once
they earned XP for it (an award of 0 points counts; a refused award does not).

**Order.** One order for every read: most XP first, equal XP by student id, as
:class:`~eduengine.levels.model.Leaderboard` does; equal XP shares a rank, so a rank is
``1 + count(lo=xp + 1)`` (1, 1, 3) wherever it is shown. The index orders by ``(value,
key)`` both ways, so a descending scan lists equals by *descending* id: the one tie group
a page of :meth:`StoredLeaderboard.top` cuts is therefore read again from its smallest
ids (one more scan of at most the page size). :meth:`StoredLeaderboard.around` is the
slice of that same order around the student, so it places the student inside their tie
group by id; the index cannot seek to a key inside a group, so ``around`` reads the
student's whole tie group (everyone at 50 XP after one lesson can be most of a school:
O(group) there, O(k + log N) plus the group elsewhere).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from eduengine.errors import NotRanked
from eduengine.kernel.inputs import check_id, check_int
from eduengine.levels.model import Standing
from eduengine.service_layer.ports import IndexEntries, RecordRepository

KIND = "xp"
GLOBAL = "xp"

T = TypeVar("T")
Reader = Callable[..., T]
"""``read(query, ids={"student_id": ...})`` runs ``query(records)`` in a read-only unit of
work and returns its result; ``ids`` go to the log (:meth:`LevelService._read_records`)."""


def board_name(*, class_id: str | None = None, period: str | None = None) -> str:
    """The index name of a board.

    >>> board_name(), board_name(period="week:2026-W10"), board_name(class_id="A")
    ('xp', 'xp:week:2026-W10', 'xp:class:A')
    >>> board_name(class_id="A", period="month:2026-03")
    'xp:class:A:month:2026-03'
    """
    name = GLOBAL
    if class_id is not None:
        name += f":class:{class_id}"
    if period is not None:
        name += f":{period}"
    return name


def xp_index(state: Mapping[str, Any]) -> dict[str, int]:
    """Every board a student's XP document is filed under, with the XP it ranks by."""
    out = {GLOBAL: int(state["xp"])}
    for period, xp in state["periods"].items():
        out[board_name(period=period)] = int(xp)
    for class_id, xp in state["class_xp"].items():
        out[board_name(class_id=class_id)] = int(xp)
    for class_id, periods in state["class_periods"].items():
        for period, xp in periods.items():
            out[board_name(class_id=class_id, period=period)] = int(xp)
    return out


def board_xp(
    state: Mapping[str, Any], *, class_id: str | None = None, period: str | None = None
) -> int | None:
    """The XP a student ranks by on a board, or ``None`` if they are not on it."""
    value: Any
    if class_id is None:
        value = state["xp"] if period is None else state["periods"].get(period)
    elif period is None:
        value = state["class_xp"].get(class_id)
    else:
        value = state["class_periods"].get(class_id, {}).get(period)
    return None if value is None else int(value)


def _board_order(entry: tuple[str, int]) -> tuple[int, str]:
    return (-entry[1], entry[0])


def top_entries(records: RecordRepository, name: str, n: int) -> IndexEntries:
    """The first ``n`` ``(student, xp)`` of a board, most XP first, equals by id."""
    return down_from(records, name, None, n)


def down_from(records: RecordRepository, name: str, xp: int | None, n: int) -> IndexEntries:
    """The first ``n`` entries, in board order, of those with at most ``xp`` (any XP when
    ``None``): equal XP by ascending id."""
    if n <= 0:
        return []
    got = records.scan(KIND, name, hi=xp, limit=n, descending=True)
    if not got:
        return []
    # only the lowest group can be cut by the limit; take its smallest ids instead
    low = got[-1][1]
    whole = [e for e in got if e[1] != low]
    cut = records.scan(KIND, name, lo=low, hi=low, limit=len(got) - len(whole))
    return sorted(whole, key=_board_order) + cut


def up_from(records: RecordRepository, name: str, xp: int, n: int) -> IndexEntries:
    """The last ``n`` entries, in board order, of those with more than ``xp``: the ones
    just above a student with ``xp``."""
    if n <= 0:
        return []
    got = records.scan(KIND, name, lo=xp + 1, limit=n)
    if not got:
        return []
    # only the highest group can be cut by the limit; it ends with its largest ids
    high = got[-1][1]
    whole = [e for e in got if e[1] != high]
    cut = records.scan(KIND, name, lo=high, hi=high, limit=len(got) - len(whole), descending=True)
    return sorted(whole + cut, key=_board_order)


def ranks(records: RecordRepository, name: str, values: list[int]) -> dict[int, int]:
    """The shared rank of each XP value: one count for the highest, then only the
    entries between consecutive values (no entry is counted twice)."""
    out: dict[int, int] = {}
    previous: int | None = None
    rank = 1
    for value in sorted(set(values), reverse=True):
        rank += records.count(KIND, name, lo=value + 1, hi=previous)
        out[value] = rank
        previous = value
    return out


class StoredLeaderboard:
    """One board read live from the store: every call is one read-only unit of work, so it
    shows the standings at that moment (nothing is held in memory).

    Offers what :class:`~eduengine.levels.model.Leaderboard` offers except ``update``
    (XP changes through :meth:`LevelService.record`).
    """

    def __init__(
        self, read: Reader[Any], *, class_id: str | None = None, period: str | None = None
    ) -> None:
        self._read = read
        self.class_id = class_id
        self.period = period
        self.name = board_name(class_id=class_id, period=period)

    def __repr__(self) -> str:
        return f"StoredLeaderboard({self.name!r})"

    def __len__(self) -> int:
        """How many students are on the board (a count over the whole index)."""
        found: int = self._read(lambda records: records.count(KIND, self.name))
        return found

    def xp_of(self, student_id: str) -> int:
        """The XP the student ranks by here; ``NotRanked`` if they are not on the board."""
        check_id(student_id, "student_id")
        found: int = self._read(
            lambda records: self._xp(records, student_id), ids={"student_id": student_id}
        )
        return found

    def rank(self, student_id: str) -> int:
        """1 + how many students have more XP here; ``NotRanked`` if not on the board."""
        check_id(student_id, "student_id")

        def read(records: RecordRepository) -> int:
            xp = self._xp(records, student_id)
            return 1 + records.count(KIND, self.name, lo=xp + 1)

        found: int = self._read(read, ids={"student_id": student_id})
        return found

    def top(self, n: int, *, anonymous: bool = False) -> list[Standing]:
        """The first ``n`` standings: most XP first, equal XP by student id."""
        check_int(n, "n")

        def read(records: RecordRepository) -> list[Standing]:
            entries = top_entries(records, self.name, n)
            return self._standings(records, entries, None if not anonymous else "")

        found: list[Standing] = self._read(read)
        return found

    def around(self, student_id: str, k: int = 2, *, anonymous: bool = False) -> list[Standing]:
        """The student and up to ``k`` neighbours on each side, in the order of
        :meth:`top` (most XP first, equal XP by student id), so it is exactly the slice of
        the full standings around the student; other students' names are hidden when
        ``anonymous``. Reads the student's whole tie group (see the module docstring)."""
        check_id(student_id, "student_id")
        check_int(k, "k")

        def read(records: RecordRepository) -> list[Standing]:
            xp = self._xp(records, student_id)
            k_ = max(k, 0)
            # the student's place among equals is by id, as in top(): read the tie group
            # (the index cannot seek to a key inside it)
            equals = [key for key, _ in records.scan(KIND, self.name, lo=xp, hi=xp)]
            at = bisect.bisect_left(equals, student_id)
            before = [(key, xp) for key in equals[max(0, at - k_) : at]]
            after = [(key, xp) for key in equals[at + 1 : at + 1 + k_] if key != student_id]
            above = up_from(records, self.name, xp, k_ - len(before)) + before
            below = after + down_from(records, self.name, xp - 1, k_ - len(after))
            entries = [*above, (student_id, xp), *below]
            return self._standings(records, entries, student_id if anonymous else None)

        found: list[Standing] = self._read(read, ids={"student_id": student_id})
        return found

    def _xp(self, records: RecordRepository, student_id: str) -> int:
        state = records.get(KIND, student_id)
        xp = None if state is None else board_xp(state, class_id=self.class_id, period=self.period)
        if xp is None:
            raise NotRanked(student_id, self.name)
        return xp

    def _standings(
        self, records: RecordRepository, entries: IndexEntries, shown: str | None
    ) -> list[Standing]:
        """``shown`` is ``None`` to name everyone, else the one student named (``""``:
        nobody)."""
        rank_of = ranks(records, self.name, [xp for _, xp in entries])
        out = []
        for student, xp in entries:
            rank = rank_of[xp]
            hidden = shown is not None and student != shown
            out.append(
                Standing(
                    rank=rank,
                    student_id="" if hidden else student,
                    display_name=f"student #{rank}" if hidden else student,
                    xp=xp,
                )
            )
        return out
