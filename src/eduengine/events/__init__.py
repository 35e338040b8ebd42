"""Events as a public contract: stable type names, numbered envelopes, JSON, a feed.

* :mod:`~eduengine.kernel.events`: every event class's type name (``booking.seat_booked``)
  and the aggregate stream it is numbered in; :mod:`~eduengine.events.catalog` imports
  every library event type.
* :class:`Envelope`: id, type, aggregate, per-aggregate ``sequence``, ``occurred_at``,
  the event, and its feed ``position``.
* :mod:`~eduengine.events.codec`: JSON (cattrs) both ways; :mod:`~eduengine.events.schema`
  the JSON Schema checked in as ``docs/events.schema.json``.
* :class:`EventFeed`: committed envelopes in commit order, from any process
  (``school.feed.events_since(cursor, limit)``), pruning and named cursors.
* :mod:`~eduengine.events.webhooks`: a relay that POSTs signed envelopes to an endpoint.

See ``docs/events.md``.
"""

from eduengine.events.codec import (
    envelope_from_dict,
    envelope_from_json,
    envelope_to_dict,
    envelope_to_json,
    event_data,
    event_from_data,
)
from eduengine.events.feed import EventFeed, FeedStore
from eduengine.kernel.envelope import Envelope
from eduengine.kernel.events import (
    EventKind,
    event_kind,
    event_kinds,
    event_type,
    kind_named,
    register_event,
)
from eduengine.service_layer.streams import stamp

__all__ = [
    "Envelope",
    "EventFeed",
    "EventKind",
    "FeedStore",
    "envelope_from_dict",
    "envelope_from_json",
    "envelope_to_dict",
    "envelope_to_json",
    "event_data",
    "event_from_data",
    "event_kind",
    "event_kinds",
    "event_type",
    "kind_named",
    "register_event",
    "stamp",
]
