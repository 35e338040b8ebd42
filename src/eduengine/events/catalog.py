"""Every library event type, registered before anything reads or writes the feed.

Each package's ``events`` module registers its classes as they are defined
(:func:`eduengine.kernel.events.event_type`); importing them all here means a process
knows every library type name (to decode an envelope, to write the schema) even before it
has used the feature that raises it. This module imports event modules and nothing else.

>>> from eduengine.kernel.events import kind_named
>>> kind_named("levels.level_up").cls.__module__
'eduengine.levels.events'
"""

from __future__ import annotations

from eduengine.analytics import events as analytics
from eduengine.availability import events as availability
from eduengine.booking import events as booking
from eduengine.community import events as community
from eduengine.deals import events as deals
from eduengine.desk import events as desk
from eduengine.growth import events as growth
from eduengine.learning import events as learning
from eduengine.levels import events as levels
from eduengine.mastery import events as mastery
from eduengine.milestones import events as milestones
from eduengine.notices import events as notices
from eduengine.people import events as people
from eduengine.policies import events as policies
from eduengine.pricing import events as pricing
from eduengine.referrals import events as referrals
from eduengine.reminders import events as reminders
from eduengine.rush import events as rush
from eduengine.students import events as students

__all__ = [
    "analytics",
    "availability",
    "booking",
    "community",
    "deals",
    "desk",
    "growth",
    "learning",
    "levels",
    "mastery",
    "milestones",
    "notices",
    "people",
    "policies",
    "pricing",
    "referrals",
    "reminders",
    "rush",
    "students",
]
