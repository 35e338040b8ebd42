"""Delivery under a hostile provider, on every adapter: a hypothesis state machine.

Students book and cancel classes while time passes and workers deliver through a
provider that fails, times out (delivers, then raises), stalls past the lease (while
another worker takes the notice over) and crashes the worker mid-batch. The machine
predicts, then asserts, at every provider call and after every step:

* once a call for a key (notice + channel) succeeded within its lease, no call for that
  key is ever made again (exactly once; a repeat is allowed only after a failure, a
  timeout, a crash or a stall, where the provider's idempotency key absorbs it);
* no call for a cancelled booking's confirmation or reminders after the cancellation;
* no call at or after the class started;
* no SMS inside the recipient's quiet hours unless the class starts before they end;
* a channel is only ``void`` for a cancelled booking and only ``expired`` once the class
  started; after a final drain every planned channel is final: ``sent`` (and delivered
  by the provider) or ``dead`` after ``max_attempts`` attempts (then its fallback, if
  any, took over), ``void`` or ``expired``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections import Counter
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from eduengine import FixedClock, School
from eduengine.errors import EduEngineError
from eduengine.kernel.codec import from_micros, micros
from eduengine.notices import Notice, NoticePolicy, QuietHours
from eduengine.notices.planning import DUE, NOTICES
from eduengine.service_layer.ports import open_read_only
from tests.adapters import ADAPTERS, StoreHandle, make_store
from tests.conftest import T0

OK, FAIL, TIMEOUT, STALL, CRASH = "ok", "fail", "timeout", "stall", "crash"
QUIET = QuietHours(time(22, 0), time(8, 0))
POLICY = NoticePolicy(
    max_attempts=3,
    backoff=timedelta(minutes=1),
    lease=timedelta(minutes=5),
    quiet=QUIET,
    quiet_channels=frozenset({"sms"}),
)
#: student -> (zone, channels, fallback)
STUDENTS = {
    "ann": ("Asia/Shanghai", ["sms", "wechat"], []),
    "bob": ("UTC", ["sms"], ["in_app"]),
    "cai": ("America/New_York", ["in_app"], []),
}
FINAL = ("sent", "dead", "void", "expired")
DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "deep"


class Crash(BaseException):
    """The worker process dies inside a provider call."""


@attrs.define
class Booked:
    id: str
    student: str
    start: datetime
    cancelled_at: datetime | None = None


class HostileProvider:
    """Every channel's provider; draws each call's outcome from ``script``."""

    def __init__(self, machine: DeliveryMachine) -> None:
        self.machine = machine
        self.script: list[str] = []
        self.nested = False
        #: channels whose provider is down: every call fails
        self.outages: set[str] = set()

    def send(self, notice: Notice, channel: str, key: str) -> None:
        m = self.machine
        m.check_call(notice, channel, key)
        outcome = OK if self.nested or not self.script else self.script.pop(0)
        if channel in self.outages and outcome != CRASH:
            outcome = FAIL
        m.calls[key].append(outcome)
        if outcome == FAIL:
            raise ConnectionError("provider down")
        if outcome == CRASH:
            raise Crash
        m.delivered[key] += 1
        if outcome == TIMEOUT:
            raise TimeoutError("no answer (but the message went out)")
        if outcome == STALL:
            # the call hangs past the lease; another worker takes over meanwhile
            m.clock.advance(POLICY.lease + timedelta(seconds=1))
            self.nested = True
            try:
                m.school.notices.deliver_due("rescuer")
            finally:
                self.nested = False


class DeliveryMachine(RuleBasedStateMachine):
    adapter = "memory"
    bookings = Bundle("bookings")

    def __init__(self) -> None:
        super().__init__()
        self.store: StoreHandle = make_store(self.adapter, Path(tempfile.mkdtemp()))
        self.clock = FixedClock(T0)
        self.provider = HostileProvider(self)
        self.school = School.build(
            self.store,
            clock=self.clock,
            notices=POLICY,
            notifiers={c: self.provider for c in ("sms", "wechat", "in_app")},
        )
        self.calls: dict[str, list[str]] = {}
        self.delivered: Counter[str] = Counter()
        self.booked: dict[str, Booked] = {}
        self.slots: list[tuple[str, datetime]] = []
        self.violations: list[str] = []

    @initialize()
    def setup(self) -> None:
        for student, (zone, channels, fallback) in STUDENTS.items():
            self.school.notices.set_preferences(
                student, channels=channels, fallback=fallback, zone=zone
            )
        for hours in (2, 9, 20, 30):
            start = self.clock.now() + timedelta(hours=hours)
            slot = self.school.booking.create_slot("math", start, start + timedelta(hours=1), 2)
            self.slots.append((slot.id, slot.start))

    # -- the checks made at every provider call --------------------------------------

    def check_call(self, notice: Notice, channel: str, key: str) -> None:
        """Note (not raise: the worker would take it for a provider failure) every call
        that must not happen."""
        now = self.clock.now()
        self.calls.setdefault(key, [])
        if OK in self.calls[key]:
            self.violations.append(f"{key} sent again after a clean success")
        if notice.not_after is not None and now >= notice.not_after:
            self.violations.append(f"{key} sent at {now}, its class started")
        booking = self.booked.get(str(notice.context.get("booking_id")))
        voidable = notice.kind in ("booking_confirmed", "class_reminder")
        if booking is not None and voidable and booking.cancelled_at is not None:
            self.violations.append(f"{key} sent for a cancelled booking")
        if channel == "sms":
            local = now.astimezone(ZoneInfo(STUDENTS[notice.recipient.id][0]))
            morning = QUIET.ends(local)
            # inside quiet hours only for a class that starts before the morning
            if morning is not None and (notice.not_after is None or notice.not_after > morning):
                self.violations.append(f"{key} sent by SMS at {local}, in quiet hours")

    # -- rules -------------------------------------------------------------------------

    @rule(target=bookings, slot=st.integers(0, 3), student=st.sampled_from(sorted(STUDENTS)))
    def book(self, slot: int, student: str) -> str:
        slot_id, start = self.slots[slot]
        try:
            seat = self.school.booking.book(slot_id, student)
        except EduEngineError:
            return ""  # full, already booked, started or restricted: nothing planned
        self.booked[seat.id] = Booked(seat.id, student, start)
        return seat.id

    @rule(booking=bookings)
    def cancel(self, booking: str) -> None:
        seat = self.booked.get(booking)
        if seat is None or seat.cancelled_at is not None:
            return
        try:
            self.school.booking.cancel(booking)
        except EduEngineError:
            return  # the class started
        seat.cancelled_at = self.clock.now()

    @rule(channel=st.sampled_from(["sms", "wechat"]), down=st.booleans())
    def outage(self, channel: str, down: bool) -> None:
        (self.provider.outages.add if down else self.provider.outages.discard)(channel)

    @rule(minutes=st.integers(1, 8 * 60))
    def time_passes(self, minutes: int) -> None:
        self.clock.advance(timedelta(minutes=minutes))

    @rule(
        worker=st.sampled_from(["w1", "w2"]),
        script=st.lists(
            st.sampled_from([FAIL, OK, TIMEOUT, FAIL, STALL, CRASH]), min_size=1, max_size=12
        ),
        batch=st.integers(1, 8),
    )
    def deliver(self, worker: str, script: list[str], batch: int) -> None:
        self.provider.script = list(script)
        # a crash leaves its claimed notices leased until the lease runs out
        with contextlib.suppress(Crash):
            self.school.notices.deliver_due(worker, batch=batch)

    # -- invariants --------------------------------------------------------------------

    @invariant()
    def no_call_that_must_not_happen(self) -> None:
        assert self.violations == []

    @invariant()
    def channels_end_only_for_their_reasons(self) -> None:
        for booking in self.booked.values():
            for notice_id in self._ids(booking):
                states = self._states(notice_id)
                for channel, state in states.items():
                    if state == "void":
                        assert booking.cancelled_at is not None, (notice_id, channel)
                    if state == "expired":
                        assert self.clock.now() >= booking.start, (notice_id, channel)
                    if state == "sent":
                        assert self.delivered[f"{notice_id}:{channel}"] >= 1

    def teardown(self) -> None:
        try:
            self._drain_and_check()
        finally:
            self.store.close()

    def _drain_and_check(self) -> None:
        # a calm provider; the clock jumps to each next due notice until none is left
        self.provider.script = []
        for _ in range(500):
            with open_read_only(self.store.unit_of_work) as uow:
                rows = uow.records.scan(NOTICES, DUE, limit=1)
            if not rows:
                break
            if rows[0][1] > micros(self.clock.now()):
                self.clock.set(from_micros(rows[0][1]))
            self.school.notices.deliver_due("drain", batch=50)
        assert self.violations == []
        for booking in self.booked.values():
            for notice_id in self._ids(booking):
                for channel, state in self._states(notice_id).items():
                    key = f"{notice_id}:{channel}"
                    assert state in FINAL, (key, state)
                    if state == "dead":
                        assert len(self.calls.get(key, [])) <= POLICY.max_attempts
                        for backup in STUDENTS[booking.student][2]:  # the fallback took over
                            assert self._states(notice_id)[backup] in FINAL, (key, backup)
                    if state == "sent":
                        assert self.delivered[key] >= 1

    def _ids(self, booking: Booked) -> list[str]:
        ids = [f"booking_confirmed:{booking.id}:{booking.student}"]
        ids += [
            f"class_reminder:{booking.id}:{label}:{booking.student}"
            for label in ("1d", "1h", "15m")
        ]
        return ids

    def _states(self, notice_id: str) -> dict[str, str]:
        try:
            return self.school.notices.states(notice_id)
        except EduEngineError:
            return {}  # a reminder whose time had passed at booking is not planned


def _machine_for(adapter: str) -> type[DeliveryMachine]:
    return type(f"DeliveryMachine_{adapter}", (DeliveryMachine,), {"adapter": adapter})


# every example builds a school on a fresh store: fewer on the slower adapters
_EXAMPLES = {"memory": 25, "sqlite": 8, "postgres": 5}
for _adapter in ADAPTERS:
    _cls = _machine_for(_adapter)
    _cls.TestCase.settings = settings(
        max_examples=200 if DEEP else _EXAMPLES.get(_adapter, 6),
        stateful_step_count=60 if DEEP else 25,
        deadline=None,
    )
    globals()[f"TestDeliveryMachine_{_adapter}"] = _cls.TestCase
