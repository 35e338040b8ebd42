"""Idempotency keys on the seat commands, on every adapter: a replay with the same key
gives the first answer, other arguments are refused, keys expire, and concurrent sends
of one key make one effect."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import timedelta

import pytest

from eduengine import BookingService, FixedClock, School
from eduengine.booking.model import Booking, BookingStatus
from eduengine.errors import (
    AlreadyBooked,
    EduEngineError,
    IdempotencyKeyReused,
    InvalidId,
    InvalidTransition,
    OrderNotFound,
    PaymentFailed,
    PaymentOutcomeUnknown,
)
from eduengine.ops.jobs import run_due
from eduengine.payments import FakePaymentGateway
from eduengine.payments.fake import Fault
from eduengine.people import SYSTEM
from eduengine.pricing import Customer, Money, OrderLine
from eduengine.pricing.service import PricingService
from eduengine.service_layer.idempotency import KEY_TTL, KEYS, forget_expired
from eduengine.students.privacy import Actor
from tests.adapters import StoreHandle, reopen
from tests.conftest import T0
from tests.deals.mall import PRICE, Mall
from tests.payers import method_for
from tests.till import checkout

HOUR = timedelta(hours=1)
SPAWN = multiprocessing.get_context("spawn")


def _service(store: StoreHandle, clock: FixedClock, capacity: int = 3) -> BookingService:
    svc = BookingService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(days=5)
    svc.create_slot("math", start, start + HOUR, capacity, slot_id="s1")
    svc.create_slot("art", start, start + HOUR, capacity, slot_id="s2")
    return svc


def test_a_book_replayed_with_its_key_returns_the_first_booking(
    store: StoreHandle, clock: FixedClock
) -> None:
    svc = _service(store, clock)
    first = svc.book("s1", "ann", idempotency_key="req-1")
    before = store.snapshot()
    clock.advance(timedelta(minutes=5))
    assert svc.book("s1", "ann", idempotency_key="req-1") == first
    assert store.snapshot() == before  # nothing written, no event
    with pytest.raises(AlreadyBooked):  # without the key it is a second booking
        svc.book("s1", "ann")


def test_a_replay_answers_as_the_first_time_even_after_later_changes(
    store: StoreHandle, clock: FixedClock
) -> None:
    svc = _service(store, clock)
    first = svc.book("s1", "ann", idempotency_key="req-1")
    svc.cancel(first.id)
    assert svc.book("s1", "ann", idempotency_key="req-1").status is BookingStatus.CONFIRMED


def test_a_key_sent_with_other_arguments_is_refused(store: StoreHandle, clock: FixedClock) -> None:
    svc = _service(store, clock)
    booking = svc.book("s1", "ann", idempotency_key="req-1")
    before = store.snapshot()
    with pytest.raises(IdempotencyKeyReused) as other_slot:
        svc.book("s2", "ann", idempotency_key="req-1")
    assert other_slot.value.http_status == 409 and other_slot.value.key == "req-1"
    assert other_slot.value.order_id is None and "slot_id" in str(other_slot.value)
    with pytest.raises(IdempotencyKeyReused, match="'book'"):
        svc.cancel(booking.id, idempotency_key="req-1")  # another command
    assert store.snapshot() == before


def test_a_cancel_retried_after_a_lost_answer_returns_the_first_answer(
    store: StoreHandle, clock: FixedClock
) -> None:
    svc = _service(store, clock)
    booking = svc.book("s1", "ann")
    first = svc.cancel(booking.id, reason_code="sick", idempotency_key="cancel-1")
    assert first.status is BookingStatus.CANCELLED
    # the client never saw that answer and sends the cancel again
    assert svc.cancel(booking.id, reason_code="sick", idempotency_key="cancel-1") == first
    with pytest.raises(InvalidTransition):  # without the key: the old answer
        svc.cancel(booking.id, reason_code="sick")


def test_a_refused_command_files_no_key(store: StoreHandle, clock: FixedClock) -> None:
    svc = _service(store, clock, capacity=1)
    svc.book("s1", "bob")
    with pytest.raises(EduEngineError):
        svc.book("s1", "ann", idempotency_key="req-1")  # full
    svc.change_capacity("s1", 2)
    assert svc.book("s1", "ann", idempotency_key="req-1").student_id == "ann"


def test_book_series_replays_every_booking(store: StoreHandle, clock: FixedClock) -> None:
    svc = BookingService(store.unit_of_work, clock=clock)
    svc.create_series(
        "math", "FREQ=WEEKLY;COUNT=3", clock.now() + timedelta(days=1), HOUR, 2, series_id="x1"
    )
    first = svc.book_series("x1", "ann", idempotency_key="series-1")
    assert len(first) == 3
    assert svc.book_series("x1", "ann", idempotency_key="series-1") == first


def test_keys_expire(store: StoreHandle, clock: FixedClock) -> None:
    svc = _service(store, clock)
    first = svc.book("s1", "ann", idempotency_key="req-1")
    svc.cancel(first.id)
    clock.advance(KEY_TTL + timedelta(seconds=1))
    # past its time the key is forgotten: the send runs as a new command
    again = svc.book("s1", "ann", idempotency_key="req-1")
    assert again.id != first.id
    svc.book("s2", "ann", idempotency_key="req-2")
    clock.advance(KEY_TTL + timedelta(seconds=1))
    with store.unit_of_work() as uow:
        assert forget_expired(uow, clock.now(), 10) == 2
        uow.commit()
    with store.unit_of_work() as uow:
        assert uow.records.get(KEYS, "req-1") is None and uow.records.get(KEYS, "req-2") is None


def test_a_malformed_key_is_refused(store: StoreHandle, clock: FixedClock) -> None:
    svc = _service(store, clock)
    with pytest.raises(InvalidId):
        svc.book("s1", "ann", idempotency_key="")


def test_concurrent_sends_of_one_key_make_one_booking(
    store: StoreHandle, clock: FixedClock
) -> None:
    svc = _service(store, clock)
    start = threading.Barrier(6)

    def send(_: int) -> Booking:
        start.wait()
        return svc.book("s1", "ann", idempotency_key="req-1")

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(send, range(6)))
    assert len({b.id for b in answers}) == 1
    assert svc.get_slot("s1", actor=SYSTEM).seats_left == 2


def _send_from_child(name: str, location: str, n: int) -> tuple[str, str]:
    handle = reopen(name, location)
    try:
        svc = BookingService(handle.unit_of_work, clock=FixedClock(T0))
        booking = svc.book("s1", "ann", idempotency_key="req-1")
        cancelled = svc.cancel(booking.id, idempotency_key="cancel-1")
        return booking.id, cancelled.status.value
    finally:
        handle.close()


def test_concurrent_sends_from_processes_make_one_effect(
    store: StoreHandle, clock: FixedClock
) -> None:
    if store.location is None:
        pytest.skip(f"the {store.name} adapter lives in one process (threads above)")
    svc = _service(store, clock)
    with ProcessPoolExecutor(3, mp_context=SPAWN) as pool:
        answers = list(pool.map(_send_from_child, [store.name] * 3, [store.location] * 3, range(3)))
    assert len(set(answers)) == 1 and answers[0][1] == "cancelled"
    assert svc.get_slot("s1", actor=SYSTEM).seats_left == 3
    assert len(svc.bookings_for_student("ann", actor=SYSTEM)) == 1


# --- money: group joins and checkout ------------------------------------------------------


def test_a_group_join_replayed_with_its_key_takes_one_place_and_charges_once(
    store: StoreHandle, clock: FixedClock
) -> None:
    mall = Mall(store, clock)
    gid = mall.open("ann")
    mall.gateway.script(Fault.TIMEOUT_AFTER)  # charged, the answer lost
    with pytest.raises(PaymentOutcomeUnknown):
        mall.deals.join_group(
            gid,
            "bob",
            method_id=method_for(mall.payments, "bob", "acct-bob"),
            idempotency_key="join-1",
        )
    again = mall.deals.join_group(
        gid, "bob", method_id=method_for(mall.payments, "bob", "acct-bob"), idempotency_key="join-1"
    )
    bob = again.member("bob")
    assert bob is not None and bob.status == "paid"
    # once paid, the replay is still an answer, not "already a member"
    assert (
        mall.deals.join_group(
            gid,
            "bob",
            method_id=method_for(mall.payments, "bob", "acct-bob"),
            idempotency_key="join-1",
        ).member("bob")
        == bob
    )
    assert mall.gateway.balance("acct-bob") == -PRICE
    with pytest.raises(IdempotencyKeyReused):
        mall.deals.join_group(
            gid,
            "bob",
            method_id=method_for(mall.payments, "bob", "acct-other"),
            idempotency_key="join-1",
        )


def test_a_checkout_key_binds_one_order(store: StoreHandle, clock: FixedClock) -> None:
    gateway = FakePaymentGateway()
    shop = PricingService(store.unit_of_work, gateway=gateway, clock=clock)
    ann = Customer(student_id="ann")
    lines = [OrderLine(course_id="py", price=Money("199", "CNY"))]
    first = checkout(shop, "o1", ann, lines, account="acct-ann", idempotency_key="pay-1")
    assert checkout(shop, "o1", ann, lines, account="acct-ann", idempotency_key="pay-1") == first
    with pytest.raises(IdempotencyKeyReused) as other_order:
        checkout(shop, "o2", ann, lines, account="acct-ann", idempotency_key="pay-1")
    assert other_order.value.order_id is None and "order_id" in str(other_order.value)
    assert gateway.balance("acct-ann") == Money("-199", "CNY")
    with pytest.raises(OrderNotFound):
        shop.get_order("o2", actor=SYSTEM)


def test_the_sweep_job_and_erasure_forget_keys(store: StoreHandle, clock: FixedClock) -> None:
    school = School.build(store, clock=clock)
    start = clock.now() + timedelta(days=5)
    school.booking.create_slot("math", start, start + HOUR, 3, slot_id="s1")
    school.students.register("bob", name="Bob")
    school.booking.book("s1", "ann", idempotency_key="a-1")
    booking = school.booking.book("s1", "bob", idempotency_key="b-1")
    school.booking.cancel(booking.id, idempotency_key="b-2")
    assert school.students.erase(Actor(id="dpo", role="admin"), "bob").removed["idempotency"] == 2
    clock.advance(KEY_TTL + timedelta(seconds=1))
    assert run_due(school, jobs={"idempotency"}) == {"idempotency": 1}
    with store.unit_of_work() as uow:
        assert uow.records.scan(KEYS, "expires") == []


def test_a_reschedule_retried_with_its_key_returns_the_first_move(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = School.build(store, clock=clock, reminders=None)
    start = clock.now() + timedelta(days=5)
    school.booking.create_slot("math", start, start + HOUR, 2, slot_id="s1")
    school.booking.create_slot("math", start + HOUR, start + 2 * HOUR, 2, slot_id="s2")
    booking = school.booking.book("s1", "ann")
    moved = school.policies.reschedule(booking.id, "s2", idempotency_key="move-1")
    assert school.policies.reschedule(booking.id, "s2", idempotency_key="move-1") == moved
    with pytest.raises(InvalidTransition):  # without the key: the booking was moved
        school.policies.reschedule(booking.id, "s2")
    assert school.booking.get_slot("s2", actor=SYSTEM).seats_left == 1


def test_a_package_bought_again_with_its_key_is_sold_once(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = School.build(store, clock=clock, reminders=None)
    school.students.register("ann", name="Ann")
    first = school.students.buy_package(
        "ann", credits=10, valid_for=timedelta(days=90), idempotency_key="buy-1"
    )
    again = school.students.buy_package(
        "ann", credits=10, valid_for=timedelta(days=90), idempotency_key="buy-1"
    )
    assert again == first and len(school.students.packages_of("ann", actor=SYSTEM)) == 1
    with pytest.raises(IdempotencyKeyReused, match="credits"):
        school.students.buy_package(
            "ann", credits=5, valid_for=timedelta(days=90), idempotency_key="buy-1"
        )


def test_a_declined_group_join_retried_with_its_key_joins_afresh(
    store: StoreHandle, clock: FixedClock
) -> None:
    mall = Mall(store, clock)
    gid = mall.open("ann")
    mall.gateway.fail_next_charges(1)
    with pytest.raises(PaymentFailed):
        mall.deals.join_group(
            gid,
            "bob",
            method_id=method_for(mall.payments, "bob", "acct-bob"),
            idempotency_key="join-1",
        )
    joined = mall.deals.join_group(
        gid, "bob", method_id=method_for(mall.payments, "bob", "acct-bob"), idempotency_key="join-1"
    )
    bob = joined.member("bob")
    assert bob is not None and bob.status == "paid"
