"""Moved to :mod:`eduengine.ops.stores`; this path re-exports it until 0.4."""

from eduengine.kernel.deprecation import warn_moved
from eduengine.ops.stores import (
    ENV_VAR,
    Store,
    store_from_url,
)

__all__ = [
    "ENV_VAR",
    "Store",
    "store_from_url",
]

warn_moved("eduengine.stores", "eduengine.ops.stores")
