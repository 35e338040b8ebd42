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
>>> clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
>>> school = School.build(InMemoryStore(), clock=clock, reminders=None)
>>> async def main() -> int:
...     async with AsyncSchool(school) as aschool:
...         slot = await aschool.booking.create_slot(
...             "math", clock.now() + timedelta(hours=2), clock.now() + timedelta(hours=3),
...             capacity=3)
...         await aschool.booking.book(slot.id, "ann")
...         return (await aschool.run(school.booking.get_slot, slot.id)).seats_left
>>> asyncio.run(main())
2
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any, ParamSpec, Self, TypeVar

from eduengine.bootstrap import School
from eduengine.errors import InvalidInput

P = ParamSpec("P")
T = TypeVar("T")


class AsyncSchool:
    """Every service of ``school``, awaitable.

    ``aschool.booking.book(slot_id, student_id)`` returns a coroutine; so does every
    other public method of every service (``aschool.deals.join_group(...)``, ...).
    For precise static types use :meth:`run`:
    ``await aschool.run(school.booking.book, slot_id, "ann")`` is typed as ``Booking``.

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

    def __getattr__(self, name: str) -> AsyncService:
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


class AsyncService:
    """One service whose public methods return coroutines (see :class:`AsyncSchool`)."""

    def __init__(self, service: object, facade: AsyncSchool) -> None:
        self._service = service
        self._facade = facade

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        method = getattr(self._service, name)
        if name.startswith("_") or not callable(method):
            raise AttributeError(f"{type(self._service).__name__}.{name} is not a command")

        @functools.wraps(method)
        async def call(*args: Any, **kwargs: Any) -> Any:
            return await self._facade.run(method, *args, **kwargs)

        return call
