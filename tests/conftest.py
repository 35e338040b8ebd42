"""Shared fixtures: every contract test runs once per storage adapter.

``store`` is parameterised over the adapters that can run here: ``memory`` always,
``sqlite`` when its module exists, ``postgres`` when ``EDUENGINE_PG_DSN`` names a server
(in CI the test command starts one and a missing server is an error, never a skip).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, settings

from eduengine import FixedClock
from tests.adapters import ADAPTERS, StoreHandle, make_store

settings.register_profile(
    "default", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "deep", max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture(params=ADAPTERS)
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StoreHandle]:
    handle = make_store(request.param, tmp_path_factory.mktemp(request.param))
    try:
        yield handle
    finally:
        handle.close()
