"""Two OS processes delivering the same store's notices at once never send one twice
(SQL adapters; the in-memory one lives in one process: see the threaded test)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from typing import Any

from eduengine import FixedClock, School
from eduengine.notices import Notice, NoticePolicy
from tests.adapters import StoreHandle, reopen
from tests.conftest import T0
from tests.contract.test_multiprocess import SPAWN, needs_location

POLICY = NoticePolicy(channels=("in_app", "email"), reminders=())
STUDENTS = 40


class Recorder:
    def __init__(self) -> None:
        self.keys: list[str] = []
        self.lock = threading.Lock()

    def send(self, notice: Notice, channel: str, key: str) -> None:
        time.sleep(0.001)  # a provider call takes a while: the workers overlap
        with self.lock:
            self.keys.append(key)


def _school(handle: StoreHandle, recorder: Recorder) -> School:
    return School.build(
        handle,
        clock=FixedClock(T0),
        notices=POLICY,
        notifiers={"in_app": recorder, "email": recorder},
    )


def _worker(name: str, location: str, worker: str, start: Any) -> list[str]:
    handle = reopen(name, location)
    recorder = Recorder()
    try:
        school = _school(handle, recorder)
        school.notices.sweep_rest = 0.0
        start.wait(timeout=60)  # both set up: a slow spawn must not leave one idle
        for _ in range(3):  # until nothing is left to claim, and once more
            school.notices.deliver_due(worker, batch=4)
    finally:
        handle.close()
    return recorder.keys


def _book_everyone(store: StoreHandle, clock: FixedClock) -> None:
    school = _school(store, Recorder())
    start = clock.now() + timedelta(days=2)
    slot = school.booking.create_slot("math", start, start + timedelta(hours=1), STUDENTS)
    for n in range(STUDENTS):
        school.booking.book(slot.id, f"s{n}")
    school.close()  # this "process" is done: the reactions it deferred are applied


def test_two_processes_delivering_at_once_never_send_a_notice_twice(
    store: StoreHandle, clock: FixedClock
) -> None:
    location = needs_location(store)
    _book_everyone(store, clock)
    with SPAWN.Manager() as manager, ProcessPoolExecutor(2, mp_context=SPAWN) as pool:
        start = manager.Barrier(2)
        results = list(
            pool.map(_worker, [store.name] * 2, [location] * 2, ["p0", "p1"], [start] * 2)
        )
    sent = Counter(key for keys in results for key in keys)
    assert max(sent.values()) == 1
    assert len(sent) == STUDENTS * 2  # every confirmation, on both channels
    assert all(results), "both processes took a share (they really ran at once)"


def test_threads_delivering_at_once_never_send_a_notice_twice(
    store: StoreHandle, clock: FixedClock
) -> None:
    _book_everyone(store, clock)
    recorder = Recorder()
    school = _school(store, recorder)
    school.notices.sweep_rest = 0.0
    threads = [
        threading.Thread(target=school.notices.deliver_due, args=(f"t{n}",), kwargs={"batch": 4})
        for n in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = Counter(recorder.keys)
    assert len(sent) == STUDENTS * 2 and max(sent.values()) == 1
