"""Fixtures for the event contract tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from eduengine.kernel import events as registry


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    """Forget, after the test, the event types it registered: a host type left in the
    process-wide registry would join the schema and the docs checks of later tests."""
    by_class, by_name = dict(registry._by_class), dict(registry._by_name)
    try:
        yield
    finally:
        with registry._lock:
            registry._by_class.clear()
            registry._by_class.update(by_class)
            registry._by_name.clear()
            registry._by_name.update(by_name)
