"""Posting rate limits hold across OS processes: several processes post for the same
members at once, and exactly the posts over each member's limits are refused."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta

import pytest

from eduengine import FixedClock
from eduengine.community import CommunityService, RateLimit, RateLimits
from eduengine.errors import PostingTooFast
from tests.adapters import StoreHandle, reopen
from tests.conftest import T0

PROCESSES = 4
TRIES = 12
MEMBERS = ("ann", "bob", "cai")
LIMITS = RateLimits(
    member=RateLimit(per_minute=7, per_day=9),
    new_member=RateLimit(per_minute=2, per_day=3),
    new_for=timedelta(days=7),
)
NOW = T0 + timedelta(days=30)
SPAWN = multiprocessing.get_context("spawn")


def _child(name: str, location: str, n: int) -> dict[str, int]:
    handle = reopen(name, location)
    community = CommunityService(handle.unit_of_work, clock=FixedClock(NOW), limits=LIMITS)
    posted: Counter[str] = Counter()
    try:
        for attempt in range(TRIES):
            member = MEMBERS[(n + attempt) % len(MEMBERS)]
            try:
                community.post("class:A1", member, f"process {n} post {attempt}")
                posted[member] += 1
            except PostingTooFast:
                posted[f"{member} refused"] += 1
    finally:
        handle.close()
    return dict(posted)


@pytest.mark.slow
def test_processes_posting_at_once_never_pass_a_members_limit(store: StoreHandle) -> None:
    if store.location is None:
        pytest.skip(f"the {store.name} adapter lives in one process")
    community = CommunityService(store.unit_of_work, clock=FixedClock(T0), limits=LIMITS)
    for member in MEMBERS:
        community.join("class:A1", member)
    with ProcessPoolExecutor(PROCESSES, mp_context=SPAWN) as pool:
        results = list(
            pool.map(
                _child,
                [store.name] * PROCESSES,
                [store.location] * PROCESSES,
                range(PROCESSES),
            )
        )
    total: Counter[str] = Counter()
    for result in results:
        total.update(result)
    tries = PROCESSES * TRIES // len(MEMBERS)
    for member in MEMBERS:
        # every member was tried 16 times in the same minute: 7 pass, 9 are refused
        assert total[member] == LIMITS.member.per_minute, total
        assert total[f"{member} refused"] == tries - LIMITS.member.per_minute, total
    counted = CommunityService(store.unit_of_work, clock=FixedClock(NOW), limits=LIMITS)
    for member in MEMBERS:
        with pytest.raises(PostingTooFast):
            counted.post("class:A1", member, "one more")
