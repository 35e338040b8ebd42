"""The ports: deprecated path, moved to :mod:`eduengine.service_layer.ports` (removed in 0.4)."""

from eduengine.kernel.clock import Clock
from eduengine.kernel.deprecation import warn_moved
from eduengine.service_layer.ports import (
    BookingRepository,
    CommitMark,
    EventPublisher,
    IndexEntries,
    IndexEntry,
    JsonValue,
    ReadOnlyFactory,
    RecordRepository,
    SeriesRepository,
    SlotRepository,
    Store,
    UnitOfWork,
    UnitOfWorkFactory,
    open_read_only,
)

__all__ = [
    "BookingRepository",
    "Clock",
    "CommitMark",
    "EventPublisher",
    "IndexEntries",
    "IndexEntry",
    "JsonValue",
    "ReadOnlyFactory",
    "RecordRepository",
    "SeriesRepository",
    "SlotRepository",
    "Store",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "open_read_only",
]

warn_moved("eduengine.ports", "eduengine.service_layer.ports")
