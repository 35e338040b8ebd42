"""Leaderboards read from the record index: the same standings as sorting every student,
class boards that follow class membership, and reads that never visit every student."""

from __future__ import annotations

import doctest
import tempfile
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eduengine import FixedClock
from eduengine.errors import NotRanked
from eduengine.levels import LearningEvent, LevelCurve, LevelService, XpRule, period_keys
from eduengine.levels import board as board_module
from eduengine.levels.board import board_name
from eduengine.people import SYSTEM
from eduengine.service_layer.ports import UnitOfWork
from eduengine.students import SchoolClass, StudentService
from tests.adapters import ADAPTERS, StoreHandle, make_store

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
WEEK = timedelta(days=7)
#: one point per unit of quantity: a test chooses each award's XP exactly
RULES = [XpRule(kind="points", points=1, per_quantity=True)]
STUDENTS = ["ann", "bob", "cat", "dan", "eve", "Fay", "ann2"]


def service(uow: Any) -> LevelService:
    return LevelService(uow, rules=RULES, curve=LevelCurve.flat(100, 5), clock=FixedClock(T))


def award(
    xp: LevelService,
    student: str,
    points: int,
    source: str,
    at: datetime = T,
    class_id: str | None = None,
) -> None:
    event = LearningEvent(
        student_id=student,
        kind="points",
        source_id=source,
        occurred_at=at,
        quantity=points,
        class_id=class_id,
    )
    assert xp.record(event).awarded


# --- the brute-force model --------------------------------------------------------------


def expected_top(board: dict[str, int], k: int) -> list[tuple[int, str, int]]:
    order = sorted(board, key=lambda s: (-board[s], s))
    return [(expected_rank(board, s), s, board[s]) for s in order[:k]]


def expected_rank(board: dict[str, int], student: str) -> int:
    return 1 + sum(1 for xp in board.values() if xp > board[student])


def expected_around(board: dict[str, int], student: str, k: int) -> list[tuple[int, str, int]]:
    """The board in the order of top() (equals by id), and k on each side."""
    order = sorted(board, key=lambda s: (-board[s], s))
    i = order.index(student)
    return [(expected_rank(board, s), s, board[s]) for s in order[max(0, i - k) : i + k + 1]]


awards = st.lists(
    st.tuples(
        st.sampled_from(STUDENTS),
        st.integers(0, 4),  # XP of the award: small, so ties are common
        st.sampled_from([None, "A", "B"]),  # the event's class
        st.integers(0, 1),  # which week
    ),
    max_size=16,
)


@pytest.mark.parametrize("adapter", ADAPTERS)
@settings(max_examples=12)
@given(history=awards)
def test_indexed_boards_match_sorting_every_student(
    adapter: str, history: list[tuple[str, int, str | None, int]]
) -> None:
    boards: dict[str, dict[str, int]] = defaultdict(dict)
    handle = make_store(adapter, Path(tempfile.mkdtemp()))
    try:
        xp = service(handle.unit_of_work)
        last_class: dict[str, str] = {}
        for n, (student, points, event_class, week) in enumerate(history):
            at = T + week * WEEK
            award(xp, student, points, f"s{n}", at, event_class)
            # no student records here: the event's class, else the previous award's
            klass = event_class or last_class.get(student)
            if klass is not None:
                last_class[student] = klass
            names = [board_name(period=p) for p in [None, *period_keys(at)]]
            if klass is not None:
                names += [board_name(class_id=klass, period=p) for p in [None, *period_keys(at)]]
            for name in names:
                boards[name][student] = boards[name].get(student, 0) + points
        everywhere = [
            board_name(class_id=c, period=p)
            for c in (None, "A", "B")
            for p in (None, *period_keys(T), *period_keys(T + WEEK))
        ]
        for name in everywhere:
            expected = boards.get(name, {})
            class_id, period = _parse(name)
            board = xp.leaderboard(class_id=class_id, period=period)
            assert len(board) == len(expected), name
            for k in range(len(expected) + 2):
                got = [(s.rank, s.student_id, s.xp) for s in board.top(k)]
                assert got == expected_top(expected, k), (name, k)
            for student in STUDENTS:
                if student not in expected:
                    with pytest.raises(NotRanked):
                        board.rank(student)
                    continue
                assert board.rank(student) == expected_rank(expected, student), name
                for k in (0, 1, 2):
                    got = [(s.rank, s.student_id, s.xp) for s in board.around(student, k)]
                    assert got == expected_around(expected, student, k), (name, student, k)
    finally:
        handle.close()


def _parse(name: str) -> tuple[str | None, str | None]:
    rest = name.removeprefix("xp").removeprefix(":")
    class_id = None
    if rest.startswith("class:"):
        class_id, _, rest = rest.removeprefix("class:").partition(":")
    return class_id, rest or None


# --- behaviour --------------------------------------------------------------------------


def test_top_orders_equals_by_id_and_ranks_are_shared(store: StoreHandle) -> None:
    xp = service(store.unit_of_work)
    for n, (student, points) in enumerate(
        [("dan", 300), ("bob", 300), ("ann", 300), ("cat", 100), ("eve", 10)]
    ):
        award(xp, student, points, f"l{n}")
    board = xp.leaderboard()
    # a page that cuts the tie group at 300 still shows its smallest ids
    assert [(s.rank, s.student_id) for s in board.top(2)] == [(1, "ann"), (1, "bob")]
    assert [(s.rank, s.student_id) for s in board.top(4)] == [
        (1, "ann"),
        (1, "bob"),
        (1, "dan"),
        (4, "cat"),
    ]
    assert board.rank("cat") == 4 and board.rank("eve") == 5 and len(board) == 5
    assert [s.display_name for s in board.top(2, anonymous=True)] == ["student #1"] * 2


def test_standings_around_hide_other_names_and_place_the_student_among_equals_by_id(
    store: StoreHandle,
) -> None:
    xp = service(store.unit_of_work)
    for n, (student, points) in enumerate(
        [("ann", 300), ("bob", 100), ("cat", 100), ("dan", 100), ("eve", 10)]
    ):
        award(xp, student, points, f"l{n}")
    near = xp.standings_around("dan", k=1)
    assert [(s.rank, s.display_name, s.student_id) for s in near] == [
        (2, "student #2", ""),
        (2, "dan", "dan"),
        (5, "student #5", ""),
    ]
    named = xp.leaderboard().around("dan", 2)
    assert [s.student_id for s in named] == ["bob", "cat", "dan", "eve"]
    with pytest.raises(NotRanked, match="'zed' is not on leaderboard 'xp'"):
        xp.standings_around("zed")
    with pytest.raises(KeyError):  # what the in-memory Leaderboard raises
        xp.leaderboard(period="week:1999-W01").rank("ann")


def test_a_transfer_moves_future_xp_only(store: StoreHandle) -> None:
    students = StudentService(store.unit_of_work, clock=FixedClock(T))
    for klass in ("A", "B"):
        students.create_class(SchoolClass(id=klass, name=klass, capacity=10))
    students.register("ann", name="Ann")
    students.assign("ann", "A")
    xp = service(store.unit_of_work)
    award(xp, "ann", 50, "l1", class_id="Z")  # a stale class on the event: membership wins
    award(xp, "bob", 20, "l2", class_id="B")  # no student record: the event's class counts
    students.transfer("ann", "B")
    award(xp, "ann", 30, "l3", T + timedelta(hours=1))
    week = period_keys(T)[0]
    assert [(s.student_id, s.xp) for s in xp.leaderboard(class_id="A").top(5)] == [("ann", 50)]
    assert [(s.student_id, s.xp) for s in xp.leaderboard(class_id="B").top(5)] == [
        ("ann", 30),
        ("bob", 20),
    ]
    assert [(s.student_id, s.xp) for s in xp.leaderboard(class_id="B", period=week).top(5)] == [
        ("ann", 30),
        ("bob", 20),
    ]
    assert len(xp.leaderboard(class_id="Z")) == 0
    assert xp.leaderboard().rank("ann") == 1 and xp.leaderboard().xp_of("ann") == 80
    state = xp.state_of("ann", actor=SYSTEM)
    assert state["class_id"] == "B" and state["class_xp"] == {"A": 50, "B": 30}


def test_documents_from_before_the_index_are_reindexed_with_their_class(
    store: StoreHandle,
) -> None:
    month = period_keys(T)[1]
    with store.unit_of_work() as uow:
        uow.records.put(
            "xp",
            "ann",
            {
                "student_id": "ann",
                "xp": 70,
                "level": 1,
                "sources": [],
                "history": {},
                "refused": [],
                "badges": [],
                "counts": {},
                "periods": {month: 70},
                "class_id": "A",
            },
        )
        uow.commit()
    xp = service(store.unit_of_work)
    assert len(xp.leaderboard()) == 0
    assert xp.reindex_leaderboards() == 1
    assert xp.leaderboard(class_id="A", period=month).xp_of("ann") == 70
    award(xp, "ann", 5, "l1")  # an upgraded document keeps counting for its class
    assert xp.leaderboard(class_id="A").xp_of("ann") == 75


def test_a_refused_award_changes_no_board(store: StoreHandle) -> None:
    xp = service(store.unit_of_work)
    award(xp, "ann", 10, "l1", class_id="A")
    again = LearningEvent(
        student_id="ann", kind="points", source_id="l1", occurred_at=T, quantity=5, class_id="B"
    )
    assert not xp.record(again).awarded
    assert xp.leaderboard().xp_of("ann") == 10 and len(xp.leaderboard(class_id="B")) == 0


class CountingRecords:
    """A records repository that counts what a query reads."""

    def __init__(self, inner: Any, seen: dict[str, int]) -> None:
        self._inner = inner
        self._seen = seen

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)

        def counted(*args: Any, **kw: Any) -> Any:
            result = method(*args, **kw)
            self._seen[name] = self._seen.get(name, 0) + 1
            if name in ("scan", "list"):
                self._seen["rows"] = self._seen.get("rows", 0) + len(result)
            if name == "count":
                self._seen["counted"] = self._seen.get("counted", 0) + result
            return result

        return counted


class CountingUnitOfWork:
    def __init__(self, inner: UnitOfWork, seen: dict[str, int]) -> None:
        self._inner = inner
        self.records = CountingRecords(inner.records, seen)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "read_only":
            self._inner.read_only = value
        else:
            object.__setattr__(self, name, value)

    def __enter__(self) -> Self:
        self._inner.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._inner.__exit__(exc_type, exc, tb)


def test_a_page_and_a_rank_read_the_index_not_every_student(store: StoreHandle) -> None:
    seen: dict[str, int] = {}
    with store.unit_of_work() as uow:  # 300 students over 3 blocks, filed as record() files them
        for n in range(300):
            state = {"xp": n % 50 * 100, "periods": {}, "class_xp": {}, "class_periods": {}}
            board_module.file_xp(uow.records, [(f"s{n:03d}", {}, state)])
        uow.commit()
    counted = service(
        lambda read_only=False: CountingUnitOfWork(
            store.store.unit_of_work(read_only=read_only), seen
        )
    )
    top = counted.leaderboard().top(10)
    assert [s.xp for s in top] == [4900] * 6 + [4800] * 4
    assert "list" not in seen and seen["rows"] <= 20 and seen.get("counted", 0) == 0
    seen.clear()
    assert counted.leaderboard().rank("s049") == 1
    assert seen["get"] <= 3 and seen.get("counted", 0) == 0
    seen.clear()
    # the student's own record, the board's counts, the counts of the student's block;
    # then only the index entries inside the student's band of 32 XP
    assert counted.leaderboard().rank("s025") == 1 + 6 * 24  # 24 higher values, 6 each
    assert seen["get"] == 3 and seen.get("counted", 0) == 0 and "list" not in seen
    seen.clear()
    assert len(counted.standings_around("s025", k=2)) == 5
    assert "list" not in seen and seen["get"] <= 4 and seen["rows"] <= 12
    assert seen.get("counted", 0) == 0
    seen.clear()
    assert len(counted.leaderboard()) == 300 and "count" not in seen


def test_a_rank_counts_only_inside_the_students_band(store: StoreHandle) -> None:
    seen: dict[str, int] = {}
    with store.unit_of_work() as uow:  # 5 students at each XP from 0 to 99
        for n in range(500):
            state = {"xp": n % 100, "periods": {}, "class_xp": {}, "class_periods": {}}
            board_module.file_xp(uow.records, [(f"s{n:03d}", {}, state)])
        uow.commit()
    counted = service(
        lambda read_only=False: CountingUnitOfWork(
            store.store.unit_of_work(read_only=read_only), seen
        )
    )
    # s040 has 40 XP: band 32..63, so only 41..63 is counted in the index
    assert counted.leaderboard().rank("s040") == 1 + 5 * 59
    assert seen["counted"] == 5 * 23


def test_the_board_docstrings_run() -> None:
    assert doctest.testmod(board_module).failed == 0
