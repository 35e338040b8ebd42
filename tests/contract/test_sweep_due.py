"""The sweep loop every periodic job shares, on every adapter."""

from __future__ import annotations

from datetime import datetime, timedelta

from eduengine import FixedClock, ServiceBase
from eduengine.kernel.codec import micros
from eduengine.service_layer.ports import UnitOfWork
from tests.adapters import StoreHandle
from tests.conftest import T0


def test_a_sweep_hands_each_due_row_over_once_even_when_one_stays_due(
    store: StoreHandle,
) -> None:
    clock = FixedClock(T0)
    jobs = ServiceBase(store.unit_of_work, clock=clock)

    def file(uow: UnitOfWork, now: datetime) -> None:
        for n in range(5):
            uow.records.put("job", f"j{n}", {}, index={"due": micros(now) - n})
        uow.records.put("job", "later", {}, index={"due": micros(now + timedelta(hours=1))})

    jobs._run(file)
    handled: list[str] = []

    def handle(key: str) -> None:
        handled.append(key)
        if key != "j4":  # j4 fails and stays due: it must not hide the others
            jobs._run(lambda uow, now: uow.records.delete("job", key))

    jobs._sweep_due("job", "due", handle, batch=1)
    assert handled == ["j4", "j3", "j2", "j1", "j0"]
    with store.unit_of_work() as uow:
        assert [k for k, _ in uow.records.scan("job", "due")] == ["j4", "later"]
