"""Text forms of instants: deprecated path, moved to :mod:`eduengine.kernel.codec` (gone in 0.4)."""

from eduengine.kernel.codec import (
    EPOCH,
    dt_in,
    dt_out,
    from_micros,
    micros,
)
from eduengine.kernel.deprecation import warn_moved

__all__ = [
    "EPOCH",
    "dt_in",
    "dt_out",
    "from_micros",
    "micros",
]

warn_moved("eduengine.codec", "eduengine.kernel.codec")
