"""Live updates for web pages: one feed tail per process, fanned out to its clients.

A :class:`FeedHub` follows the store's event feed (``school.feed``, committed events of
*every* process in commit order) from one asyncio task, and hands each envelope to the
subscribers of its stream (``"slot:<id>"``, ``"group:<id>"``). Every web worker runs its
own hub, so every client of every worker sees every commit, whichever worker (or cron
job) made it. A :class:`Subscription` yields each stream's envelopes once, in
``sequence`` order, and drops any not newer than what its client has already been shown
(the snapshot it started from), so a page never steps back to a stale count. A stream's
events are numbered without gaps, so one that arrives after a gap (events pruned from
the feed before the hub read them) raises :class:`~eduengine.errors.FeedGap` instead of
being passed off as the next: the page reloads its snapshot rather than show a count
that silently missed a change.

>>> import asyncio
>>> from datetime import datetime, timedelta, timezone
>>> from eduengine import FixedClock, InMemoryStore, School
>>> from eduengine.web.aio import AsyncSchool
>>> clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
>>> school = School.build(InMemoryStore(), clock=clock, reminders=None)
>>> slot = school.booking.create_slot("math", clock.now() + timedelta(hours=2),
...                                   clock.now() + timedelta(hours=3), capacity=2)
>>> async def main() -> list[int]:
...     async with AsyncSchool(school) as aschool:
...         hub = FeedHub(school.feed, aschool.run, poll=0.01)
...         await hub.start()
...         with hub.subscribe(f"slot:{slot.id}") as updates:
...             await aschool.booking.book(slot.id, "ann")
...             await aschool.booking.book(slot.id, "bob")
...             seen = [(await updates.next())["data"]["seats_left"] for _ in range(2)]
...         await hub.stop()
...         return seen
>>> asyncio.run(main())
[1, 0]
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from types import TracebackType
from typing import Any, Self

from eduengine.errors import FeedGap
from eduengine.events.feed import MAX_POSITION, EventFeed
from eduengine.kernel.inputs import MAX_ID_LENGTH, check_int, check_text

log = logging.getLogger("eduengine.live")

Message = dict[str, Any]
"""An envelope as a JSON object (see docs/events.md) with its feed ``position``."""

Runner = Callable[..., Awaitable[Any]]
"""Runs a blocking call off the event loop: ``AsyncSchool.run`` or ``asyncio.to_thread``."""


class Subscription:
    """The envelopes of one stream, newest-only; use it as a context manager so it is
    removed from the hub when the client goes away.

    Once it knows what its client holds (``after_sequence``, :meth:`skip_to`, or the
    first envelope it handed out), every envelope it hands out is the very next of the
    stream; one that is not raises :class:`~eduengine.errors.FeedGap`.
    """

    def __init__(self, hub: FeedHub, stream: str, after_sequence: int | None, maxsize: int) -> None:
        self.hub = hub
        self.stream = stream
        #: the last sequence number handed out (or shown in the client's snapshot)
        self.sequence = after_sequence or 0
        #: whether ``sequence`` is what the client holds, so a jump past it is a gap
        self.anchored = after_sequence is not None
        self._queue: asyncio.Queue[Message] = asyncio.Queue(maxsize)
        self.overflowed = False

    def offer(self, message: Message) -> None:
        if self.overflowed:
            return
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            # a client too slow to keep up: it is told to reload rather than made to
            # hold the whole feed in memory
            self.overflowed = True
            log.warning("subscriber of %s fell behind; closing it", self.stream)

    def skip_to(self, sequence: int) -> None:
        """The client was shown the stream at ``sequence`` (a snapshot): drop older, and
        expect ``sequence + 1`` next. Call it again with a fresh snapshot's sequence
        after a :class:`~eduengine.errors.FeedGap`."""
        self.sequence = max(self.sequence, sequence)
        self.anchored = True

    async def next(self) -> Message:
        """The next envelope of the stream after everything handed out so far.

        Raises :class:`~eduengine.errors.FeedGap` if the feed skipped some (the envelope
        after the gap is consumed: a snapshot read now already shows it), and
        ``OverflowError`` once the subscriber fell behind and was dropped.
        """
        while True:
            if self.overflowed and self._queue.empty():
                raise OverflowError(f"subscriber of {self.stream} fell behind the feed")
            message = await self._queue.get()
            sequence = int(message["sequence"])
            if sequence <= self.sequence:
                continue  # the client has it already
            expected, self.sequence = self.sequence + 1, sequence
            if self.anchored and sequence != expected:
                log.warning(
                    "live stream %s missed events %d to %d", self.stream, expected, sequence - 1
                )
                raise FeedGap(self.stream, expected, sequence)
            self.anchored = True
            return message

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Message:
        return await self.next()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.hub._remove(self)


class FeedHub:
    """Tails ``feed`` in one asyncio task and fans each envelope out by stream.

    ``run`` calls the blocking feed read off the event loop (``aschool.run``); ``poll``
    is the pause after a read that found nothing new. :meth:`start` begins at the feed's
    head: a hub shows what commits from then on (pages load their starting state with
    a snapshot, see :meth:`subscribe`).
    """

    def __init__(
        self, feed: EventFeed, run: Runner, *, poll: float = 0.05, page: int = 500
    ) -> None:
        self.feed = feed
        self._run_blocking = run
        self.poll = poll
        self.page = page
        self.position = 0
        self._streams: dict[str, set[Subscription]] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.position = await self._run_blocking(self.feed.head)
        self._task = asyncio.create_task(self._tail(), name="eduengine-feed-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def subscribe(
        self, stream: str, *, after_sequence: int | None = None, maxsize: int = 1000
    ) -> Subscription:
        """A subscription to ``stream`` (``"slot:<id>"``) from now on; subscribe *before*
        reading a snapshot and pass its sequence to :meth:`Subscription.skip_to`, so no
        commit falls between the two. ``after_sequence`` is what the client already
        holds, if it is known now."""
        check_text(stream, "stream", max_length=MAX_ID_LENGTH + 64)
        if after_sequence is not None:
            check_int(after_sequence, "after_sequence", high=MAX_POSITION)
        check_int(maxsize, "maxsize", low=1)
        sub = Subscription(self, stream, after_sequence, maxsize)
        self._streams.setdefault(stream, set()).add(sub)
        return sub

    def _remove(self, sub: Subscription) -> None:
        subs = self._streams.get(sub.stream)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._streams[sub.stream]

    async def _tail(self) -> None:
        while True:
            try:
                rows = await self._run_blocking(self.feed.rows_since, self.position, self.page)
            except Exception:
                # the database may be restarting: keep the cursor, try again shortly
                log.exception("reading the event feed failed; retrying")
                await asyncio.sleep(1.0)
                continue
            for position, text in rows:
                self.position = position
                self._deliver(position, text)
            if len(rows) < self.page:
                await asyncio.sleep(self.poll)

    def _deliver(self, position: int, text: str) -> None:
        head = json.loads(text)
        subs = self._streams.get(f"{head['aggregate_type']}:{head['aggregate_id']}")
        if not subs:
            return
        head["position"] = position
        for sub in list(subs):
            sub.offer(head)

    def streams(self) -> Iterator[str]:
        """The streams someone is subscribed to (for monitoring)."""
        return iter(list(self._streams))
