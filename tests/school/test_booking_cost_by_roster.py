"""A booking through ``School.build`` (default notices and projections, inline) reads and
writes the same documents whatever the number of students registered (issue #22: "fast
at 100,000 students"), on every adapter: no scan, index read or count of the roster on
the seat's path or in the reactions after it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from eduengine import FixedClock, School
from eduengine.adapters.memory import InMemoryRecordRepository
from eduengine.adapters.sql import SqlRecordRepository
from eduengine.people.model import GuardianRole
from eduengine.students.model import Guardian
from tests.adapters import StoreHandle

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

Reads = Counter[tuple[str, str]]


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[Reads]:
    """Documents and index entries read, and documents written, by (operation, kind)."""
    seen: Reads = Counter()

    def counting(name: str, size: Callable[[Any], int]) -> Callable[..., Any]:
        def wrap(original: Callable[..., Any]) -> Callable[..., Any]:
            def call(self: object, kind: str, *args: Any, **kw: Any) -> Any:
                found = original(self, kind, *args, **kw)
                seen[name, kind] += size(found)
                return found

            return call

        return wrap

    ops = {
        "get": lambda found: 1,
        "get_many": len,
        "list": len,
        "scan": len,
        "scan_documents": len,
        "count": lambda found: 1,
        "put": lambda found: 1,
    }
    # a sealing store's records wrap one of these: each read is counted once, inside
    for repo in (InMemoryRecordRepository, SqlRecordRepository):
        for name, size in ops.items():
            if name in vars(repo):
                monkeypatch.setattr(repo, name, counting(name, size)(vars(repo)[name]))
    yield seen


def _register(school: School, first: int, last: int) -> None:
    for n in range(first, last):
        school.students.register(
            f"s{n}",
            name=f"学员{n}",
            phone=f"139{n:08d}",
            guardians=[
                Guardian(
                    name=f"家长{n}",
                    phone=f"138{n:08d}",
                    roles=frozenset({GuardianRole.RECEIVE_REMINDERS}),
                )
            ],
        )


def _booking(school: School, clock: FixedClock, student: str, reads: Reads) -> Reads:
    start = clock.now() + timedelta(days=2)
    slot = school.booking.create_slot("math", start, start + timedelta(hours=1), capacity=30)
    school.booking.book(slot.id, "s0")  # the slot's first booking, not measured
    school.projections.flush()
    reads.clear()
    school.booking.book(slot.id, student)
    school.projections.flush()  # its reactions (they wait for a batch) are measured too
    measured = Counter(reads)
    clock.advance(timedelta(minutes=1))
    return measured


def test_a_booking_reads_the_same_documents_at_two_roster_sizes(
    store: StoreHandle, reads: Reads
) -> None:
    clock = FixedClock(T0)
    school = School.build(store, clock=clock)
    _register(school, 0, 4)
    small = _booking(school, clock, "s1", reads)
    _register(school, 4, 64)
    large = _booking(school, clock, "s2", reads)
    assert small, "nothing was counted: the spies are not on this adapter's records"
    assert large == small
