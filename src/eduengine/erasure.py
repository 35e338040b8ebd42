"""Moved to :mod:`eduengine.service_layer.erasure`; this path re-exports it until 0.4."""

from eduengine.kernel.deprecation import warn_moved
from eduengine.service_layer.erasure import (
    Eraser,
    ErasureRegistry,
    ErasureReport,
    ScrubsOnCommit,
)

__all__ = [
    "Eraser",
    "ErasureRegistry",
    "ErasureReport",
    "ScrubsOnCommit",
]

warn_moved("eduengine.erasure", "eduengine.service_layer.erasure")
