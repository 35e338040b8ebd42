"""Running a command: each one runs in one unit of work, its events go to the bus's
handlers inside it, and are published only after that unit of work committed.

>>> from datetime import datetime, timedelta, timezone
>>> from eduengine import BookingService, FixedClock, InMemoryStore
>>> clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
>>> svc = BookingService(InMemoryStore().unit_of_work, clock=clock)
>>> slot = svc.create_slot("math", clock.now() + timedelta(days=1),
...                        clock.now() + timedelta(days=1, hours=1), capacity=1)
>>> svc.book(slot.id, "ann").status.value
'confirmed'
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, TypedDict, TypeVar

from eduengine.errors import DomainError, EduEngineError, LockTimeout, RetryableConflict
from eduengine.kernel.clock import Clock, SystemClock
from eduengine.kernel.codec import micros
from eduengine.kernel.ids import IdFactory, uuid_ids
from eduengine.kernel.inputs import check_int
from eduengine.service_layer.messagebus import MessageBus
from eduengine.service_layer.ports import (
    EventPublisher,
    IndexEntries,
    RecordRepository,
    UnitOfWork,
    UnitOfWorkFactory,
    open_read_only,
)
from eduengine.service_layer.streams import stamp

T = TypeVar("T")

#: attributes every LogRecord has: an id must not overwrite one through ``extra``
_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "command",
}


def _package_logger(module: str) -> str:
    # eduengine.deals.service -> eduengine.deals; a host's own service keeps its module
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "eduengine" else module


class ServiceOptions(TypedDict, total=False):
    """The keyword arguments of :class:`ServiceBase` that every service passes on as
    they are (``clock``, ``publisher``, ``new_id``, ``bus``): a service declares
    ``**base: Unpack[ServiceOptions]`` and hands them to ``super().__init__``."""

    clock: Clock | None
    publisher: EventPublisher | None
    new_id: IdFactory | None
    bus: MessageBus | None


class ServiceBase:
    """Runs each command in one unit of work, dispatches its events to the bus's
    handlers inside it, and publishes them after commit.

    ``uow`` makes a fresh unit of work per call (e.g. ``InMemoryStore().unit_of_work`` or
    ``SqliteStore(path).unit_of_work``); ``clock`` supplies ``now``; ``publisher`` receives
    each command's events after commit; ``new_id`` makes ids (uuid4 hex by default);
    ``bus`` carries the school's rules (see :class:`eduengine.School`, which builds every
    service on one bus). Every service of the library builds on it.

    Each command is logged to ``eduengine.<package>`` (``self.log``): DEBUG when it
    commits, INFO when a rule refuses it (``extra["error"]`` names the error class),
    WARNING for a conflict retried and a lock timeout; ``extra["command"]`` is
    ``<service class>.<method>``, and the ids the call passed
    (``self._run(command, ids={"slot_id": slot_id})``) are in ``extra`` for structured
    log handlers.
    """

    #: the logger's name (None: ``eduengine.<package>`` of the subclass's module)
    logger_name: str | None = None

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        clock: Clock | None = None,
        publisher: EventPublisher | None = None,
        new_id: IdFactory | None = None,
        bus: MessageBus | None = None,
    ) -> None:
        self._uow = uow
        self.log = logging.getLogger(self.logger_name or _package_logger(type(self).__module__))
        self.clock: Clock = clock or SystemClock()
        self.bus: MessageBus = bus if bus is not None else MessageBus()
        if publisher is not None and publisher not in self.bus.publishers:
            self.bus.publishers.append(publisher)
        self._new_id: IdFactory = new_id or uuid_ids
        #: how often a command is tried when storage reports a transient conflict
        self.max_attempts = 3
        #: after each batch a sweep rests this many times as long as the batch took
        self.sweep_rest = 1.0

    def _run(
        self,
        command: Callable[[UnitOfWork, datetime], T],
        *,
        write: bool = True,
        ids: Mapping[str, str | None] | None = None,
    ) -> T:
        """Run ``command(uow, now)`` in a fresh unit of work, retrying a transient
        conflict; ``write=False`` runs it read-only. ``ids`` are the ids the command works
        on (``{"slot_id": slot_id}``), put in its log records' ``extra`` (one that is
        ``None``, an optional id not given, is left out)."""
        log = self.log
        started = time.monotonic()
        bus = self.bus
        for attempt in range(1, self.max_attempts + 1):
            now = self.clock.now()
            ticket: int | None = None
            unheard = False
            try:
                # a query reads without the write lock (SQLite) or row locks (PostgreSQL),
                # so reports never hold up bookings; a write in it raises InvalidInput
                uow = self._uow() if write else open_read_only(self._uow)
                with uow:
                    result = command(uow, now)
                    if not write:
                        return result
                    # the school's rules run before commit: a handler that refuses
                    # rolls the whole command back
                    raised = bus.dispatch(uow)
                    envelopes = stamp(uow, raised) if raised else []
                    if raised and bus.heard:
                        # taken while this command still holds its aggregates' locks,
                        # so the bus publishes each aggregate's events in commit order
                        ticket = bus.reserve()
                    elif raised:
                        # nobody to publish to (a bare service): no place to keep, and a
                        # publisher added meanwhile does not get these out of order
                        unheard = True
                    uow.stage_feed(envelopes)
                    uow.commit()
                    events = uow.collect_events()
                    written: Sequence[tuple[int, str]] = getattr(uow, "committed_feed", ())
                    if envelopes and not unheard and len(written) == len(envelopes):
                        # the store reported where its commit put them in the feed
                        envelopes = [
                            e.at(at) for e, (at, _) in zip(envelopes, written, strict=True)
                        ]
                    if raised and not events:
                        # a unit of work in a host's transaction (store.joined) holds its
                        # events back until the host commits; the host publishes them
                        envelopes = []
                break
            except BaseException as exc:
                if ticket is not None:
                    bus.release(ticket, committed=False)
                retry = isinstance(exc, RetryableConflict) and attempt < self.max_attempts
                if isinstance(exc, EduEngineError):
                    self._log_failure(command, ids, exc, attempt, retry=retry)
                # The unit of work rolled back; the command reloads everything it needs,
                # so running it again from the top is safe.
                if not retry:
                    raise
        if log.isEnabledFor(logging.DEBUG):
            name, named = self._describe(command, ids)
            log.debug(
                "%s committed (%d event(s), %.1f ms)",
                name,
                len(events),
                (time.monotonic() - started) * 1000,
                extra={"command": name, "events": len(events), "attempt": attempt, **named},
            )
        if ticket is not None:
            bus.release(ticket, events, envelopes)
        elif events and not unheard:
            bus.publish(events)
        return result

    def _describe(
        self, command: Callable[..., object], ids: Mapping[str, str | None] | None
    ) -> tuple[str, dict[str, str]]:
        """The command's name for the log (``DealService.join_group``: the public class,
        even when a mixin defines the method) and the ids its call site passed."""
        # a partial (or any callable object) has no qualified name of its own
        made = getattr(command, "func", command)
        qualname = getattr(made, "__qualname__", None) or type(made).__qualname__
        method = qualname.split(".<locals>", 1)[0].rsplit(".", 1)[-1]
        name = f"{type(self).__name__}.{method}"
        named = {
            key: value
            for key, value in (ids or {}).items()
            if value is not None and key not in _RECORD_FIELDS
        }
        return name, named

    def _log_failure(
        self,
        command: Callable[..., object],
        ids: Mapping[str, str | None] | None,
        exc: EduEngineError,
        attempt: int,
        *,
        retry: bool,
    ) -> None:
        """Log a command that did not commit: a refusal at INFO, a conflict (retried or
        not) and a lock timeout at WARNING, any other storage failure at ERROR."""
        if isinstance(exc, DomainError):
            level, what = logging.INFO, "refused"
        elif isinstance(exc, RetryableConflict):
            level = logging.WARNING
            what = "conflict, retrying" if retry else "conflict, retries exhausted"
        elif isinstance(exc, LockTimeout):
            level, what = logging.WARNING, "lock timeout"
        else:
            level, what = logging.ERROR, "failed"
        if not self.log.isEnabledFor(level):
            return
        name, named = self._describe(command, ids)
        self.log.log(
            level,
            "%s %s (attempt %d of %d): %s: %s",
            name,
            what,
            attempt,
            self.max_attempts,
            type(exc).__name__,
            exc,
            extra={"command": name, "error": type(exc).__name__, "attempt": attempt, **named},
        )

    def _run_batch(
        self,
        command: Callable[[UnitOfWork, datetime], T],
        *,
        ids: Mapping[str, str | None] | None = None,
    ) -> T:
        """Run one batch of a sweep, then rest: SQLite's write lock is not fair, and a
        sweep that takes it back at once can starve a booking polling for it, so a sweep
        leaves the lock free for about as long as it held it."""
        started = time.monotonic()
        result = self._run(command, ids=ids)
        self._rest(started)
        return result

    def _rest(self, started: float) -> None:
        time.sleep((time.monotonic() - started) * self.sweep_rest)

    def _refile_all(
        self,
        kind: str,
        refile: Callable[[UnitOfWork, str, dict[str, Any]], object],
        batch: int = 500,
    ) -> int:
        """Write every document of ``kind`` again through ``refile(uow, key, doc)``, in
        units of work of ``batch`` documents (PostgreSQL's lock table holds only some
        thousands of locks per transaction); returns how many were refiled (``refile``
        returning ``False`` skips one). For one-off upgrade steps: it reads every document
        of the kind."""
        keys = self._run(lambda uow, now: [key for key, _ in uow.records.list(kind)], write=False)

        def rewrite(chunk: list[str]) -> Callable[[UnitOfWork, datetime], int]:
            def command(uow: UnitOfWork, now: datetime) -> int:
                done = 0
                for key in chunk:
                    doc = uow.records.get(kind, key)
                    if doc is not None and refile(uow, key, doc) is not False:
                        done += 1
                return done

            return command

        return sum(
            self._run_batch(rewrite(keys[n : n + batch])) for n in range(0, len(keys), batch)
        )

    def _due_batches(self, kind: str, index: str, batch: int) -> Iterator[list[str]]:
        """Keys of ``kind`` filed under ``index`` at or before now, ``batch`` at a time.

        Each batch is found in a read-only unit of work (a sweep with nothing due takes no
        write lock), and the batches page by ``(value, key)``, so a row the caller could
        not finish (it stays due) is not offered again and does not hide the rows after
        it.
        """
        check_int(batch, "batch", low=1)
        cursor: tuple[int, str] | None = None
        while True:

            def find(
                uow: UnitOfWork, now: datetime, after: tuple[int, str] | None = cursor
            ) -> IndexEntries:
                return scan_after(uow.records, kind, index, after, micros(now), batch)

            rows = self._run(find, write=False)
            if not rows:
                return
            yield [key for key, _ in rows]
            cursor = rows[-1][1], rows[-1][0]

    def _sweep_due(
        self, kind: str, index: str, handle: Callable[[str], object], batch: int
    ) -> None:
        """Hand every key of :meth:`_due_batches` to ``handle`` once; ``handle`` runs its own
        short unit of work per key, and the sweep rests after each (see :meth:`_run_batch`)."""
        for keys in self._due_batches(kind, index, batch):
            for key in keys:
                started = time.monotonic()
                handle(key)
                self._rest(started)


def scan_after(
    records: RecordRepository,
    kind: str,
    index: str,
    after: tuple[int, str] | None,
    hi: int,
    limit: int,
) -> IndexEntries:
    """Up to ``limit`` ``(key, value)`` of ``index`` with ``(value, key)`` past ``after``
    and ``value <= hi``: keyset paging over an index."""
    if after is None:
        return records.scan(kind, index, hi=hi, limit=limit)
    value, key = after
    want = limit
    while True:
        # rows sharing ``value`` with the cursor come first; skip those already read
        rows = records.scan(kind, index, lo=value, hi=hi, limit=want)
        fresh = [(k, v) for k, v in rows if (v, k) > (value, key)]
        if fresh or len(rows) < want:
            return fresh[:limit]
        want *= 2
