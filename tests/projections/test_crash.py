"""A worker that dies after its command committed, or in the middle of a projection's
batch: after a restart, catch_up applies every reaction once."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Sequence
from typing import Any

import pytest

from eduengine.events import EventFeed
from eduengine.events.projections import Projection, ProjectionRunner
from eduengine.kernel.envelope import Envelope
from eduengine.service_layer.ports import UnitOfWork
from tests.adapters import StoreHandle, reopen
from tests.projections.helpers import APPLIED, applied, counting, feed_ids, history

SPAWN = multiprocessing.get_context("spawn")


class Died(BaseException):
    """Stands for the process dying: not an ``Exception``, nothing catches it."""


def test_a_worker_dying_in_a_batch_leaves_nothing_and_the_next_run_applies_it_once(
    fed_store: StoreHandle,
) -> None:
    every = counting("every")

    def dies(uow: UnitOfWork, envelopes: Sequence[Envelope]) -> None:
        every.apply(uow, envelopes)
        raise Died

    feed = EventFeed(fed_store.store)
    history(fed_store.unit_of_work, seed=21, commands=6)
    with pytest.raises(Died):
        ProjectionRunner(fed_store.unit_of_work, feed, [Projection("every", dies)]).catch_up()
    assert applied(fed_store.unit_of_work, "every") == {}
    assert ProjectionRunner(fed_store.unit_of_work, feed, [every]).catch_up().ok
    assert applied(fed_store.unit_of_work, "every") == dict.fromkeys(feed_ids(feed), 1)


def _book_then_die(adapter: str, location: str, ready: Any) -> None:
    handle = reopen(adapter, location, outbox=True)
    history(handle.unit_of_work, seed=22, commands=8)  # committed
    ready.set()
    signal.pause()  # killed here: the commands committed, their projections never ran


def _die_in_a_batch(adapter: str, location: str, ready: Any) -> None:
    handle = reopen(adapter, location, outbox=True)
    every = counting("every")

    def stalls(uow: UnitOfWork, envelopes: Sequence[Envelope]) -> None:
        every.apply(uow, envelopes)
        uow.records.put(APPLIED, "every:half-done", {"n": 1})
        ready.set()
        signal.pause()  # killed here, the batch written but not committed

    runner = ProjectionRunner(handle.unit_of_work, EventFeed(handle.store), [every])
    runner.catch_up(batch=3, max_batches=1)  # a first batch commits
    ProjectionRunner(
        handle.unit_of_work, EventFeed(handle.store), [Projection("every", stalls)]
    ).catch_up(batch=3)


@pytest.mark.parametrize("child", [_book_then_die, _die_in_a_batch])
def test_a_worker_sigkilled_before_its_projections_committed_loses_and_repeats_nothing(
    fed_store: StoreHandle, child: Any
) -> None:
    if fed_store.location is None:
        pytest.skip("the in-memory adapter lives in one process (see the test above)")
    if child is _die_in_a_batch:
        history(fed_store.unit_of_work, seed=23, commands=8)
    ready = SPAWN.Event()
    process = SPAWN.Process(target=child, args=(fed_store.name, fed_store.location, ready))
    process.start()
    assert ready.wait(60), "the child never got to where it is killed"
    assert process.pid is not None
    os.kill(process.pid, signal.SIGKILL)
    process.join(30)
    assert process.exitcode == -signal.SIGKILL
    feed = EventFeed(fed_store.store)
    before = applied(fed_store.unit_of_work, "every")
    assert "half-done" not in before
    if child is _die_in_a_batch:
        assert len(before) == 3  # the first batch, committed with its checkpoint
    runner = ProjectionRunner(fed_store.unit_of_work, feed, [counting("every")])
    report = runner.catch_up()
    assert report.ok and report["every"] == len(feed_ids(feed)) - len(before)
    assert applied(fed_store.unit_of_work, "every") == dict.fromkeys(feed_ids(feed), 1)
    assert runner.catch_up() == {"every": 0}
