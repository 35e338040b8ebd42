"""Moved to :mod:`eduengine.web.django`; this path re-exports it until 0.4."""

from eduengine.kernel.deprecation import warn_moved
from eduengine.web.django import (
    school_transaction,
    store_for_django,
)

__all__ = [
    "school_transaction",
    "store_for_django",
]

warn_moved("eduengine.contrib.django", "eduengine.web.django")
