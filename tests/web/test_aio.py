"""The asyncio facade: commands run off the event loop, on every adapter."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from datetime import timedelta

import pytest

from eduengine import FixedClock, School, SeatBooked
from eduengine.booking.model import Booking
from eduengine.errors import AlreadyBooked, InvalidInput, SlotFull
from eduengine.people import SYSTEM
from eduengine.service_layer.ports import UnitOfWork
from eduengine.web.aio import AsyncSchool
from tests.adapters import StoreHandle


def test_concurrent_awaited_bookings_fill_a_slot_exactly(
    store: StoreHandle, clock: FixedClock
) -> None:
    school = School.build(store, clock=clock, reminders=None)

    async def main() -> list[Booking | BaseException]:
        async with AsyncSchool(school, max_workers=8) as aschool:
            slot = await aschool.booking.create_slot(
                "math",
                clock.now() + timedelta(hours=2),
                clock.now() + timedelta(hours=3),
                capacity=5,
            )
            results = await asyncio.gather(
                *(aschool.booking.book(slot.id, f"s{n}") for n in range(20)),
                return_exceptions=True,
            )
            left = (await aschool.run(school.booking.get_slot, slot.id, actor=SYSTEM)).seats_left
            assert left == 0
            return results

    results = asyncio.run(main())
    assert sum(not isinstance(r, BaseException) for r in results) == 5
    assert all(isinstance(r, SlotFull) for r in results if isinstance(r, BaseException))


def test_a_slow_command_does_not_block_the_event_loop(clock: FixedClock) -> None:
    from eduengine import InMemoryStore

    school = School.build(InMemoryStore(), clock=clock, reminders=None)
    threads: list[str] = []

    def slow_rule(event: object, uow: UnitOfWork) -> None:
        threads.append(threading.current_thread().name)
        time.sleep(0.3)

    school.bus.subscribe(SeatBooked, slow_rule)

    async def main() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        async with AsyncSchool(school) as aschool:
            slot = await aschool.booking.create_slot(
                "math",
                clock.now() + timedelta(hours=2),
                clock.now() + timedelta(hours=3),
                capacity=5,
            )
            task = asyncio.create_task(ticker())
            await aschool.booking.book(slot.id, "ann")
            task.cancel()
        return ticks

    # 0.3 s of command: a loop blocked by it would tick at most once or twice
    assert asyncio.run(main()) >= 10
    assert threads and threads[0].startswith("eduengine")


def test_errors_arrive_typed_and_a_refused_command_changes_nothing(clock: FixedClock) -> None:
    from eduengine import InMemoryStore

    school = School.build(InMemoryStore(), clock=clock, reminders=None)

    async def main() -> None:
        async with AsyncSchool(school) as aschool:
            slot = await aschool.booking.create_slot(
                "math",
                clock.now() + timedelta(hours=2),
                clock.now() + timedelta(hours=3),
                capacity=5,
            )
            await aschool.booking.book(slot.id, "ann")
            with pytest.raises(AlreadyBooked):
                await aschool.booking.book(slot.id, "ann")
            assert (await aschool.booking.get_slot(slot.id, actor=SYSTEM)).seats_left == 4

    asyncio.run(main())


def test_the_callers_context_variables_reach_the_command(clock: FixedClock) -> None:
    from eduengine import InMemoryStore

    request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")
    seen: list[str] = []
    school = School.build(InMemoryStore(), clock=clock, reminders=None)
    school.bus.subscribe(SeatBooked, lambda event, uow: seen.append(request_id.get("-")))

    async def main() -> None:
        async with AsyncSchool(school) as aschool:
            slot = await aschool.booking.create_slot(
                "math",
                clock.now() + timedelta(hours=2),
                clock.now() + timedelta(hours=3),
                capacity=5,
            )
            request_id.set("req-7")
            await aschool.booking.book(slot.id, "ann")

    asyncio.run(main())
    assert seen == ["req-7"]


def test_only_services_and_their_commands_are_exposed(clock: FixedClock) -> None:
    from eduengine import InMemoryStore

    aschool = AsyncSchool(School.build(InMemoryStore(), clock=clock))
    try:
        with pytest.raises(AttributeError):
            aschool.rules  # noqa: B018 - a method of School, not a service
        with pytest.raises(AttributeError):
            aschool.booking.max_attempts  # noqa: B018 - a setting, not a command
        with pytest.raises(InvalidInput):
            AsyncSchool(aschool.school, max_workers=0)
    finally:
        aschool.close()
