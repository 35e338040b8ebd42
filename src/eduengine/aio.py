"""Moved to :mod:`eduengine.web.aio`; this path re-exports it until 0.4."""

from eduengine.web.aio import (
    AsyncSchool,
    AsyncService,
)

__all__ = [
    "AsyncSchool",
    "AsyncService",
]
