"""Time: deprecated path, moved to :mod:`eduengine.kernel.clock` (removed in 0.4)."""

from eduengine.kernel.clock import (
    Clock,
    FixedClock,
    SystemClock,
    in_own_zone,
    require_aware,
    zone_key,
)
from eduengine.kernel.deprecation import warn_moved

__all__ = [
    "Clock",
    "FixedClock",
    "SystemClock",
    "in_own_zone",
    "require_aware",
    "zone_key",
]

warn_moved("eduengine.clock", "eduengine.kernel.clock")
