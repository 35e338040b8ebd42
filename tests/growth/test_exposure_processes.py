"""Exposures hold across OS processes: several processes expose the same students at once
and the feed records each student's exposure exactly once."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

import pytest

from eduengine import FixedClock, School
from eduengine.growth import Experiment, ExperimentService, StudentExposed, Variant
from tests.adapters import StoreHandle, reopen
from tests.conftest import T0

PROCESSES = 3
STUDENTS = [f"s-{i}" for i in range(12)]
EXPERIMENT = Experiment(key="race", variants=(Variant("a"), Variant("b")))
SPAWN = multiprocessing.get_context("spawn")


def _child(name: str, location: str, n: int) -> list[str]:
    handle = reopen(name, location)
    experiments = ExperimentService(handle.unit_of_work, clock=FixedClock(T0))
    try:
        # each process walks the students from another place, so they meet on each one
        order = STUDENTS[n * 3 :] + STUDENTS[: n * 3]
        return [v.key if (v := experiments.expose("race", s)) else "-" for s in order]
    finally:
        handle.close()


@pytest.mark.slow
def test_processes_exposing_at_once_record_each_student_once(store: StoreHandle) -> None:
    if store.location is None:
        pytest.skip(f"the {store.name} adapter lives in one process")
    school = School.build(store, clock=FixedClock(T0), reminders=None)
    school.experiments.define(EXPERIMENT)
    with ProcessPoolExecutor(PROCESSES, mp_context=SPAWN) as pool:
        answers = list(
            pool.map(
                _child, [store.name] * PROCESSES, [store.location] * PROCESSES, range(PROCESSES)
            )
        )
    assert all(sorted(a) == sorted(answers[0]) for a in answers)  # the same variants
    exposed = Counter(
        e.student_id
        for e in (env.event for env in school.feed.events_since(0, limit=1000))
        if isinstance(e, StudentExposed)
    )
    assert exposed == Counter(STUDENTS)
    school.projections.catch_up()
    results = school.experiments.results("race")
    assert sum(v.exposed for v in results.variants) == len(STUDENTS)
