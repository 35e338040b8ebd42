"""The Django example under ``manage.py runserver``: concurrent bookings in Django's
transaction, live counts over SSE, and the management commands."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.web.servers import (
    EXAMPLES,
    check_stream,
    finished,
    follow_sse,
    free_port,
    manage,
    runserver_cmd,
)
from tests.web.servers import server as run_server

CAPACITY = 10


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, str]]:
    tmp = tmp_path_factory.mktemp("django")
    db = tmp / "site.sqlite3"
    assert "up to date" in finished(manage("eduengine_migrate", db=db))
    jobs = manage("eduengine_jobs", db=db)  # starts beside the server, to save time
    port = free_port()
    with run_server(
        runserver_cmd(port),
        cwd=EXAMPLES / "django_app",
        env={"EDUSCHOOL_DB": str(db)},
        url=f"http://127.0.0.1:{port}",
        log=tmp / "server.log",
    ) as url:
        yield url, db, finished(jobs)


def test_fifty_bookings_for_ten_seats_in_django_transactions(
    site: tuple[str, Path, str],
) -> None:
    url, db, _ = site

    async def main() -> str:
        # runserver listens with a backlog of 5 (socketserver's default): more connections
        # opening at once than it accepts are reset, so the 50 requests share 8 of them
        limits = httpx.Limits(max_connections=3 + 8)
        async with httpx.AsyncClient(base_url=url, timeout=30.0, limits=limits) as client:
            created = await client.post("/slots", json={"capacity": CAPACITY})
            assert created.status_code == 201
            slot_id = str(created.json()["slot_id"])
            views: list[list[dict[str, Any]]] = [[] for _ in range(3)]
            followers = [
                asyncio.create_task(
                    follow_sse(client, f"/slots/{slot_id}/events", until_seats=0, into=view)
                )
                for view in views
            ]
            for _ in range(500):
                if all(views):
                    break
                await asyncio.sleep(0.01)
            answers = await asyncio.gather(
                *(
                    client.post(f"/slots/{slot_id}/book", json={"student_id": f"s{n}"})
                    for n in range(50)
                )
            )
            assert [a.status_code for a in answers].count(201) == CAPACITY
            refused = [a for a in answers if a.status_code != 201]
            assert {a.status_code for a in refused} == {409}
            assert {a.json()["code"] for a in refused} == {"slot_full"}
            await asyncio.wait_for(asyncio.gather(*followers), timeout=20)
            for view in views:
                check_stream(view, capacity=CAPACITY)
            final = await client.get(f"/slots/{slot_id}")
            assert final.json()["data"]["seats_left"] == 0
            return slot_id

    slot_id = asyncio.run(main())
    # a refused booking rolled its order row back with it: one order per seat
    with sqlite3.connect(db) as conn:
        orders = conn.execute(
            "SELECT count(*) FROM eduschool_order WHERE slot_id = ?", (slot_id,)
        ).fetchone()[0]
    assert orders == CAPACITY


def test_the_periodic_jobs_command_runs(site: tuple[str, Path, str]) -> None:
    _, _, out = site
    assert "offers expired: 0" in out
    assert "feed events pruned: 0" in out
