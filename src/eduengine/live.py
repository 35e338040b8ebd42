"""Moved to :mod:`eduengine.web.live`; this path re-exports it until 0.4."""

from eduengine.kernel.deprecation import warn_moved
from eduengine.web.live import (
    FeedHub,
    Message,
    Runner,
    Subscription,
)

__all__ = [
    "FeedHub",
    "Message",
    "Runner",
    "Subscription",
]

warn_moved("eduengine.live", "eduengine.web.live")
