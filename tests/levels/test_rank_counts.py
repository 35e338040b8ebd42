"""Ranks read from per-board counts (issue #22): the counts every award keeps stay equal
to a recount of the stored XP documents, ranks and neighbours equal a brute-force sort of
every student, under random awards, concurrent awards and on stores written before the
counts existed (which ``reindex_leaderboards`` counts)."""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eduengine import FixedClock
from eduengine.levels import LearningEvent, LevelCurve, LevelService, XpRule, period_keys
from eduengine.levels.board import (
    BAND_BITS,
    BANDS,
    BLOCK_BITS,
    COUNTS,
    KIND,
    band_key,
    board_name,
    xp_index,
)
from tests.adapters import StoreHandle

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
WEEK = timedelta(days=7)
#: one point per unit of quantity: a test chooses each award's XP exactly
RULES = [XpRule(kind="points", points=1, per_quantity=True)]
runs = itertools.count()


def service(store: StoreHandle) -> LevelService:
    return LevelService(
        store.unit_of_work, rules=RULES, curve=LevelCurve.flat(100, 5), clock=FixedClock(T)
    )


def award(
    xp: LevelService, student: str, points: int, source: str, at: datetime, klass: str | None
) -> None:
    event = LearningEvent(
        student_id=student,
        kind="points",
        source_id=source,
        occurred_at=at,
        quantity=points,
        class_id=klass,
    )
    assert xp.record(event).awarded


def documents(store: StoreHandle, kind: str) -> dict[str, dict[str, Any]]:
    with store.unit_of_work() as uow:
        return dict(uow.records.list(kind))


def boards_of(store: StoreHandle) -> dict[str, dict[str, int]]:
    """Every board and its students' XP, from the stored XP documents (brute force)."""
    boards: dict[str, dict[str, int]] = defaultdict(dict)
    for student, state in documents(store, KIND).items():
        for name, xp in xp_index(state).items():
            boards[name][student] = xp
    return boards


def recount(boards: dict[str, dict[str, int]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The count records the boards must have: ``(COUNTS records, BANDS records)``."""
    counts: dict[str, Any] = {}
    bands: dict[str, Any] = {}
    for name, board in boards.items():
        blocks: dict[str, int] = defaultdict(int)
        for xp in board.values():
            blocks[str(xp >> BLOCK_BITS)] += 1
            in_block = bands.setdefault(band_key(name, xp >> BLOCK_BITS), {"bands": {}})
            band = str(xp >> BAND_BITS)
            in_block["bands"][band] = in_block["bands"].get(band, 0) + 1
        counts[name] = {"students": len(board), "blocks": dict(blocks), "exact": True}
    return counts, bands


def assert_counts_match_documents(store: StoreHandle) -> dict[str, dict[str, int]]:
    boards = boards_of(store)
    assert (documents(store, COUNTS), documents(store, BANDS)) == recount(boards)
    return boards


def assert_reads_match_sorting(
    xp: LevelService, boards: dict[str, dict[str, int]], prefix: str = ""
) -> None:
    """Every read of every board against sorting its students (ranks and neighbours of
    the students whose id starts with ``prefix``)."""
    for name, board in boards.items():
        class_id, period = _parse(name)
        stored = xp.leaderboard(class_id=class_id, period=period)
        order = sorted(board, key=lambda s: (-board[s], s))
        rank = {s: 1 + sum(v > board[s] for v in board.values()) for s in board}
        full = [(rank[s], s, board[s]) for s in order]
        assert len(stored) == len(board), name
        assert [(s.rank, s.student_id, s.xp) for s in stored.top(len(board))] == full, name
        for i, student in enumerate(order):
            if not student.startswith(prefix):
                continue
            assert stored.rank(student) == rank[student], (name, student)
            for k in (0, 2):
                near = [(s.rank, s.student_id, s.xp) for s in stored.around(student, k)]
                assert near == full[max(0, i - k) : i + k + 1], (name, student, k)


def _parse(name: str) -> tuple[str | None, str | None]:
    rest = name.removeprefix("xp").removeprefix(":")
    class_id = None
    if rest.startswith("class:"):
        class_id, _, rest = rest.removeprefix("class:").partition(":")
    return class_id, rest or None


#: XP at and around band (32) and block (2048) edges, so awards cross them, and ties
points = st.sampled_from([0, 1, 30, 31, 32, 33, 2016, 2047, 2048, 2049, 4096]) | st.integers(
    0, 6000
)
histories = st.lists(
    st.tuples(
        st.integers(0, 4),  # which student
        points,
        st.sampled_from([None, "A", "B"]),  # the event's class
        st.integers(0, 1),  # which week
    ),
    min_size=1,
    max_size=10,
)


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories)
def test_ranks_and_neighbours_from_counts_match_sorting_every_student(
    store: StoreHandle, history: list[tuple[int, int, str | None, int]]
) -> None:
    xp = service(store)
    run = next(runs)  # the store outlives an example: fresh students and classes each time
    for n, (student, xp_points, klass, week) in enumerate(history):
        award(
            xp,
            f"r{run}-s{student}",
            xp_points,
            f"a{n}",
            T + week * WEEK,
            None if klass is None else f"r{run}-{klass}",
        )
    boards = assert_counts_match_documents(store)
    assert_reads_match_sorting(xp, boards, prefix=f"r{run}-")


def test_concurrent_awards_keep_the_counts_exact(store: StoreHandle) -> None:
    xp = service(store)
    start = threading.Barrier(6)
    failed: list[BaseException] = []

    def learner(n: int) -> None:
        try:
            start.wait()
            # everyone on the same boards, in the same block and crossing bands; two
            # threads per student, so awards to one document race as well
            for lesson in range(6):
                award(xp, f"s{n % 3}", 17 + n, f"t{n}-l{lesson}", T, "A")
        except BaseException as exc:  # pragma: no cover - reported below
            failed.append(exc)

    threads = [threading.Thread(target=learner, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failed == []
    boards = assert_counts_match_documents(store)
    assert boards["xp"] == {"s0": 6 * (17 + 20), "s1": 6 * (18 + 21), "s2": 6 * (19 + 22)}
    assert_reads_match_sorting(xp, boards)


def make_legacy(store: StoreHandle) -> None:
    """Rewrite the store as a version before the counts wrote it: documents filed under
    their boards, no count records."""
    with store.unit_of_work() as uow:
        for kind in (COUNTS, BANDS):
            for key, _ in uow.records.list(kind):
                uow.records.delete(kind, key)
        for key, state in uow.records.list(KIND):
            del state["ranked"]
            uow.records.put(KIND, key, state, index=xp_index(state))
        uow.commit()


def test_a_store_from_before_the_counts_ranks_by_counting_until_reindexed(
    store: StoreHandle,
) -> None:
    xp = service(store)
    history = [("ann", 3000, "A"), ("bob", 40, "A"), ("cat", 40, "B"), ("dan", 2100, "B")]
    for n, (student, xp_points, klass) in enumerate(history):
        award(xp, student, xp_points, f"l{n}", T, klass)
    live = assert_counts_match_documents(store)
    make_legacy(store)
    assert_reads_match_sorting(xp, live)  # counted from the index
    # an award on a board with uncounted students counts its own student only ...
    award(xp, "bob", 5000, "l9", T, "A")
    award(xp, "eve", 10, "l10", T + WEEK, "B")  # ... a board new since then is counted
    counts = documents(store, COUNTS)
    assert counts["xp"]["exact"] is False and counts["xp"]["students"] == 2  # bob, eve
    assert counts[board_name(period=period_keys(T + WEEK)[0])]["exact"] is True
    boards = boards_of(store)
    assert_reads_match_sorting(xp, boards)  # still right: read from the index
    assert xp.reindex_leaderboards(batch=2) == 5
    assert assert_counts_match_documents(store) == boards
    assert_reads_match_sorting(xp, boards)
    # counted documents are not counted twice: a second run changes nothing
    before = (documents(store, COUNTS), documents(store, BANDS))
    assert xp.reindex_leaderboards() == 5
    assert (documents(store, COUNTS), documents(store, BANDS)) == before


def test_counts_dropped_and_rebuilt_equal_the_live_ones(store: StoreHandle) -> None:
    xp = service(store)
    for n in range(12):
        award(xp, f"s{n % 5}", (n * 977) % 3000, f"l{n}", T + (n % 2) * WEEK, "AB"[n % 2])
    live = (documents(store, COUNTS), documents(store, BANDS))
    make_legacy(store)
    assert xp.reindex_leaderboards(batch=3) == 5
    assert (documents(store, COUNTS), documents(store, BANDS)) == live
    assert_reads_match_sorting(xp, assert_counts_match_documents(store))
