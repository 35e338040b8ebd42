"""A group-deal shop on a store under test, and a unit of work that counts reads."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from types import TracebackType
from typing import Self

from eduengine import FixedClock, InMemoryEventBus
from eduengine.deals import (
    AcrossGroups,
    DealService,
    GroupDealCampaign,
    GroupState,
    RiskRule,
    SameDevice,
    SameIp,
    SamePaymentAccount,
    TooManyGroups,
)
from eduengine.deals.risk import DEFAULT_ACROSS_GROUPS
from eduengine.events import Envelope
from eduengine.kernel.events import DomainEvent
from eduengine.payments import FakePaymentGateway
from eduengine.payments.service import PaymentService
from eduengine.pricing import Money
from eduengine.service_layer.ports import (
    BookingRepository,
    IndexEntries,
    JsonValue,
    RecordRepository,
    SeriesRepository,
    SlotRepository,
    UnitOfWork,
)
from tests.adapters import StoreHandle

PRICE = Money("99.00", "CNY")
RULES: tuple[RiskRule, ...] = (
    SameDevice(),
    SameIp(),
    SamePaymentAccount(),
    TooManyGroups(limit=50),
)


class Mall:
    """One campaign ``spring`` (3 to 4 members, 24 hours) on ``store``; ``campaign``
    overrides its settings, ``uow`` wraps each unit of work (to count reads)."""

    def __init__(
        self,
        store: StoreHandle,
        clock: FixedClock,
        *,
        risk_rules: Sequence[RiskRule] = RULES,
        new_code: Callable[[], str] | None = None,
        across_groups: AcrossGroups | None = DEFAULT_ACROSS_GROUPS,
        uow: Callable[[UnitOfWork], UnitOfWork] = lambda inner: inner,
        **campaign: object,
    ) -> None:
        self.clock = clock
        self.bus = InMemoryEventBus()
        self.gateway = FakePaymentGateway()
        def factory(read_only: bool = False) -> UnitOfWork:
            # takes read_only, as the stores' factories do (queries open read-only)
            return uow(store.store.unit_of_work(read_only=read_only))

        self.payments = PaymentService(factory, gateway=self.gateway, clock=clock)
        #: the students whose default payment method is on file (``acct-<student>``)
        self.paying: set[str] = set()
        self.deals = DealService(
            factory,
            gateway=self.gateway,
            clock=clock,
            publisher=self.bus,
            risk_rules=risk_rules,
            new_code=new_code,
            across_groups=across_groups,
        )
        settings: dict[str, object] = {
            "id": "spring",
            "course_id": "python-101",
            "list_price": Money("199.00", "CNY"),
            "group_price": PRICE,
            "required_size": 3,
            "max_size": 4,
            "duration": timedelta(hours=24),
            "starts_at": clock.now(),
            "ends_at": clock.now() + timedelta(days=30),
            "max_joined_per_student": 5,
        }
        settings.update(campaign)
        self.campaign = GroupDealCampaign(**settings)  # type: ignore[arg-type]
        self.deals.create_campaign(self.campaign)

    def pays(self, student: str) -> None:
        """File ``acct-<student>`` as the student's default payment method (once)."""
        if student not in self.paying:
            self.payments.add_method(student, f"acct-{student}")
            self.paying.add(student)

    def open(self, student: str) -> str:
        self.pays(student)
        return self.deals.open_group("spring", student).id

    def join(self, group_id: str, student: str) -> GroupState:
        self.pays(student)
        return self.deals.join_group(group_id, student).state

    def events(self, kind: type) -> list[object]:
        return [e for e in self.bus.events if isinstance(e, kind)]


class CountingRecords:
    """A record repository that counts each call by ``(method, kind)``."""

    def __init__(self, inner: RecordRepository, counts: Counter[tuple[str, str]]) -> None:
        self._inner = inner
        self.counts = counts

    def get(self, kind: str, key: str) -> dict[str, JsonValue] | None:
        self.counts["get", kind] += 1
        return self._inner.get(kind, key)

    def put(
        self,
        kind: str,
        key: str,
        data: dict[str, JsonValue],
        *,
        index: Mapping[str, int] | None = None,
    ) -> None:
        self.counts["put", kind] += 1
        self._inner.put(kind, key, data, index=index)

    def delete(self, kind: str, key: str) -> None:
        self.counts["delete", kind] += 1
        self._inner.delete(kind, key)

    def list(self, kind: str) -> list[tuple[str, dict[str, JsonValue]]]:
        self.counts["list", kind] += 1
        return self._inner.list(kind)

    def scan(
        self,
        kind: str,
        index: str,
        *,
        lo: int | None = None,
        hi: int | None = None,
        limit: int | None = None,
        descending: bool = False,
    ) -> IndexEntries:
        self.counts["scan", kind] += 1
        rows = self._inner.scan(kind, index, lo=lo, hi=hi, limit=limit, descending=descending)
        self.counts["scanned", kind] += len(rows)
        return rows

    def count(self, kind: str, index: str, *, lo: int | None = None, hi: int | None = None) -> int:
        self.counts["count", kind] += 1
        return self._inner.count(kind, index, lo=lo, hi=hi)


class CountingUnitOfWork:
    """Wraps a unit of work so that its record reads and writes are counted."""

    def __init__(self, inner: UnitOfWork, counts: Counter[tuple[str, str]]) -> None:
        self._inner = inner
        self.counts = counts

    @property
    def read_only(self) -> bool:
        return self._inner.read_only

    @read_only.setter
    def read_only(self, value: bool) -> None:
        self._inner.read_only = value

    @property
    def slots(self) -> SlotRepository:
        return self._inner.slots

    @property
    def bookings(self) -> BookingRepository:
        return self._inner.bookings

    @property
    def series(self) -> SeriesRepository:
        return self._inner.series

    @property
    def records(self) -> RecordRepository:
        return CountingRecords(self._inner.records, self.counts)

    def __enter__(self) -> Self:
        self._inner.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._inner.__exit__(exc_type, exc, tb)

    def commit(self) -> None:
        self._inner.commit()

    def rollback(self) -> None:
        self._inner.rollback()

    def record_events(self, events: Sequence[DomainEvent]) -> None:
        self._inner.record_events(events)

    def raised_events(self) -> list[DomainEvent]:
        return self._inner.raised_events()

    def collect_events(self) -> list[DomainEvent]:
        return self._inner.collect_events()

    def next_sequences(self, counts: Mapping[str, int]) -> dict[str, int]:
        return self._inner.next_sequences(counts)

    def stage_feed(self, envelopes: Sequence[Envelope]) -> None:
        self._inner.stage_feed(envelopes)


def counting(counts: Counter[tuple[str, str]]) -> Callable[[UnitOfWork], UnitOfWork]:
    """A ``uow`` wrapper for :class:`Mall` that adds every record call to ``counts``."""
    return lambda inner: CountingUnitOfWork(inner, counts)


def dump(store: StoreHandle) -> str:
    """The whole store as JSON text (what an auditor searching for a value would read),
    sealed values opened with the store's keys (a value left sealed shows)."""
    snap = store.opened_snapshot()
    return json.dumps(snap, default=str, sort_keys=True, ensure_ascii=False)


__all__ = ["PRICE", "RULES", "CountingUnitOfWork", "Mall", "counting", "dump"]
