"""The ports: deprecated path, moved to :mod:`eduengine.service_layer.ports` (removed in 0.4)."""

from eduengine.service_layer.ports import (
    BookingRepository,
    Clock,
    EventPublisher,
    IndexEntries,
    IndexEntry,
    JsonValue,
    RecordRepository,
    SeriesRepository,
    SlotRepository,
    Store,
    UnitOfWork,
    UnitOfWorkFactory,
)

__all__ = [
    "BookingRepository",
    "Clock",
    "EventPublisher",
    "IndexEntries",
    "IndexEntry",
    "JsonValue",
    "RecordRepository",
    "SeriesRepository",
    "SlotRepository",
    "Store",
    "UnitOfWork",
    "UnitOfWorkFactory",
]
