"""Event type names and streams: moved to :mod:`eduengine.kernel.events`; this path keeps
every name."""

from eduengine.kernel.events import (
    EventKind,
    event_kind,
    event_kinds,
    event_type,
    find_kind,
    kind_named,
    register_event,
)

__all__ = [
    "EventKind",
    "event_kind",
    "event_kinds",
    "event_type",
    "find_kind",
    "kind_named",
    "register_event",
]
