"""Text forms of instants: deprecated path, moved to :mod:`eduengine.kernel.codec` (gone in 0.4)."""

from eduengine.kernel.codec import (
    EPOCH,
    dt_in,
    dt_out,
    from_micros,
    micros,
)

__all__ = [
    "EPOCH",
    "dt_in",
    "dt_out",
    "from_micros",
    "micros",
]
