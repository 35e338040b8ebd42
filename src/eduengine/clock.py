"""Time: deprecated path, moved to :mod:`eduengine.kernel.clock` (removed in 0.4)."""

from eduengine.kernel.clock import (
    Clock,
    FixedClock,
    SystemClock,
    in_own_zone,
    require_aware,
    zone_key,
)

__all__ = [
    "Clock",
    "FixedClock",
    "SystemClock",
    "in_own_zone",
    "require_aware",
    "zone_key",
]
