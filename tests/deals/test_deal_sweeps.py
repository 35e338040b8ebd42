"""Group deals at scale: sweeps and queries read only the groups they concern."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eduengine import FixedClock
from eduengine.deals import GroupDeal, GroupState, RefundIssued
from eduengine.deals.model import DUE, REFUND_DUE, member_index
from eduengine.deals.records import GROUPS, RISK_LOG, risk_index
from eduengine.kernel.codec import micros
from eduengine.people import SYSTEM
from eduengine.pricing import Money
from eduengine.service_layer.ports import UnitOfWork
from tests.adapters import StoreHandle
from tests.deals.mall import CountingUnitOfWork, Mall, counting
from tests.payers import method_for

Counts = Counter[tuple[str, str]]


def all_groups(store: StoreHandle) -> list[GroupDeal]:
    """Every group, read the slow way (the reference the indexed reads must match)."""
    docs = store.snapshot()["records"].get("group_deal", {})
    return [GroupDeal.from_record(doc) for doc in docs.values()]


def indexed(store: StoreHandle, index: str) -> set[str]:
    with store.unit_of_work() as uow:
        return {key for key, _ in uow.records.scan(GROUPS, index)}


def per_unit_of_work(log: list[Counts]) -> Callable[[UnitOfWork], UnitOfWork]:
    """A ``uow`` wrapper for :class:`Mall` counting each unit of work's calls apart."""

    def wrap(inner: UnitOfWork) -> UnitOfWork:
        log.append(Counter())
        return CountingUnitOfWork(inner, log[-1])

    return wrap


def test_after_300_groups_closed_a_sweep_with_nothing_due_reads_no_group(
    store: StoreHandle, clock: FixedClock
) -> None:
    log: list[Counts] = []
    mall = Mall(store, clock, risk_rules=(), uow=per_unit_of_work(log))
    ids = [mall.open(f"s{n}") for n in range(300)]
    assert indexed(store, DUE) == set(ids)
    clock.advance(timedelta(days=1))
    log.clear()
    assert mall.deals.expire_due() == 300
    # settled a batch of at most 100 groups per unit of work
    assert max(c["get", GROUPS] for c in log if c["put", GROUPS]) <= 100
    assert all(g.state is GroupState.FAILED for g in all_groups(store))
    assert {m.status for g in all_groups(store) for m in g.members} == {"refunded"}
    assert indexed(store, DUE) == indexed(store, REFUND_DUE) == set()

    clock.advance(timedelta(days=1))
    log.clear()
    assert mall.deals.expire_due() == 0
    assert mall.deals.closing_soon(timedelta(days=30)) == []
    counts = sum(log, Counter())
    assert counts["get", GROUPS] == counts["list", GROUPS] == counts["put", GROUPS] == 0
    assert counts["scanned", GROUPS] == 0
    assert counts["scan", GROUPS] == 3  # due, refund_due, closing soon
    assert not any(c["put", GROUPS] for c in log), "nothing written"


def test_closing_soon_equals_a_filter_over_every_group(
    store: StoreHandle, clock: FixedClock
) -> None:
    mall = Mall(store, clock, risk_rules=(), required_size=2, max_size=3)
    start = clock.now()
    rng = random.Random(7)
    for n in range(30):
        clock.advance(timedelta(minutes=rng.randrange(0, 90)))  # ties included (0 minutes)
        gid = mall.open(f"s{n}")
        fate = n % 5 if n < 20 else 3  # the last ten stay open, unless formed
        fate = 0 if fate == 3 and rng.random() < 0.3 else fate
        if fate == 0:
            mall.join(gid, f"f{n}")  # formed
        elif fate == 1:
            mall.deals.cancel_group(gid)
        elif fate == 2:
            clock.advance(timedelta(hours=25))
            mall.deals.expire_due()  # failed (with any group that expired meanwhile)
    groups = all_groups(store)
    states = {g.state for g in groups}
    assert {GroupState.OPEN, GroupState.FORMED, GroupState.CANCELLED} <= states
    end = clock.now() + timedelta(days=3)
    deadlines = [g.deadline for g in groups]
    span = int((end - start).total_seconds())
    found: list[int] = []

    # read-only queries over a fixed store: every example sees the same groups
    @settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(
        at=st.one_of(
            st.integers(0, span).map(lambda s: start + timedelta(seconds=s)),
            st.sampled_from(deadlines),  # exactly at a deadline (excluded)
        ),
        within=st.one_of(
            st.integers(0, span).map(lambda s: timedelta(seconds=s)),
            st.sampled_from([timedelta(0), timedelta(microseconds=1), timedelta(hours=24)]),
        ),
        to_a_deadline=st.booleans(),
    )
    def matches(at: datetime, within: timedelta, to_a_deadline: bool) -> None:
        if to_a_deadline:  # the window ends exactly on a deadline (included)
            later = sorted(d for d in deadlines if d > at)
            within = (later[len(later) // 2] - at) if later else within
        clock.set(at)
        expected = sorted(
            (g for g in groups if g.state is GroupState.OPEN and at < g.deadline <= at + within),
            key=lambda g: (g.deadline, g.id),
        )
        assert [g.id for g in mall.deals.closing_soon(within)] == [g.id for g in expected]
        found.append(len(expected))

    matches()
    assert max(found) >= 2, "some windows held several groups"


def test_several_workers_sweeping_in_small_batches_settle_each_group_once(
    store: StoreHandle, clock: FixedClock
) -> None:
    mall = Mall(store, clock, risk_rules=())
    ids = [mall.open(f"s{n}") for n in range(24)]
    for n, gid in enumerate(ids[:6]):
        mall.join(gid, f"f{n}")
    clock.advance(timedelta(days=1))
    settled: list[int] = []
    gate = threading.Barrier(3)

    def worker(batch_size: int) -> None:
        gate.wait()
        settled.append(mall.deals.expire_due(batch_size=batch_size))

    threads = [threading.Thread(target=worker, args=(size,)) for size in (1, 4, 7)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(settled) == 24
    refunds = [(e.group_id, e.student_id) for e in mall.events(RefundIssued)]  # type: ignore[attr-defined]
    assert len(refunds) == len(set(refunds)) == 30 == len(mall.gateway.refunds)
    assert indexed(store, DUE) == indexed(store, REFUND_DUE) == set()


def test_refunds_the_gateway_declines_stay_due_and_a_sweep_still_ends(
    store: StoreHandle, clock: FixedClock
) -> None:
    mall = Mall(store, clock, risk_rules=())
    ids = [mall.open(f"s{n}") for n in range(5)]
    clock.advance(timedelta(days=1))
    mall.gateway.fail_next_refunds(3)
    assert mall.deals.expire_due(batch_size=1) == 5
    assert len(indexed(store, REFUND_DUE)) == 3 and indexed(store, DUE) == set()
    assert mall.deals.expire_due(batch_size=2) == 0
    assert indexed(store, REFUND_DUE) == set()
    zero = Money("0.00", "CNY")
    assert all(mall.gateway.balance(f"acct-s{n}") == zero for n in range(5))
    assert {m.status for gid in ids for m in mall.deals.get_group(gid, actor=SYSTEM).members} == {
        "refunded"
    }


def test_every_index_follows_the_group(store: StoreHandle, clock: FixedClock) -> None:
    mall = Mall(store, clock, risk_rules=())
    formed, left, cancelled = mall.open("ann"), mall.open("bob"), mall.open("cat")
    mall.join(formed, "dan")
    mall.join(formed, "eve")
    mall.join(left, "fay")
    mall.deals.leave_group(left, "fay")
    mall.deals.cancel_group(cancelled)
    assert indexed(store, DUE) == {left}
    assert indexed(store, REFUND_DUE) == set()
    assert indexed(store, member_index("fay")) == {left}
    assert indexed(store, member_index("ann")) == {formed}
    deadline = micros(mall.deals.get_group(left, actor=SYSTEM).deadline)
    with store.unit_of_work() as uow:
        assert uow.records.scan(GROUPS, DUE) == [(left, deadline)]


def test_risk_decisions_and_queries_read_by_index(store: StoreHandle, clock: FixedClock) -> None:
    counts: Counts = Counter()
    mall = Mall(store, clock, uow=counting(counts))
    gid = mall.deals.open_group(
        "spring", "ann", method_id=method_for(mall.payments, "ann", "a1"), ip="10.0.0.1"
    ).id
    mall.deals.join_group(
        gid, "bob", method_id=method_for(mall.payments, "bob", "a2"), ip="10.0.0.1"
    )  # same IP: review
    counts.clear()
    assert [d["level"] for d in mall.deals.risk_decisions("bob", actor=SYSTEM)] == ["review"]
    assert mall.deals.risk_decisions("ann", actor=SYSTEM) == []
    assert [g.id for g in mall.deals.closing_soon(timedelta(days=1))] == [gid]
    assert not [key for key in counts if key[0] == "list"]
    assert counts["get", RISK_LOG] == 1
    with store.unit_of_work() as uow:
        assert len(uow.records.scan(RISK_LOG, risk_index("bob"))) == 1


def test_reindex_files_groups_and_risk_entries_stored_before_indexes(
    store: StoreHandle, clock: FixedClock
) -> None:
    mall = Mall(store, clock)
    gid = mall.deals.open_group(
        "spring", "ann", method_id=method_for(mall.payments, "ann", "a1"), ip="10.0.0.1"
    ).id
    mall.deals.join_group(
        gid, "bob", method_id=method_for(mall.payments, "bob", "a2"), ip="10.0.0.1"
    )
    with store.unit_of_work() as uow:  # as an older version stored them: no index entries
        for kind in (GROUPS, RISK_LOG):
            for key, doc in uow.records.list(kind):
                doc.pop("refund_due_since", None)
                uow.records.put(kind, key, doc)
        uow.commit()
    assert mall.deals.closing_soon(timedelta(days=1)) == []
    assert mall.deals.risk_decisions("bob", actor=SYSTEM) == []
    # the group and bob's review, and the four sightings anti-abuse across groups keeps
    # (each student's account and IP), refiled as they stand
    assert mall.deals.reindex() == 6
    assert [g.id for g in mall.deals.closing_soon(timedelta(days=1))] == [gid]
    assert len(mall.deals.risk_decisions("bob", actor=SYSTEM)) == 1
    clock.advance(timedelta(days=1))
    assert mall.deals.expire_due() == 1
    assert indexed(store, DUE) == indexed(store, REFUND_DUE) == set()
