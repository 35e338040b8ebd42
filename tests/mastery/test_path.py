"""The learning path: a due review first, else the open point with the lowest mastery,
every step explained in data; on every adapter."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal

import pytest

from eduengine import FixedClock
from eduengine.errors import PrerequisiteCycle
from eduengine.mastery import BktParams, MasteryService
from eduengine.mastery import service as service_module
from eduengine.mastery.path import check_graph as real_check
from eduengine.people import SYSTEM
from tests.adapters import StoreHandle
from tests.conftest import T0


def _school_graph(mastery: MasteryService) -> None:
    mastery.define_point("count")
    mastery.define_point("add", prerequisites=["count"])
    mastery.define_point("sub", prerequisites=["count"])
    mastery.define_point("fractions", prerequisites=["add", "sub"])
    # a point most students already know: its own prior
    mastery.define_point(
        "shapes", params=BktParams(prior="0.6", learn="0.2", guess="0.2", slip="0.1")
    )


def _master(mastery: MasteryService, point: str, start: int) -> int:
    """Right answers until the point is mastered; returns the next hour offset."""
    hour = start
    while mastery.observe("ann", point, True, T0 + timedelta(hours=hour)).mastery < Decimal("0.95"):
        hour += 1
    return hour + 1


def test_the_path_opens_points_as_their_prerequisites_are_mastered(store: StoreHandle) -> None:
    clock = FixedClock(T0)
    mastery = MasteryService(store.unit_of_work, clock=clock)
    _school_graph(mastery)
    first = mastery.next_step("ann", actor=SYSTEM)
    # nothing observed: "count" (prior 0.2) is open and lower than "shapes" (prior 0.6)
    assert (first.kind, first.point_id, first.mastery) == ("learn", "count", Decimal("0.2"))
    assert first.candidates == {"count": Decimal("0.2"), "shapes": Decimal("0.6")}
    assert first.blocked == {"add": ("count",), "sub": ("count",), "fractions": ("add", "sub")}

    hour = _master(mastery, "count", 0)
    hour = _master(mastery, "sub", hour)
    mastery.observe("ann", "add", False, T0 + timedelta(hours=hour))
    clock.set(T0 + timedelta(hours=hour))  # no review is due yet: the path learns
    step = mastery.next_step("ann", actor=SYSTEM)
    ann = mastery.mastery("ann", actor=SYSTEM)
    assert step.kind == "learn" and step.point_id == "add"
    assert step.mastery == ann["add"].mastery < Decimal("0.6")
    assert step.prerequisites == {"count": ann["count"].mastery}
    assert step.blocked == {"fractions": ("add",)}
    assert "lowest mastery" in step.explain() and "count" in step.explain()


def test_a_due_review_comes_first(store: StoreHandle) -> None:
    clock = FixedClock(T0)
    mastery = MasteryService(store.unit_of_work, clock=clock)
    _school_graph(mastery)
    mastery.observe("ann", "shapes", True)
    mastery.observe("ann", "count", False)
    due = mastery.due_reviews("ann", T0 + timedelta(days=365), actor=SYSTEM)
    assert [r.point_id for r in due] == ["count", "shapes"]  # the wrong answer is due first
    clock.set(due[0].due)
    step = mastery.next_step("ann", actor=SYSTEM)
    assert step.kind == "review" and step.point_id == "count"
    assert step.review == due[0]
    assert step.mastery == mastery.mastery("ann", actor=SYSTEM)["count"].mastery
    assert "review count: due since" in step.explain()


def test_a_caller_may_pass_its_own_graph_and_done_means_all_mastered(
    store: StoreHandle,
) -> None:
    mastery = MasteryService(store.unit_of_work, clock=FixedClock(T0))
    _master(mastery, "a", 0)
    step = mastery.next_step("ann", at=T0, prerequisites={"a": [], "b": ["a"]}, actor=SYSTEM)
    assert (step.kind, step.point_id, step.prerequisites) == (
        "learn",
        "b",
        {"a": mastery.mastery("ann", actor=SYSTEM)["a"].mastery},
    )
    assert mastery.next_step("ann", at=T0, prerequisites={"a": []}, actor=SYSTEM).kind == "done"


def test_a_prerequisite_cycle_is_refused_and_changes_nothing(store: StoreHandle) -> None:
    mastery = MasteryService(store.unit_of_work, clock=FixedClock(T0))
    _school_graph(mastery)
    before = store.snapshot()
    with pytest.raises(PrerequisiteCycle, match="add -> count -> fractions -> add"):
        mastery.define_point("count", prerequisites=["fractions"])
    assert store.snapshot() == before
    with pytest.raises(PrerequisiteCycle):
        mastery.next_step("ann", prerequisites={"x": ["y"], "y": ["x"]})


def test_two_concurrent_definitions_never_store_a_cycle_together(
    store: StoreHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """"a needs b" and "b needs a" are each acyclic alone; defined at once, each command
    reads the graph, then waits a little before writing (a slow request), so without the
    graph's lock both would judge the graph without the other and store the cycle."""
    mastery = MasteryService(store.unit_of_work, clock=FixedClock(T0))
    gate = threading.Barrier(2)

    def slow_check(graph: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
        time.sleep(0.3)
        return real_check(graph)

    monkeypatch.setattr(service_module, "check_graph", slow_check)
    outcomes: dict[str, str] = {}

    def define(point: str, needs: str) -> None:
        gate.wait()
        try:
            mastery.define_point(point, prerequisites=[needs])
            outcomes[point] = "defined"
        except PrerequisiteCycle:
            outcomes[point] = "cycle"

    threads = [
        threading.Thread(target=define, args=("a", "b")),
        threading.Thread(target=define, args=("b", "a")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["cycle", "defined"]
    graph = mastery.prerequisites()
    real_check(graph)  # what is stored has no cycle
    assert len(graph) == 1
