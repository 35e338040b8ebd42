"""The example school as a FastAPI app: every page reads one of ``school.queries``,
bookings and cancellations are the one ``school.book`` / ``school.cancel`` commands
with the client's ``Idempotency-Key``, live seat counts and group progress go out over
WebSocket and server-sent events, errors are RFC 9457 problem details.

    cd examples/web/fastapi_app
    EDUSCHOOL_DB=school.sqlite3 uvicorn school_api:app --workers 2

(``EDUSCHOOL_PG_DSN=postgresql://...`` instead for PostgreSQL). The school's settings
come from ``school.toml`` (or the file ``EDUSCHOOL_SETTINGS`` names) and
``EDUENGINE_<TABLE>__<KEY>`` variables. Every worker process builds its own school on
the same database and runs one :class:`~eduengine.web.live.FeedHub`, which tails the
store's event feed (the commits of all workers, in commit order) and fans each event out
to that worker's WebSocket and SSE clients. A client starts from a snapshot that carries
its stream's sequence number and then receives only newer events, so it never shows a
stale count. docs/embedding.md counts this module's lines: the measure of issue #27.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Header, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel

from eduengine import School
from eduengine.adapters.postgres import PostgresStore
from eduengine.adapters.sqlite import SqliteStore
from eduengine.config import SchoolSettings
from eduengine.errors import EduEngineError, FeedGap, problem_details
from eduengine.students import Actor
from eduengine.web.aio import AsyncSchool
from eduengine.web.live import FeedHub, Message

HERE = Path(__file__).parent
PAGE = (HERE / "page.html").read_text()


def _store() -> SqliteStore | PostgresStore:
    # one database for every worker: a SQLite file, or PostgreSQL (EDUSCHOOL_PG_DSN)
    dsn = os.environ.get("EDUSCHOOL_PG_DSN")
    if dsn:
        return PostgresStore(dsn, schema=os.environ.get("EDUSCHOOL_PG_SCHEMA"))
    return SqliteStore(os.environ.get("EDUSCHOOL_DB", "school.sqlite3"))


store = _store()
settings = SchoolSettings.load(os.environ.get("EDUSCHOOL_SETTINGS", HERE / "school.toml"))
school = School.build(store, settings)
aschool = AsyncSchool(school)
hub = FeedHub(school.feed, aschool.run)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await aschool.run(store.migrate)  # idempotent, safe for workers starting together
    await hub.start()
    yield
    await hub.stop()
    aschool.close()


app = FastAPI(title="eduengine example school", lifespan=lifespan)
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


@app.exception_handler(EduEngineError)
async def problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EduEngineError)
    body = problem_details(exc, instance=request.url.path)
    return JSONResponse(body, status_code=body["status"], media_type="application/problem+json")


def staff(actor_id: str | None, role: str | None) -> Actor:
    # the host's login decides who reads; this example trusts two headers instead
    return Actor(id=actor_id or "anonymous", role=role or "support")


class NewSlot(BaseModel):
    course_id: str = "course"
    capacity: int = 10
    starts_in_minutes: int = 60


class SeatRequest(BaseModel):
    student_id: str


@app.get("/health")
async def health() -> dict[str, bool]:
    return {"ok": True}


@app.post("/slots", status_code=201)
async def create_slot(body: NewSlot) -> dict[str, Any]:
    start = school.clock.now() + timedelta(minutes=body.starts_in_minutes)
    slot = await aschool.booking.create_slot(
        body.course_id, start, start + timedelta(hours=1), capacity=body.capacity
    )
    return {"slot_id": slot.id, "seats_left": slot.seats_left}


@app.get("/slots/{slot_id}")
async def get_slot(slot_id: str) -> Message:
    return await slot_snapshot(slot_id)


@app.post("/slots/{slot_id}/book", status_code=201)
async def book(slot_id: str, body: SeatRequest, key: IdempotencyKey = None) -> dict[str, Any]:
    booking = await aschool.book(slot_id, body.student_id, idempotency_key=key)
    return {"booking_id": booking.id, "slot_id": slot_id}


@app.post("/bookings/{booking_id}/cancel")
async def cancel(booking_id: str, key: IdempotencyKey = None) -> dict[str, Any]:
    outcome = await aschool.cancel(booking_id, idempotency_key=key)
    fee = outcome.fee
    return {
        "booking_id": outcome.booking.id,
        "status": outcome.booking.status.value,
        "late": outcome.late,
        "fee": None if fee is None else {"amount": str(fee.amount), "currency": fee.currency},
        "credit_returned": outcome.credit_returned,
    }


@app.get("/slots/{slot_id}/roster")
async def roster(
    slot_id: str,
    after: str | None = None,
    actor_id: Annotated[str | None, Header(alias="X-Actor-Id")] = None,
    role: Annotated[str | None, Header(alias="X-Actor-Role")] = None,
) -> dict[str, Any]:
    page = await aschool.queries.roster(actor=staff(actor_id, role), slot_id=slot_id, after=after)
    return {"students": [entry.as_dict() for entry in page], "next": page.next}


@app.get("/timetable")
async def timetable(
    start: datetime,
    end: datetime,
    course_id: str | None = None,
    tutor_id: str | None = None,
    zone: str | None = None,
    limit: int = 50,
    after: str | None = None,
) -> dict[str, Any]:
    page = await aschool.queries.timetable(
        start=start,
        end=end,
        course_id=course_id,
        tutor_id=tutor_id,
        zone=zone,
        limit=limit,
        after=after,
    )
    return {"slots": [s.as_dict() for s in page], "next": page.next}


@app.get("/students/{student_id}/timetable")
async def student_timetable(
    student_id: str, zone: str | None = None, after: str | None = None
) -> dict[str, Any]:
    page = await aschool.queries.student_timetable(student_id, zone=zone, after=after)
    return {"lessons": [lesson.as_dict() for lesson in page], "next": page.next}


@app.get("/students/{student_id}/history")
async def student_history(
    student_id: str, zone: str | None = None, after: str | None = None
) -> dict[str, Any]:
    page = await aschool.queries.student_history(student_id, zone=zone, after=after)
    return {"lessons": [lesson.as_dict() for lesson in page], "next": page.next}


@app.get("/tutors/{tutor_id}/week")
async def tutor_week(tutor_id: str, day: date, zone: str) -> dict[str, Any]:
    week = await aschool.queries.tutor_week(tutor_id, day, zone=zone)
    return {"slots": [s.as_dict() for s in week]}


@app.get("/campaigns/{campaign_id}/groups")
async def open_groups(
    campaign_id: str, order: str = "closing", zone: str | None = None, after: str | None = None
) -> dict[str, Any]:
    page = await aschool.queries.open_groups(
        campaign_id,
        order="newest" if order == "newest" else "closing",
        zone=zone,
        after=after,
    )
    return {"groups": [g.as_dict() for g in page], "next": page.next}


@app.get("/groups/{group_id}")
async def get_group(group_id: str) -> Message:
    return await group_snapshot(group_id)


@app.post("/students/{student_id}/calendar-token", status_code=201)
async def calendar_token(student_id: str) -> dict[str, str]:
    # the host checks the caller is this student (or a guardian) before this line
    token = await aschool.calendar.student_feed_token(student_id)
    return {"url": f"/calendar/{token}.ics"}


@app.get("/calendar/{token}.ics")
async def calendar_feed(token: str) -> Response:
    feed = await aschool.calendar.feed_for_token(token)
    return Response(feed, media_type="text/calendar")


@app.get("/slots/{slot_id}/page", response_class=HTMLResponse)
async def page(slot_id: str) -> str:
    return PAGE.replace("{{slot_id}}", json.dumps(slot_id))


# --- live pages: a snapshot (``school.queries``), then the feed's newer events ---------


async def slot_snapshot(slot_id: str) -> Message:
    shot = await aschool.queries.snapshot(slot_id)
    # "worker" tells which process answered (the tests check every worker is live)
    return {**shot.as_message(), "worker": os.getpid()}


async def group_snapshot(group_id: str) -> Message:
    shot = await aschool.queries.group_snapshot(group_id)
    return {**shot.as_message(), "worker": os.getpid()}


@app.websocket("/slots/{slot_id}/live")
async def slot_live(ws: WebSocket, slot_id: str) -> None:
    await _live_socket(ws, f"slot:{slot_id}", lambda: slot_snapshot(slot_id))


@app.websocket("/groups/{group_id}/live")
async def group_live(ws: WebSocket, group_id: str) -> None:
    await _live_socket(ws, f"group:{group_id}", lambda: group_snapshot(group_id))


@app.get("/slots/{slot_id}/events")
async def slot_events(slot_id: str) -> StreamingResponse:
    return _live_sse(f"slot:{slot_id}", lambda: slot_snapshot(slot_id))


@app.get("/groups/{group_id}/events")
async def group_events(group_id: str) -> StreamingResponse:
    return _live_sse(f"group:{group_id}", lambda: group_snapshot(group_id))


Snapshot = Callable[[], Awaitable[Message]]


async def _live_socket(ws: WebSocket, stream: str, snapshot: Snapshot) -> None:
    await ws.accept()
    # subscribe first, then read the snapshot: a commit in between arrives as an event
    # and is dropped only if the snapshot already shows it
    with hub.subscribe(stream) as updates:
        try:
            first = await snapshot()
        except EduEngineError as exc:
            await ws.send_json(problem_details(exc))
            await ws.close(code=1008)
            return
        updates.skip_to(first["sequence"])
        await ws.send_json(first)
        try:
            while True:
                try:
                    message = await updates.next()
                except FeedGap:
                    # events were missed (pruned before this worker read them): the
                    # page gets a fresh snapshot instead of a count that skipped a change
                    message = await snapshot()
                    updates.skip_to(message["sequence"])
                await ws.send_json(message)
        except (WebSocketDisconnect, OverflowError):
            return


def _live_sse(stream: str, snapshot: Snapshot) -> StreamingResponse:
    async def events() -> AsyncIterator[str]:
        with hub.subscribe(stream) as updates:
            first = await snapshot()
            updates.skip_to(first["sequence"])
            yield f"event: snapshot\ndata: {json.dumps(first)}\n\n"
            while True:
                try:
                    message = await updates.next()
                except FeedGap:  # events were missed: send a fresh snapshot instead
                    fresh = await snapshot()
                    updates.skip_to(fresh["sequence"])
                    yield f"event: snapshot\ndata: {json.dumps(fresh)}\n\n"
                    continue
                yield f"id: {message['position']}\nevent: {message['type']}\n"
                yield f"data: {json.dumps(message)}\n\n"

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )
