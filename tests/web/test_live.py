"""FeedHub: one feed tail per process, fanned out by stream, never stepping back."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from eduengine import FixedClock, InMemoryStore, School
from eduengine.deals import GroupDealCampaign
from eduengine.errors import FeedGap
from eduengine.payments import FakePaymentGateway
from eduengine.pricing import Money
from eduengine.web.aio import AsyncSchool
from eduengine.web.live import FeedHub, Runner


def test_group_progress_reaches_its_subscribers_in_sequence(clock: FixedClock) -> None:
    school = School.build(
        InMemoryStore(), clock=clock, reminders=None, gateway=FakePaymentGateway()
    )
    school.deals.create_campaign(
        GroupDealCampaign(
            id="spring",
            course_id="py",
            list_price=Money("199.00", "CNY"),
            group_price=Money("99.00", "CNY"),
            required_size=3,
            starts_at=clock.now(),
            ends_at=clock.now() + timedelta(days=30),
        )
    )

    for student in ("ann", "bob", "cem"):
        school.payments.add_method(student, f"acct-{student}")

    async def main() -> list[tuple[int, int]]:
        async with AsyncSchool(school) as aschool:
            hub = FeedHub(school.feed, aschool.run, poll=0.01)
            await hub.start()
            group = await aschool.deals.open_group("spring", "ann")
            with hub.subscribe(f"group:{group.id}") as progress:
                # what the page was shown already (the group as opened) is not sent again
                progress.skip_to(await aschool.run(_sequence, school, f"group:{group.id}"))
                await aschool.deals.join_group(group.id, "bob")
                await aschool.deals.join_group(group.id, "cem")
                seen: list[tuple[int, int]] = []
                while True:
                    message = await asyncio.wait_for(progress.next(), timeout=5)
                    if message["type"] == "deals.member_joined":
                        seen.append((message["data"]["members"], message["sequence"]))
                    if len(seen) == 2:
                        break
            await hub.stop()
            return seen

    seen = asyncio.run(main())
    assert [members for members, _ in seen] == [2, 3]
    assert seen[1][1] > seen[0][1]


def _sequence(school: School, stream: str) -> int:
    store = school.feed.store
    assert isinstance(store, InMemoryStore)
    return store.stream_sequence(stream)


def test_a_subscription_drops_what_its_client_has_already_shown(clock: FixedClock) -> None:
    school = School.build(InMemoryStore(), clock=clock, reminders=None)
    slot = school.booking.create_slot(
        "math", clock.now() + timedelta(hours=2), clock.now() + timedelta(hours=3), capacity=5
    )

    async def main() -> list[int]:
        async with AsyncSchool(school) as aschool:
            hub = FeedHub(school.feed, aschool.run, poll=0.01)
            await hub.start()
            with hub.subscribe(f"slot:{slot.id}") as updates:
                for student in ("ann", "bob", "cem"):
                    await aschool.booking.book(slot.id, student)
                # the client's snapshot already showed the first two bookings
                updates.skip_to(3)
                message = await asyncio.wait_for(updates.next(), timeout=5)
            await hub.stop()
            return [message["sequence"], message["data"]["seats_left"]]

    assert asyncio.run(main()) == [4, 2]


def test_a_subscriber_that_falls_behind_is_closed_not_buffered_forever(
    clock: FixedClock,
) -> None:
    school = School.build(InMemoryStore(), clock=clock, reminders=None)
    slot = school.booking.create_slot(
        "math", clock.now() + timedelta(hours=2), clock.now() + timedelta(hours=3), capacity=9
    )

    async def main() -> None:
        async with AsyncSchool(school) as aschool:
            hub = FeedHub(school.feed, aschool.run, poll=0.01)
            await hub.start()
            with hub.subscribe(f"slot:{slot.id}", maxsize=2) as updates:
                for n in range(4):
                    await aschool.booking.book(slot.id, f"s{n}")
                for _ in range(100):
                    if updates.overflowed:
                        break
                    await asyncio.sleep(0.01)
                assert updates.overflowed
                await updates.next()
                await updates.next()  # what was queued is still handed out ...
                with pytest.raises(OverflowError):
                    await updates.next()  # ... then the client is told to start again
            assert list(hub.streams()) == []
            await hub.stop()

    asyncio.run(main())


def test_a_subscription_that_meets_a_gap_in_its_stream_says_so(clock: FixedClock) -> None:
    school = School.build(InMemoryStore(), clock=clock, reminders=None)
    slot = school.booking.create_slot(
        "math", clock.now() + timedelta(hours=2), clock.now() + timedelta(hours=3), capacity=5
    )
    stream = f"slot:{slot.id}"

    async def main() -> tuple[FeedGap, int]:
        async with AsyncSchool(school) as aschool:
            # the hub reads the feed through this gate, so the test can hold it back
            # while events are pruned, as a hub that fell behind a pruning job would be
            gate, held = asyncio.Event(), asyncio.Event()
            gate.set()

            async def run(fn: Any, *args: Any) -> Any:
                if not gate.is_set():
                    held.set()
                await gate.wait()
                return await aschool.run(fn, *args)

            runner: Runner = run
            hub = FeedHub(school.feed, runner, poll=0.01)
            await hub.start()
            with hub.subscribe(stream) as updates:
                updates.skip_to(_sequence(school, stream))  # the page shows the new slot
                gate.clear()
                await held.wait()
                await aschool.booking.book(slot.id, "ann")  # sequence 2, never read ...
                clock.advance(timedelta(hours=1))
                await aschool.booking.book(slot.id, "bob")  # sequence 3
                pruned = school.feed.prune(timedelta(minutes=30))  # ... it is pruned
                assert pruned == 2  # the slot's creation and ann's seat
                gate.set()
                with pytest.raises(FeedGap) as gap:
                    await asyncio.wait_for(updates.next(), timeout=5)
                # the page reloads its snapshot and goes on from there
                updates.skip_to(_sequence(school, stream))
                await aschool.booking.book(slot.id, "cem")
                message = await asyncio.wait_for(updates.next(), timeout=5)
            await hub.stop()
            return gap.value, int(message["sequence"])

    gap, after = asyncio.run(main())
    assert (gap.stream, gap.expected, gap.got) == (stream, 2, 3)
    assert gap.code == "feed_gap" and "missed event 2" in str(gap)
    assert after == 4


def test_a_subscription_hands_out_every_event_of_its_stream_in_turn(clock: FixedClock) -> None:
    school = School.build(InMemoryStore(), clock=clock, reminders=None)
    slot = school.booking.create_slot(
        "math", clock.now() + timedelta(hours=2), clock.now() + timedelta(hours=3), capacity=5
    )

    async def main() -> list[int]:
        async with AsyncSchool(school) as aschool:
            hub = FeedHub(school.feed, aschool.run, poll=0.01)
            await hub.start()
            with hub.subscribe(f"slot:{slot.id}", after_sequence=1) as updates:
                for student in ("ann", "bob", "cem"):
                    await aschool.booking.book(slot.id, student)
                seen = [
                    int((await asyncio.wait_for(updates.next(), timeout=5))["sequence"])
                    for _ in range(3)
                ]
            await hub.stop()
            return seen

    assert asyncio.run(main()) == [2, 3, 4]
