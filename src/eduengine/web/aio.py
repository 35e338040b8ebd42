"""An asyncio facade over a school: ``await aschool.booking.book(...)`` from FastAPI,
Starlette or any asyncio host, without blocking its event loop.

Each call runs the ordinary (synchronous) service method on a worker thread of a pool
owned by the facade, in a copy of the caller's :mod:`contextvars` context (so
``store.joined(conn)`` and logging context carry over), and the coroutine resumes with
its result or its exception: the same typed errors as the synchronous API.

Why threads, not native async adapters: a command's consistency rests on blocking
primitives (SQLite's write lock with ``busy_timeout``, PostgreSQL row locks behind a
``psycopg_pool`` pool, the in-memory store's ``threading.Lock``), and a command is short
(a few milliseconds of I/O, during which the GIL is released). Native async adapters
would double the adapter code and its contract suite for no gain in correctness; a
bounded pool keeps the number of commands in flight (and so of database connections)
under the host's control. See ``docs/embedding.md``.

>>> import asyncio
>>> from datetime import datetime, timedelta, timezone
>>> from eduengine import FixedClock, InMemoryStore, School
>>> from eduengine.people import SYSTEM
>>> clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
>>> school = School.build(InMemoryStore(), clock=clock, reminders=None)
>>> async def main() -> int:
...     async with AsyncSchool(school) as aschool:
...         slot = await aschool.booking.create_slot(
...             "math", clock.now() + timedelta(hours=2), clock.now() + timedelta(hours=3),
...             capacity=3)
...         await aschool.booking.book(slot.id, "ann")
...         return (await aschool.booking.get_slot(slot.id, actor=SYSTEM)).seats_left
>>> asyncio.run(main())
2

Every method is typed as its synchronous one, awaitable: for mypy
``await aschool.booking.book(slot_id, "ann")`` is a ``Booking`` and a wrong argument is
an error (the proxies are generated from the services: :mod:`eduengine.web.aio_services`).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import ParamSpec, Self, TypeVar

from eduengine.booking.model import Booking
from eduengine.bootstrap import School
from eduengine.errors import InvalidInput
from eduengine.policies.service import CancellationOutcome
from eduengine.web.aio_proxy import AsyncService as _AsyncService
from eduengine.web.aio_proxy import Runner
from eduengine.web.aio_services import AsyncServices

__all__ = ["AsyncSchool", "AsyncService"]

#: one service, awaitable (defined in :mod:`eduengine.web.aio_proxy`; hosts import it here)
AsyncService = _AsyncService

P = ParamSpec("P")
T = TypeVar("T")


class AsyncSchool(AsyncServices):
    """Every service of ``school``, awaitable.

    ``aschool.booking.book(slot_id, student_id)`` returns a coroutine; so does every
    other public method of every service (``aschool.deals.join_group(...)``, ...), typed
    as the synchronous method (``Booking`` here). :meth:`run` runs any other callable
    the same way: ``await aschool.run(school.feed.read, 0)``.

    ``max_workers`` bounds the commands running at once (the rest wait in the pool's
    queue, not on the event loop); keep it at or below the store's connection pool size
    on PostgreSQL. A cancelled ``await`` does not stop its command, which runs to its
    end (commit or rollback) on its thread: a transaction is never cut half-way.
    Call :meth:`close` (or use ``async with``) when the application shuts down.
    """

    def __init__(self, school: School, *, max_workers: int | None = None) -> None:
        if max_workers is not None and (isinstance(max_workers, bool) or max_workers < 1):
            raise InvalidInput(f"max_workers must be a positive int, got {max_workers!r}")
        self.school = school
        self._pool = ThreadPoolExecutor(
            max_workers=max_workers or min(32, (os.cpu_count() or 1) + 4),
            thread_name_prefix="eduengine",
        )

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``fn(*args, **kwargs)`` on the facade's pool, awaited."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        call = functools.partial(context.run, fn, *args, **kwargs)
        return await loop.run_in_executor(self._pool, call)

    async def book(
        self,
        slot_id: str,
        student_id: str,
        *,
        require_credit: bool = False,
        idempotency_key: str | None = None,
    ) -> Booking:
        """:meth:`School.book`, awaited."""
        return await self.run(
            self.school.book,
            slot_id,
            student_id,
            require_credit=require_credit,
            idempotency_key=idempotency_key,
        )

    async def cancel(
        self,
        booking_id: str,
        *,
        reason_code: str | None = None,
        idempotency_key: str | None = None,
    ) -> CancellationOutcome:
        """:meth:`School.cancel`, awaited."""
        return await self.run(
            self.school.cancel,
            booking_id,
            reason_code=reason_code,
            idempotency_key=idempotency_key,
        )

    def _runner(self) -> Runner:
        return self

    def __getattr__(self, name: str) -> AsyncService:
        # what is not a typed service (a host's attribute set on its school): untyped
        service = getattr(self.school, name)
        if name.startswith("_") or callable(service):
            raise AttributeError(f"School.{name} is not a service")
        return AsyncService(service, self)

    def close(self) -> None:
        """Wait for the commands in flight, then release the pool's threads."""
        self._pool.shutdown(wait=True)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.close)
