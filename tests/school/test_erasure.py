"""Erasure reaches every module: after ``erase()`` no personal data of the student is
left anywhere in the store, on every adapter, while other students' data is intact."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from eduengine import FixedClock, School
from eduengine.adapters.sqlite import SqliteStore
from eduengine.deals import GroupDealCampaign
from eduengine.errors import PaymentOutcomeUnknown
from eduengine.payments import FakePaymentGateway, Fault
from eduengine.people import SYSTEM
from eduengine.pricing import Money
from eduengine.pricing.rules import Customer, OrderLine
from eduengine.students import Actor, Guardian, GuardianRole
from tests.adapters import StoreHandle
from tests.payers import method_for
from tests.till import checkout

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ANN = {
    "name": "Ann Lee-Erasable",
    "phone": "13812345678",
    "email": "ann.lee@example.com",
    "guardian": "Grace Lee-Erasable",
    "guardian_phone": "13987654321",
    "ip": "203.0.113.77",
    "device": "device-ann-7f3a",
    "account": "acct-ann-5521",
}
BOB = {
    "phone": "13700001111",
    "ip": "198.51.100.9",
    "device": "device-bob-1",
    "account": "acct-bob",
}


def dump(store: StoreHandle) -> str:
    """Every record as it reads: a sealing store's values opened by its keys (a value left
    under a live key shows; one under the erased student's shredded key reads as gone)."""
    return json.dumps(store.opened_snapshot(), default=str, sort_keys=True)


def test_after_erase_no_module_keeps_the_students_personal_data(store: StoreHandle) -> None:
    clock = FixedClock(T0)

    class Store:
        unit_of_work = staticmethod(store.unit_of_work)

    school = School.build(Store(), clock=clock, gateway=FakePaymentGateway())
    guardian = Guardian(
        name=ANN["guardian"],
        phone=ANN["guardian_phone"],
        email=None,
        roles=frozenset({GuardianRole.RECEIVE_REMINDERS}),
    )
    school.students.register(
        "ann",
        name=ANN["name"],
        phone=ANN["phone"],
        email=ANN["email"],
        birth_date=date(2012, 5, 1),
        guardians=[guardian],
    )
    school.students.register("bob", name="Bob", phone=BOB["phone"])
    school.payments.add_method("ann", ANN["account"])
    school.deals.create_campaign(
        GroupDealCampaign(
            id="spring",
            course_id="python-101",
            list_price=Money("199.00", "CNY"),
            group_price=Money("99.00", "CNY"),
            required_size=2,
            starts_at=T0,
            ends_at=T0 + timedelta(days=30),
        )
    )
    group = school.deals.open_group(
        "spring",
        "ann",
        device_id=ANN["device"],
        ip=ANN["ip"],
    )
    school.deals.join_group(
        group.id,
        "bob",
        method_id=method_for(school.payments, "bob", BOB["account"]),
        device_id=BOB["device"],
        ip=BOB["ip"],
    )
    slot = school.booking.create_slot("python-101", T0 + timedelta(days=2),
                                      T0 + timedelta(days=2, hours=1), 5)  # fmt: skip
    school.booking.book(slot.id, "ann")
    before = dump(store)
    assert all(value in before for value in ANN.values())  # the test sees real data

    report = school.students.erase(Actor(id="dpo", role="admin"), "ann")

    after = dump(store)
    leaked = [field for field, value in ANN.items() if value in after]
    assert leaked == [], f"personal data left after erase: {leaked}"
    assert all(value in after for value in BOB.values())  # nobody else's data was touched
    assert report.removed["students"] > 0 and report.removed["deals"] > 0
    assert report.removed["payment_methods"] > 0  # her card on file (fees charge it)
    assert set(report.removed) >= {"students", "deals", "payments"}
    # the seat and the money trail stay, keyed by the opaque id
    assert [b.slot_id for b in school.booking.bookings_for_student("ann", actor=SYSTEM)] == [
        slot.id
    ]
    assert school.deals.get_group(group.id, actor=SYSTEM).state.value == "formed"


# --- open payment intents and the database files ---------------------------------------

ORDER_ACCOUNT = "acct-ann-order-9931"


def _ann_everywhere(school: School, clock: FixedClock) -> str:
    """Ann with personal data in every module, and an order whose answer was lost (its
    intent stays open, holding the account it charges); returns the group id."""
    school.students.register(
        "ann",
        name=ANN["name"],
        phone=ANN["phone"],
        email=ANN["email"],
        guardians=[
            Guardian(
                name=ANN["guardian"],
                phone=ANN["guardian_phone"],
                email=None,
                roles=frozenset({GuardianRole.RECEIVE_REMINDERS}),
            )
        ],
    )
    school.students.register("bob", name="Bob", phone=BOB["phone"])
    school.payments.add_method("ann", ANN["account"])
    school.deals.create_campaign(
        GroupDealCampaign(
            id="spring",
            course_id="python-101",
            list_price=Money("199.00", "CNY"),
            group_price=Money("99.00", "CNY"),
            required_size=2,
            starts_at=T0,
            ends_at=T0 + timedelta(days=30),
        )
    )
    group = school.deals.open_group(
        "spring",
        "ann",
        device_id=ANN["device"],
        ip=ANN["ip"],
    )
    school.deals.join_group(
        group.id,
        "bob",
        method_id=method_for(school.payments, "bob", BOB["account"]),
        device_id=BOB["device"],
        ip=BOB["ip"],
    )
    gateway = school.payments.gateway
    assert isinstance(gateway, FakePaymentGateway)
    gateway.script(Fault.TIMEOUT_AFTER)  # charged, the answer lost: the intent stays open
    with pytest.raises(PaymentOutcomeUnknown):
        checkout(
            school.pricing,
            "o1",
            Customer(student_id="ann"),
            [OrderLine(course_id="py", price=Money("199", "CNY"))],
            account=ORDER_ACCOUNT,
        )
    return group.id


def test_erasure_reaches_open_payment_intents_and_reconcile_still_settles_them(
    store: StoreHandle,
) -> None:
    clock = FixedClock(T0)
    gateway = FakePaymentGateway()
    school = School.build(store, clock=clock, gateway=gateway, reminders=None, risk_rules=())
    _ann_everywhere(school, clock)
    assert ORDER_ACCOUNT in dump(store)

    report = school.students.erase(Actor(id="dpo", role="admin"), "ann")

    assert ORDER_ACCOUNT not in dump(store)
    assert report.removed["payment_intents"] == 1
    intent = school.payments.intent("order:o1")
    assert intent is not None and intent.is_open and intent.amount == Money("199", "CNY")
    clock.advance(timedelta(minutes=16))
    assert school.payments.reconcile() == 1  # settled without the account
    assert school.pricing.get_order("o1", actor=SYSTEM).status == "paid"
    assert school.payments.count_open() == 0


def test_after_erase_no_erased_value_is_left_in_the_sqlite_files(tmp_path: Path) -> None:
    path = tmp_path / "school.sqlite3"
    # in clear (keys="off"): the secure-delete and WAL scrub are what is tested here; a
    # sealed store shreds the student's key besides
    lite = SqliteStore(path, keys="off")
    lite.migrate()
    clock = FixedClock(T0)
    school = School.build(
        lite, clock=clock, gateway=FakePaymentGateway(), reminders=None, risk_rules=()
    )
    try:
        _ann_everywhere(school, clock)
        values = {**ANN, "order account": ORDER_ACCOUNT}

        def found_in_files() -> list[str]:
            raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
            return [field for field, value in values.items() if value.encode() in raw]

        assert found_in_files() == list(values)  # the test sees the real bytes
        school.students.erase(Actor(id="dpo", role="admin"), "ann")
        leaked = found_in_files()
        assert leaked == [], f"erased values still readable in the database files: {leaked}"
        assert BOB["phone"].encode() in path.read_bytes()  # nobody else's data went
    finally:
        lite.close()
