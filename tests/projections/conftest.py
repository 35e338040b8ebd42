"""Stores with an event feed, on every adapter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.adapters import ADAPTERS, StoreHandle, make_store


@pytest.fixture(params=ADAPTERS)
def fed_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StoreHandle]:
    """A fresh store of each adapter that keeps an event feed (``outbox=True``)."""
    handle = make_store(request.param, tmp_path_factory.mktemp(request.param), outbox=True)
    try:
        yield handle
    finally:
        handle.close()
