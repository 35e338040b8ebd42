"""Erasure of a student's personal data across every module (注销 / 彻底清除).

Each module that stores personal data (profiles, group-deal members and risk logs,
reminders, ...) registers an :data:`Eraser` with the school's :class:`ErasureRegistry`.
``StudentService.erase`` runs every eraser in the same unit of work as the profile's
erasure, so a student is erased everywhere or nowhere, and returns an
:class:`ErasureReport` of what each module removed.

>>> from datetime import datetime, timezone
>>> from eduengine import InMemoryStore
>>> registry = ErasureRegistry()
>>> registry.register("notes", lambda uow, student_id, now: 2)
>>> with InMemoryStore().unit_of_work() as uow:
...     registry.erase(uow, "ann", datetime(2026, 1, 1, tzinfo=timezone.utc)).removed
{'notes': 2}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

from eduengine.errors import InvalidInput
from eduengine.kernel.inputs import check_id
from eduengine.service_layer.ports import UnitOfWork

Eraser = Callable[[UnitOfWork, str, datetime], int]
"""Scrubs one student's personal data from a module; returns how many items it changed."""


@runtime_checkable
class ScrubsOnCommit(Protocol):
    """A unit of work whose store keeps old versions of what it changes (SQLite's WAL)
    and can make them unreadable once it commits; erasure asks it to."""

    def scrub_on_commit(self) -> None: ...


@attrs.frozen(kw_only=True)
class ErasureReport:
    """What each module removed for one student (module name -> items scrubbed)."""

    student_id: str
    removed: Mapping[str, int]

    @property
    def total(self) -> int:
        return sum(self.removed.values())


class ErasureRegistry:
    """The erasers of every module of a school, run together in one unit of work."""

    def __init__(self) -> None:
        self._erasers: dict[str, Eraser] = {}

    def register(self, module: str, eraser: Eraser) -> None:
        check_id(module, "module")
        if module in self._erasers:
            raise InvalidInput(f"an eraser for {module!r} is already registered")
        self._erasers[module] = eraser

    @property
    def modules(self) -> list[str]:
        return list(self._erasers)

    def erase(self, uow: UnitOfWork, student_id: str, now: datetime) -> ErasureReport:
        if isinstance(uow, ScrubsOnCommit):
            # an erased value must not stay readable in the database files either
            uow.scrub_on_commit()
        removed = {module: eraser(uow, student_id, now) for module, eraser in self._erasers.items()}
        shred = getattr(uow.records, "shred", None)
        if callable(shred):
            # last, once every module scrubbed: any copy of her values left anywhere (a
            # module without an eraser, an old page of the database file) is unreadable
            shred(student_id)
        return ErasureReport(student_id=student_id, removed=removed)
