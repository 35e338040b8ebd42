"""Units of work inside a transaction the host already opened (both SQL adapters).

``with store.joined(conn) as tx:`` makes every unit of work the store hands out in that
block (in this thread or asyncio task, and in :class:`~eduengine.aio.AsyncSchool` calls
made from it) run on the host's connection ``conn`` instead of one of its own. Such a
unit of work neither begins nor commits: it wraps the command in a savepoint, so a
refused command still changes nothing and leaves the host's transaction usable, and its
"commit" releases the savepoint. Whether the seat is kept is the host's decision: its
``COMMIT`` keeps it, its ``ROLLBACK`` undoes it (and the outbox rows written with it).

The events of the commands are therefore *not* published when each command returns, as
they would be outside: they collect in ``tx.events``, and the host publishes them after
its own commit (``tx.publish(school.bus)``, or Django's ``transaction.on_commit``), so
no page is ever shown a seat that a rollback took back.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Generic, TypeVar

from eduengine.errors import InvalidInput, LockTimeout
from eduengine.kernel.envelope import Envelope
from eduengine.kernel.events import DomainEvent
from eduengine.service_layer.messagebus import MessageBus

C = TypeVar("C")

#: the savepoint each joined write unit of work runs in
SAVEPOINT = "eduengine_uow"


class Joined(Generic[C]):
    """The host's transaction on ``conn``, as joined by one store.

    ``events`` are the committed commands' events, oldest first, waiting for the host's
    commit, and ``envelopes`` their numbered envelopes (already in the store's feed, which
    the host's commit makes visible); :meth:`publish` hands both to a bus's publishers
    and listeners (and forgets them).
    Commands on one connection run one at a time (``in_use``), even when awaited
    together through ``AsyncSchool``: a connection carries one transaction.
    """

    def __init__(self, store: object, conn: C) -> None:
        self.store = store
        self.conn = conn
        self.events: list[DomainEvent] = []
        self.envelopes: list[Envelope] = []
        self.in_use = threading.Lock()

    def acquire(self, timeout: float) -> None:
        """Take the connection for one unit of work, waiting at most ``timeout`` s."""
        if not self.in_use.acquire(timeout=timeout):
            raise LockTimeout(
                f"store.joined(conn): the connection was busy with another command for "
                f"more than {timeout}s"
            )

    def publish(self, bus: MessageBus) -> None:
        """Publish the events collected so far: call it after the host committed."""
        events, self.events = self.events, []
        envelopes, self.envelopes = self.envelopes, []
        if events or envelopes:
            bus.publish(events, envelopes)


_current: ContextVar[Joined[object] | None] = ContextVar("eduengine_joined", default=None)


class JoinsHostTransactions(Generic[C]):
    """``joined(conn)`` for a store whose connections are of type ``C``."""

    @contextmanager
    def joined(self, conn: C) -> Iterator[Joined[C]]:
        """Run this store's units of work on ``conn``, inside the host's transaction.

        Nested ``joined`` blocks on the same connection share one :class:`Joined`.
        """
        current = self._joined()
        if current is not None and current.conn is not conn:
            raise InvalidInput(
                "store.joined(conn) is already open on another connection in this context"
            )
        handle: Joined[C] = current if current is not None else Joined(self, conn)
        token = _current.set(handle)  # type: ignore[arg-type]  # one store, one C
        try:
            yield handle
        finally:
            _current.reset(token)

    def _joined(self) -> Joined[C] | None:
        """The host transaction this store's units of work join here, if any."""
        handle = _current.get()
        if handle is None or handle.store is not self:
            return None
        return handle  # type: ignore[return-value]  # set by joined() of this store
