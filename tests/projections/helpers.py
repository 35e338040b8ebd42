"""A counting projection that remembers how often it applied each event, a random
booking history, and a way to read what the feed holds."""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from datetime import timedelta

from eduengine import BookingService, DomainEvent, FixedClock
from eduengine.errors import BookingRefused, InvalidTransition, NotFound
from eduengine.events import EventFeed
from eduengine.events.projections import Projection
from eduengine.kernel.envelope import Envelope
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory, open_read_only
from tests.conftest import T0

#: where the counting projections write: one document per (projection, event)
APPLIED = "test_applied"


def counting(name: str, events: Iterable[type[DomainEvent] | str] | None = None) -> Projection:
    """Counts, per event id, how often it was applied (in the projection's own unit of
    work, so a rolled-back batch leaves no count)."""

    def apply(uow: UnitOfWork, envelopes: Sequence[Envelope]) -> None:
        for envelope in envelopes:
            key = f"{name}:{envelope.id}"
            doc = uow.records.get(APPLIED, key)
            uow.records.put(
                APPLIED,
                key,
                {"n": (doc["n"] if doc else 0) + 1, "position": envelope.position},
            )

    return Projection(name, apply, events=events)


def applied(unit_of_work: UnitOfWorkFactory, name: str) -> dict[str, int]:
    """How often projection ``name`` applied each event, by event id."""
    with open_read_only(unit_of_work) as uow:
        docs = uow.records.list(APPLIED)
    prefix = f"{name}:"
    return {k.removeprefix(prefix): int(d["n"]) for k, d in docs if k.startswith(prefix)}


def feed_ids(feed: EventFeed, types: Iterable[str] | None = None) -> set[str]:
    """The ids of every envelope in the feed (of ``types`` only, if given)."""
    wanted = None if types is None else set(types)
    out: set[str] = set()
    cursor = 0
    while page := feed.events_since(cursor, 1000):
        out.update(e.id for e in page if wanted is None or e.type in wanted)
        cursor = page[-1].position or cursor
    return out


def history(unit_of_work: UnitOfWorkFactory, seed: int, commands: int) -> int:
    """Run ``commands`` random bookings and cancellations (some refused); returns how
    many committed."""
    rng = random.Random(seed)
    clock = FixedClock(T0)
    svc = BookingService(unit_of_work, clock=clock)
    start = T0 + timedelta(days=1)
    slots = [svc.create_slot(f"c{n}", start, start + timedelta(hours=1), 2).id for n in range(2)]
    booked: list[str] = []
    done = 2
    for _ in range(commands):
        try:
            if booked and rng.random() < 0.3:
                svc.cancel(booked.pop(rng.randrange(len(booked))))
            else:
                booked.append(svc.book(rng.choice(slots), f"s{rng.randrange(6)}").id)
            done += 1
        except (BookingRefused, NotFound, InvalidTransition):
            pass
    return done
