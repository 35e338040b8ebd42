"""The events of rush queues: each registers its stable type name as it is defined.

>>> from eduengine.kernel.events import event_kind
>>> event_kind(QueueEntered).name
'rush.queue_entered'
"""

from __future__ import annotations

import attrs

from eduengine.kernel.events import DomainEvent, event_type

__all__ = [
    "QueueAdmitted",
    "QueueEntered",
]


@event_type("rush.queue_entered", aggregate="rush", field="slot_id")
@attrs.frozen(kw_only=True)
class QueueEntered(DomainEvent):
    slot_id: str
    student_id: str
    entrants: int


@event_type("rush.queue_admitted", aggregate="rush", field="slot_id")
@attrs.frozen(kw_only=True)
class QueueAdmitted(DomainEvent):
    slot_id: str
    admitted: tuple[str, ...]
    waitlisted: tuple[str, ...]
    #: entrants a seat guard refused (e.g. restricted students), skipped in order
    refused: tuple[str, ...] = ()
