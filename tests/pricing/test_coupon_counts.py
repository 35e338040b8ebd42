"""Coupon redemptions kept as counts: a checkout reads O(1) data, limits hold, and a
release happens exactly once, on every adapter."""

from __future__ import annotations

import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eduengine import FixedClock
from eduengine.errors import CouponRefused, InvalidTransition, PaymentFailed
from eduengine.payments import FakePaymentGateway
from eduengine.pricing import Coupon, Customer, DiscountKind, Money, OrderLine
from eduengine.pricing.coupons import COUPON_USES, COUPONS
from eduengine.pricing.service import PricingService
from tests.adapters import ADAPTERS, StoreHandle, make_store
from tests.till import checkout

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LINES = [OrderLine(course_id="py", price=Money("199", "CNY"))]


def coupon(code: str = "SPRING", **kw: Any) -> Coupon:
    return Coupon(code=code, kind=DiscountKind.AMOUNT, value=Money("20", "CNY"), **kw)


def shop(store: StoreHandle, gateway: FakePaymentGateway | None = None) -> PricingService:
    return PricingService(
        store.unit_of_work, gateway=gateway or FakePaymentGateway(), clock=FixedClock(T)
    )


def buy(service: PricingService, order_id: str, student: str, code: str = "SPRING") -> None:
    checkout(service, order_id, Customer(student_id=student), LINES, coupons=[code], account="a")


def record(store: StoreHandle, kind: str, key: str) -> dict[str, Any] | None:
    with store.unit_of_work() as uow:
        return uow.records.get(kind, key)


def test_the_coupon_document_keeps_a_count_not_every_use(store: StoreHandle) -> None:
    service = shop(store)
    service.add_coupon(coupon(max_per_student=None))
    for n in range(30):
        buy(service, f"o{n}", f"s{n % 3}")
    assert record(store, COUPONS, "spring") == {
        "coupon": coupon(max_per_student=None).to_record(),
        "redeemed": 30,
    }
    # no per-student limit: no per-student records either
    assert record(store, COUPON_USES, "spring:s0") is None
    assert service.redemptions("SPRING") == 30


def test_a_per_student_limit_counts_in_a_record_of_its_own(store: StoreHandle) -> None:
    service = shop(store)
    service.add_coupon(coupon(max_per_student=2, max_redemptions=10))
    buy(service, "o1", "ann")
    buy(service, "o2", "ann")
    assert record(store, COUPON_USES, "spring:ann") == {"count": 2}
    with pytest.raises(CouponRefused, match="'ann' already used it 2 time"):
        buy(service, "o3", "ann")
    buy(service, "o3", "bob")
    service.cancel_order("o1")
    assert record(store, COUPON_USES, "spring:ann") == {"count": 1}
    buy(service, "o4", "ann")
    service.cancel_order("o4")
    service.cancel_order("o2")
    assert record(store, COUPON_USES, "spring:ann") is None, "a count of 0 is no record"
    assert service.redemptions("SPRING") == 1


def test_a_cancellation_releases_a_use_exactly_once(store: StoreHandle) -> None:
    service = shop(store)
    service.add_coupon(coupon(max_per_student=1))
    buy(service, "o1", "ann")
    buy(service, "o2", "bob")
    gate = threading.Barrier(4)
    refused: list[Exception] = []

    def cancel() -> None:
        gate.wait()
        try:
            service.cancel_order("o1")
        except InvalidTransition as error:
            refused.append(error)

    threads = [threading.Thread(target=cancel) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert service.redemptions("SPRING") == 1
    with pytest.raises(InvalidTransition):
        service.cancel_order("o1")
    assert service.redemptions("SPRING") == 1
    assert record(store, COUPON_USES, "spring:bob") == {"count": 1}


def test_a_coupon_stored_with_every_use_is_counted_and_released_the_same(
    store: StoreHandle,
) -> None:
    service = shop(store)
    service.add_coupon(coupon(max_per_student=1, max_redemptions=3))
    buy(service, "o1", "ann")
    with store.unit_of_work() as uow:  # the document as it was stored before counts
        doc = uow.records.get(COUPONS, "spring")
        assert doc is not None
        uow.records.put(COUPONS, "spring", {"coupon": doc["coupon"], "used": {"o1": "ann"}})
        uow.records.delete(COUPON_USES, "spring:ann")
        uow.commit()
    assert service.redemptions("SPRING") == 1
    with pytest.raises(CouponRefused, match="already used"):
        service.quote(Customer(student_id="ann"), LINES, ["SPRING"])
    service.cancel_order("o1")  # upgrades the document, then releases ann's use
    assert record(store, COUPONS, "spring") == {"coupon": doc["coupon"], "redeemed": 0}
    assert record(store, COUPON_USES, "spring:ann") is None
    buy(service, "o2", "ann")
    assert service.redemptions("SPRING") == 1


# --- the counts against a model ---------------------------------------------------------

steps = st.lists(
    st.one_of(
        st.tuples(st.just("buy"), st.sampled_from(["ann", "bob", "cat"])),
        st.tuples(st.just("declined"), st.sampled_from(["ann", "bob", "cat"])),
        st.tuples(st.just("cancel"), st.integers(0, 12)),
    ),
    max_size=14,
)


@pytest.mark.parametrize("adapter", ADAPTERS)
@settings(max_examples=10)
@given(script=steps)
def test_counts_and_limits_follow_a_model_of_every_use(
    adapter: str, script: list[tuple[str, Any]]
) -> None:
    handle = make_store(adapter, Path(tempfile.mkdtemp()))
    try:
        gateway = FakePaymentGateway()
        service = shop(handle, gateway)
        service.add_coupon(coupon(max_redemptions=4, max_per_student=2))
        held: dict[str, str] = {}  # order -> student: the model's redemptions
        orders: list[str] = []
        for n, (step, arg) in enumerate(script):
            if step == "cancel":
                if not orders:
                    continue
                order = orders[arg % len(orders)]
                if order in held:
                    service.cancel_order(order)
                    del held[order]
                else:
                    with pytest.raises(InvalidTransition):
                        service.cancel_order(order)
                continue
            order, student = f"o{n}", arg
            mine = sum(1 for s in held.values() if s == student)
            allowed = len(held) < 4 and mine < 2  # predict, then assert
            if step == "declined":
                gateway.fail_next_charges(1)
            if not allowed:
                with pytest.raises(CouponRefused):
                    buy(service, order, student)
                if step == "declined":
                    gateway.fail_next_charges(0)
                continue
            if step == "declined":
                with pytest.raises(PaymentFailed):
                    buy(service, order, student)
            else:
                buy(service, order, student)
                held[order] = student
            orders.append(order)
            assert service.redemptions("SPRING") == len(held)
        for student in ("ann", "bob", "cat"):
            mine = sum(1 for s in held.values() if s == student)
            stored = record(handle, COUPON_USES, f"spring:{student}")
            assert (stored or {"count": 0})["count"] == mine
    finally:
        handle.close()
