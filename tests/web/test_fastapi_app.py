"""The FastAPI example under ``uvicorn --workers 2``: concurrent bookings, and live
counts on every worker's WebSocket and SSE clients, in order and without gaps."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.web.servers import check_stream, follow_sse, free_port, server, uvicorn_cmd

CAPACITY = 10


@pytest.fixture(scope="module")
def fastapi_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("fastapi")
    port = free_port()
    with server(
        uvicorn_cmd(port, workers=2),
        cwd=tmp,
        env={"EDUSCHOOL_DB": str(tmp / "school.sqlite3")},
        url=f"http://127.0.0.1:{port}",
        log=tmp / "server.log",
    ) as url:
        yield url


async def _follow_ws(url: str, into: list[dict[str, Any]]) -> None:
    async with connect(url, open_timeout=10) as ws:
        async for raw in ws:
            message = json.loads(raw)
            into.append(message)
            if message["type"] != "snapshot" and message["data"]["seats_left"] == 0:
                return


async def _open_on_both_workers(
    url: str, slot_id: str
) -> tuple[list[asyncio.Task[None]], list[list[dict[str, Any]]]]:
    """WebSocket clients until both workers serve some (the kernel picks the worker)."""
    tasks: list[asyncio.Task[None]] = []
    views: list[list[dict[str, Any]]] = []
    ws_url = url.replace("http://", "ws://") + f"/slots/{slot_id}/live"
    for _ in range(40):
        view: list[dict[str, Any]] = []
        views.append(view)
        tasks.append(asyncio.create_task(_follow_ws(ws_url, view)))
        await asyncio.sleep(0.02)
        if len(views) >= 8:
            await _snapshots(views)
            if len({v[0]["worker"] for v in views}) == 2:
                break
    return tasks, views


async def _snapshots(views: list[list[dict[str, Any]]]) -> None:
    for _ in range(500):
        if all(views):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("a client got no snapshot")


def test_fifty_bookings_for_ten_seats_reach_every_client_of_every_worker(
    fastapi_url: str,
) -> None:
    async def main() -> None:
        async with httpx.AsyncClient(base_url=fastapi_url, timeout=30.0) as client:
            created = await client.post("/slots", json={"capacity": CAPACITY})
            assert created.status_code == 201
            slot_id = created.json()["slot_id"]

            ws_tasks, ws_views = await _open_on_both_workers(fastapi_url, slot_id)
            assert len({v[0]["worker"] for v in ws_views}) == 2, "one worker served all"
            sse_views: list[list[dict[str, Any]]] = [[] for _ in range(4)]
            sse_tasks = [
                asyncio.create_task(
                    follow_sse(client, f"/slots/{slot_id}/events", until_seats=0, into=view)
                )
                for view in sse_views
            ]
            await _snapshots(sse_views)

            answers = await asyncio.gather(
                *(
                    client.post(f"/slots/{slot_id}/book", json={"student_id": f"s{n}"})
                    for n in range(50)
                )
            )
            codes = [a.status_code for a in answers]
            assert codes.count(201) == CAPACITY
            refused = [a for a in answers if a.status_code != 201]
            assert {a.status_code for a in refused} == {409}
            assert all(a.headers["content-type"] == "application/problem+json" for a in refused)
            assert {a.json()["code"] for a in refused} == {"slot_full"}

            await asyncio.wait_for(asyncio.gather(*ws_tasks, *sse_tasks), timeout=20)
            for view in [*ws_views, *sse_views]:
                check_stream(view, capacity=CAPACITY)
            assert len({v[0]["worker"] for v in sse_views + ws_views}) == 2
            final = await client.get(f"/slots/{slot_id}")
            assert final.json()["data"]["seats_left"] == 0

    asyncio.run(main())


def test_an_unknown_slot_is_a_404_problem(fastapi_url: str) -> None:
    answer = httpx.post(f"{fastapi_url}/slots/nope/book", json={"student_id": "ann"})
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "slot_not_found"


def test_the_page_in_a_real_browser_shows_another_pages_booking_within_a_second(
    fastapi_url: str, tmp_path: Path
) -> None:
    from tests.web.browser import chromium

    slot_id = httpx.post(f"{fastapi_url}/slots", json={"capacity": 5}).json()["slot_id"]
    with chromium(tmp_path) as context:
        first, second = context.new_page(), context.new_page()
        for page in (first, second):
            page.goto(f"{fastapi_url}/slots/{slot_id}/page")
            page.wait_for_function(
                "document.getElementById('seats').textContent === '5' "
                "&& document.getElementById('status').textContent === 'live'",
                timeout=10_000,
            )
        first.fill("#student", "ann")
        with first.expect_response(lambda r: r.url.endswith("/book")) as booked:
            first.click("#book")
        assert booked.value.status == 201
        # the other page learns it from its own WebSocket, through the feed
        second.wait_for_function(
            "document.getElementById('seats').textContent === '4'", timeout=1_000
        )
        first.click("#book")  # ann again: refused, and the page says why
        first.wait_for_function(
            "document.getElementById('error').textContent !== ''", timeout=5_000
        )
        assert "already" in (first.text_content("#error") or "").lower()
        assert second.text_content("#seats") == "4"


def test_the_pages_read_the_library_queries_and_a_feed_token_opens_the_students_calendar(
    fastapi_url: str,
) -> None:
    with httpx.Client(base_url=fastapi_url, timeout=30.0) as client:
        made = [
            client.post("/slots", json={"course_id": "pages", "starts_in_minutes": 60 * (i + 1)})
            for i in range(3)
        ]
        ids = [m.json()["slot_id"] for m in made]
        assert client.post(f"/slots/{ids[0]}/book", json={"student_id": "pat"}).status_code == 201
        window: dict[str, str | int] = {
            "start": "2000-01-01T00:00:00+00:00",
            "end": "2100-01-01T00:00:00+00:00",
            "course_id": "pages",
            "zone": "Asia/Tokyo",
            "limit": 2,
        }
        first = client.get("/timetable", params=window).json()
        rest = client.get("/timetable", params={**window, "after": first["next"]}).json()
        assert [s["slot_id"] for s in first["slots"] + rest["slots"]] == ids
        assert rest["next"] is None
        assert first["slots"][0]["seats_left"] == 9 and "students" not in first["slots"][0]
        assert first["slots"][0]["start"].endswith("+09:00")
        assert (
            client.get("/timetable", params={**window, "zone": "Nowhere/Else"}).status_code == 422
        )

        lessons = client.get("/students/pat/timetable").json()["lessons"]
        assert [lesson["slot"]["slot_id"] for lesson in lessons] == [ids[0]]

        url = client.post("/students/pat/calendar-token").json()["url"]
        feed = client.get(url)
        assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
        assert b"BEGIN:VEVENT" in feed.content
        client.post("/students/pat/calendar-token")  # rotated: the old URL is dead
        gone = client.get(url)
        assert gone.status_code == 404 and gone.json()["code"] == "calendar_token_not_found"


def test_book_and_cancel_replay_the_first_answer_for_the_same_idempotency_key(
    fastapi_url: str,
) -> None:
    with httpx.Client(base_url=fastapi_url, timeout=30.0) as client:
        in_three_days = {"capacity": 3, "starts_in_minutes": 3 * 24 * 60}
        slot_id = client.post("/slots", json=in_three_days).json()["slot_id"]
        seat = {"json": {"student_id": "kim"}, "headers": {"Idempotency-Key": "book-kim-1"}}
        first = client.post(f"/slots/{slot_id}/book", **seat)  # type: ignore[arg-type]
        again = client.post(f"/slots/{slot_id}/book", **seat)  # type: ignore[arg-type]
        assert first.status_code == again.status_code == 201
        assert again.json() == first.json()
        assert client.get(f"/slots/{slot_id}").json()["data"]["seats_left"] == 2
        other = client.post(
            f"/slots/{slot_id}/book",
            json={"student_id": "lee"},
            headers={"Idempotency-Key": "book-kim-1"},
        )
        assert other.status_code == 409
        assert other.json()["code"] == "idempotency_key_reused"

        booking_id = first.json()["booking_id"]
        key = {"Idempotency-Key": "cancel-kim-1"}
        cancelled = client.post(f"/bookings/{booking_id}/cancel", headers=key)
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled" and cancelled.json()["late"] is False
        # the answer was lost: the retry gets it again, not invalid_transition
        assert client.post(f"/bookings/{booking_id}/cancel", headers=key).json() == (
            cancelled.json()
        )
        unkeyed = client.post(f"/bookings/{booking_id}/cancel")
        assert unkeyed.status_code == 409


def test_the_roster_page_masks_for_support_and_a_campaigns_groups_page_answers(
    fastapi_url: str,
) -> None:
    with httpx.Client(base_url=fastapi_url, timeout=30.0) as client:
        slot_id = client.post("/slots", json={"capacity": 3}).json()["slot_id"]
        for student in ("uma", "val"):
            client.post(f"/slots/{slot_id}/book", json={"student_id": student})
        staff = {"X-Actor-Id": "u-desk", "X-Actor-Role": "support"}
        roster = client.get(f"/slots/{slot_id}/roster", headers=staff).json()
        assert [(s["student_id"], s["status"]) for s in roster["students"]] == [
            ("uma", "confirmed"),
            ("val", "confirmed"),
        ]
        assert roster["next"] is None
        denied = client.get(
            f"/slots/{slot_id}/roster", headers={"X-Actor-Id": "m", "X-Actor-Role": "marketing"}
        )
        assert denied.status_code == 403
        missing = client.get("/campaigns/none/groups")
        assert missing.status_code == 404 and missing.json()["code"] == "campaign_not_found"
