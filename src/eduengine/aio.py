"""Moved to :mod:`eduengine.web.aio`; this path re-exports it until 0.4."""

from eduengine.kernel.deprecation import warn_moved
from eduengine.web.aio import (
    AsyncSchool,
    AsyncService,
)

__all__ = [
    "AsyncSchool",
    "AsyncService",
]

warn_moved("eduengine.aio", "eduengine.web.aio")
