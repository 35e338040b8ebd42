"""Erasure (注销) of a student's personal data from every group-deal record."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from eduengine import FixedClock
from eduengine.deals import (
    GroupState,
    JoinAttempt,
    RiskDecision,
    SameDevice,
    SamePaymentAccount,
)
from eduengine.deals.handlers import ERASED, erase_student
from eduengine.deals.risk import Peer
from eduengine.errors import AbuseSuspected
from eduengine.payments.methods import erase_methods
from eduengine.people import SYSTEM
from eduengine.pricing import Money
from eduengine.service_layer.erasure import ErasureRegistry
from tests.adapters import StoreHandle
from tests.deals.mall import PRICE, CountingUnitOfWork, Mall, dump
from tests.payers import method_for

# Bob's personal data: strings found nowhere else, so a dump can be searched for them.
BOB = {"account": "wx-bob-9931", "device_id": "dev-bob-7f3a", "ip": "203.0.113.77"}
#: how bob joins: his method on file charging ``BOB["account"]``, his device and IP
BOB_PAYS = {"device_id": BOB["device_id"], "ip": BOB["ip"]}


@attrs.frozen
class Watchlist:
    """Flags an account for review, quoting it (reasons may carry personal data)."""

    accounts: frozenset[str]

    def evaluate(
        self, attempt: JoinAttempt, peers: Sequence[Peer], recent: Sequence[datetime]
    ) -> RiskDecision:
        if attempt.account in self.accounts:
            return RiskDecision(level="review", reasons=(f"account {attempt.account} watched",))
        return RiskDecision()


def others(snapshot: dict[str, Any]) -> dict[str, Any]:
    """Every record of the deal kinds with bob's own data left out: what must not change."""
    records = snapshot["records"]
    groups = {
        key: {**doc, "members": [m for m in doc["members"] if m["student_id"] != "bob"]}
        for key, doc in records["group_deal"].items()
    }
    risk = {k: d for k, d in records.get("deal_risk_log", {}).items() if d["student_id"] != "bob"}
    activity = {k: d for k, d in records.get("deal_activity", {}).items() if k != "bob"}
    return {"groups": groups, "risk": risk, "activity": activity}


def bobs(mall: Mall) -> str:
    """Bob's payment method charging his account (filed on first use)."""
    return method_for(mall.payments, "bob", BOB["account"])


def bob_everywhere(store: StoreHandle, clock: FixedClock) -> tuple[Mall, str, str]:
    """Bob joins ann's group (which forms), is denied once and opens his own group."""
    mall = Mall(
        store,
        clock,
        risk_rules=(SameDevice(), SamePaymentAccount(), Watchlist(frozenset({BOB["account"]}))),
    )
    formed = mall.deals.open_group(
        "spring",
        "ann",
        method_id=method_for(mall.payments, "ann", "wx-ann"),
        device_id="dev-ann",
        ip="198.51.100.1",
    ).id
    mall.deals.join_group(
        formed, "bob", method_id=bobs(mall), **BOB_PAYS
    )  # reviewed: the reason quotes the account
    mall.deals.join_group(
        formed, "cat", method_id=method_for(mall.payments, "cat", "wx-cat"), device_id="dev-cat"
    )
    assert mall.deals.get_group(formed, actor=SYSTEM).state is GroupState.FORMED
    clock.advance(timedelta(minutes=1))
    dans = mall.deals.open_group(
        "spring", "dan", method_id=method_for(mall.payments, "dan", "wx-dan"), device_id="dev-dan"
    ).id
    try:  # denied: dan's device; the log keeps bob's account and this device
        mall.deals.join_group(
            dans,
            "bob",
            method_id=bobs(mall),
            device_id="dev-dan",
        )
    except AbuseSuspected:
        pass
    else:
        raise AssertionError("bob's join on dan's device was not denied")
    clock.advance(timedelta(minutes=1))
    own = mall.deals.open_group("spring", "bob", method_id=bobs(mall), **BOB_PAYS).id
    mall.deals.join_group(
        own, "eve", method_id=method_for(mall.payments, "eve", "wx-eve"), device_id="dev-eve"
    )
    return mall, formed, own


def test_erasure_leaves_none_of_the_students_data_and_nobody_elses_changed(
    store: StoreHandle, clock: FixedClock
) -> None:
    mall, formed, own = bob_everywhere(store, clock)
    before = store.opened_snapshot()
    assert all(value in dump(store) for value in BOB.values())

    registry = ErasureRegistry()
    registry.register("deals", erase_student)
    counts: Counter[tuple[str, str]] = Counter()
    with CountingUnitOfWork(store.unit_of_work(), counts) as uow:
        report = registry.erase(uow, "bob", clock.now())
        uow.commit()

    # two groups, three risk-log entries (two reviews and the denial), the activity, and
    # what anti-abuse across groups saw him use (account, device, IP in each of his groups)
    assert report.removed == {"deals": 12}
    assert not any(method == "list" for method, _ in counts), "found through indexes, not list()"
    with store.unit_of_work() as uow:  # his method on file: the payments module's to erase
        erase_methods(uow, "bob", clock.now())
        uow.commit()
    text = dump(store)
    for value in BOB.values():
        assert value not in text, value
    assert others(store.opened_snapshot()) == others(before)
    for gid in (formed, own):
        bob = mall.deals.get_group(gid, actor=SYSTEM).member("bob")
        assert bob is not None and (bob.account, bob.device_id, bob.ip) == (None, None, None)
        assert bob.charge_id is not None, "the money trail stays"
    decisions = mall.deals.risk_decisions("bob", actor=SYSTEM)
    assert [d["level"] for d in decisions] == ["review", "deny", "review"]
    assert decisions[0]["reasons"] == [f"account {ERASED} watched"]
    # the device bob tried was dan's too: gone from bob's entry, kept in dan's membership
    assert decisions[1]["reasons"] == [
        f"device {ERASED} already in the group",
        f"account {ERASED} watched",
    ]
    assert "dev-dan" in text
    assert all(d["account"] is d["device_id"] is d["ip"] is None for d in decisions)

    # erasing again finds nothing left to scrub (taken after the reads above: the
    # system's reads write their audit rows)
    after = store.snapshot()
    with store.unit_of_work() as uow:
        assert erase_student(uow, "bob", clock.now()) == 0
        uow.commit()
    assert json.dumps(store.snapshot(), default=str) == json.dumps(after, default=str)


def test_money_still_balances_after_erasing_a_member_of_an_open_group(
    store: StoreHandle, clock: FixedClock
) -> None:
    mall, formed, own = bob_everywhere(store, clock)
    with store.unit_of_work() as uow:
        erase_student(uow, "bob", clock.now())
        uow.commit()
    # bob's own group (bob and eve) fails at its deadline: both refunded to their charges
    mall.clock.advance(timedelta(days=1))
    assert mall.deals.expire_due() == 2  # bob's and dan's groups
    assert mall.deals.get_group(own, actor=SYSTEM).state is GroupState.FAILED
    assert {m.status for m in mall.deals.get_group(own, actor=SYSTEM).members} == {"refunded"}
    zero = Money("0.00", "CNY")
    assert mall.gateway.balance(BOB["account"]) == -PRICE  # the formed group's order
    assert mall.gateway.balance("wx-eve") == zero and mall.gateway.balance("wx-dan") == zero
    charged, refunded = mall.gateway.totals()
    assert charged is not None and refunded is not None
    assert charged - refunded == PRICE * len(mall.deals.get_group(formed, actor=SYSTEM).paid)
    assert mall.deals.expire_due() == 0


def test_erasing_a_student_the_module_never_saw_changes_nothing(
    store: StoreHandle, clock: FixedClock
) -> None:
    mall, _, _ = bob_everywhere(store, clock)
    before = store.snapshot()
    with store.unit_of_work() as uow:
        assert erase_student(uow, "zed", clock.now()) == 0
        uow.commit()
    assert store.snapshot() == before
    assert mall.deals.risk_decisions("zed", actor=SYSTEM) == []
