"""Several workers running the same projections at once: each event applied once.

The race that matters is a worker reading a batch from the feed while another applies
it; the interleaving test puts a whole other worker's run exactly there (hypothesis
picks where and how often), the threaded and multi-process tests let the scheduler do
it for real.
"""

from __future__ import annotations

import multiprocessing
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eduengine import FixedClock
from eduengine.booking.events import SeatBooked
from eduengine.events import EventFeed
from eduengine.events.projections import Projection, ProjectionRunner
from eduengine.kernel.envelope import Envelope
from eduengine.service_layer.ports import UnitOfWork
from tests.adapters import ADAPTERS, StoreHandle, make_store, reopen
from tests.conftest import T0
from tests.projections.helpers import applied, counting, feed_ids, history

SPAWN = multiprocessing.get_context("spawn")
BOOKED = "booking.seat_booked"
#: spawned interpreters take seconds to start on a busy machine: two race well enough
PROCESSES = 2


def projections() -> list[Projection]:
    return [counting("every"), counting("seats", events=[SeatBooked])]


def assert_each_event_applied_once(handle: StoreHandle) -> None:
    feed = EventFeed(handle.store)
    assert applied(handle.unit_of_work, "every") == dict.fromkeys(feed_ids(feed), 1)
    assert applied(handle.unit_of_work, "seats") == dict.fromkeys(feed_ids(feed, [BOOKED]), 1)


class MeddlingFeed(EventFeed):
    """A feed that, right after handing out rows, lets ``meddle`` run: another worker
    then works between this worker's read and its unit of work."""

    def __init__(self, store: Any, meddle: Callable[[], None]) -> None:
        super().__init__(store)
        self.meddle = meddle

    def rows_since(self, cursor: int = 0, limit: int = 100) -> list[tuple[int, str]]:
        rows = super().rows_since(cursor, limit)
        self.meddle()
        return rows


@contextmanager
def fresh_store(adapter: str) -> Iterator[StoreHandle]:
    with tempfile.TemporaryDirectory() as tmp:
        handle = make_store(adapter, Path(tmp), outbox=True)
        try:
            yield handle
        finally:
            handle.close()


STEP = st.tuples(
    st.sampled_from(["catch_up", "after_commit", "after_commit_rows", "commands"]),
    st.integers(0, 2),  # which worker
    st.integers(1, 6),  # batch size
    st.lists(st.tuples(st.integers(0, 2), st.integers(1, 6)), max_size=2),  # who meddles
)
EXAMPLES = {"memory": 30, "sqlite": 12, "postgres": 6}


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_workers_interleaved_between_read_and_apply_apply_each_event_once(adapter: str) -> None:
    @settings(max_examples=EXAMPLES[adapter])
    @given(seed=st.integers(0, 10_000), steps=st.lists(STEP, min_size=1, max_size=8))
    def run(seed: int, steps: list[tuple[str, int, int, list[tuple[int, int]]]]) -> None:
        with fresh_store(adapter) as handle:
            pending: list[tuple[int, int]] = []
            workers: list[ProjectionRunner] = []

            def meddle() -> None:
                # a meddler runs with a plain feed, so it does not meddle in turn
                while pending:
                    who, batch = pending.pop()
                    plain[who].catch_up(batch=batch, max_batches=1)

            # idle checkpoints written along at once, soon, or rarely (idle_lag)
            for idle_lag in (1, 2, 1000):
                workers.append(
                    ProjectionRunner(
                        handle.unit_of_work,
                        MeddlingFeed(handle.store, meddle),
                        projections(),
                        clock=FixedClock(T0),
                        idle_lag=idle_lag,
                    )
                )
            plain = [
                ProjectionRunner(handle.unit_of_work, EventFeed(handle.store), projections())
                for _ in range(3)
            ]
            history(handle.unit_of_work, seed, 3)
            for number, (action, who, batch, meddlers) in enumerate(steps):
                pending[:] = meddlers
                if action == "commands":
                    history(handle.unit_of_work, seed + number, 2)
                elif action == "catch_up":
                    assert workers[who].catch_up(batch=batch, max_batches=2).ok
                elif action == "after_commit":
                    assert workers[who].after_commit(EventFeed(handle.store).head()).ok
                else:
                    # the rows a command's unit of work reports: the last ``batch`` of the
                    # feed (what a commit appends is all the feed holds in its range)
                    feed = EventFeed(handle.store)
                    rows = feed.rows_since(max(0, feed.head() - batch), 100)
                    assert workers[who].after_commit(committed=rows).ok
            pending.clear()
            assert plain[0].catch_up().ok
            assert_each_event_applied_once(handle)

    run()


def slow(projection: Projection) -> Projection:
    """The same projection, holding its batch a little longer (more overlap)."""

    def apply(uow: UnitOfWork, envelopes: Sequence[Envelope]) -> None:
        time.sleep(0.002)
        projection.apply(uow, envelopes)

    return Projection(projection.name, apply, events=projection.events)


def test_threads_catching_up_while_others_book_apply_each_event_once(
    fed_store: StoreHandle,
) -> None:
    feed = EventFeed(fed_store.store)
    stop = threading.Event()
    start = threading.Barrier(5)
    errors: list[BaseException] = []

    def worker() -> None:
        runner = ProjectionRunner(fed_store.unit_of_work, feed, [slow(p) for p in projections()])
        start.wait()
        try:
            while not stop.is_set():
                report = runner.catch_up(batch=3, max_batches=2)
                errors.extend(f.error for f in report.failures.values())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def booker(seed: int) -> None:
        runner = ProjectionRunner(fed_store.unit_of_work, feed, projections())
        start.wait()
        try:
            for n in range(6):
                history(fed_store.unit_of_work, seed * 100 + n, 2)
                report = runner.after_commit(feed.head())
                errors.extend(f.error for f in report.failures.values())
        except BaseException as exc:  # pragma: no cover
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    threads += [threading.Thread(target=booker, args=(seed,)) for seed in (1, 2)]
    for t in threads:
        t.start()
    for t in threads[3:]:
        t.join(60)
    stop.set()
    for t in threads[:3]:
        t.join(60)
    assert errors == []
    assert ProjectionRunner(fed_store.unit_of_work, feed, projections()).catch_up().ok
    assert_each_event_applied_once(fed_store)


def _catch_up_child(adapter: str, location: str, ready: Any, out: Any) -> None:
    handle = reopen(adapter, location, outbox=True)
    try:
        runner = ProjectionRunner(
            handle.unit_of_work, EventFeed(handle.store), [slow(p) for p in projections()]
        )
        ready.wait(60)
        report = runner.catch_up(batch=4)
        out.put((dict(report), [repr(f.error) for f in report.failures.values()]))
    finally:
        handle.close()


def test_processes_catching_up_at_once_apply_each_event_once(fed_store: StoreHandle) -> None:
    if fed_store.location is None:
        pytest.skip("the in-memory adapter lives in one process (see the threaded test)")
    history(fed_store.unit_of_work, seed=11, commands=40)
    ready, out = SPAWN.Barrier(PROCESSES), SPAWN.Queue()
    children = [
        SPAWN.Process(target=_catch_up_child, args=(fed_store.name, fed_store.location, ready, out))
        for _ in range(PROCESSES)
    ]
    for child in children:
        child.start()
    results = [out.get(timeout=60) for _ in children]
    for child in children:
        child.join(30)
        assert child.exitcode == 0
    assert [errors for _, errors in results] == [[]] * PROCESSES
    feed = EventFeed(fed_store.store)
    assert sum(r["every"] for r, _ in results) == len(feed_ids(feed))
    assert sum(r["seats"] for r, _ in results) == len(feed_ids(feed, [BOOKED]))
    assert_each_event_applied_once(fed_store)
