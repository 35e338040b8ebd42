"""Moved to :mod:`eduengine.ops.stores`; this path re-exports it until 0.4."""

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
