"""The example school as a FastAPI app: booking endpoints, live seat counts and group
progress over WebSocket and server-sent events, errors as RFC 9457 problem details.

    cd examples/web/fastapi_app
    EDUSCHOOL_DB=school.sqlite3 uvicorn school_api:app --workers 2

(``EDUSCHOOL_PG_DSN=postgresql://...`` instead for PostgreSQL). Every worker process
builds its own school on the same database and runs one
:class:`~eduengine.web.live.FeedHub`, which tails the store's event feed (the commits of all
workers, in commit order) and fans each event out to that worker's WebSocket and SSE
clients. A client starts from a snapshot that carries its stream's sequence number and
then receives only newer events, so it never shows a stale count.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel

from eduengine import School
from eduengine.adapters.postgres import PostgresStore
from eduengine.adapters.sqlite import SqliteStore
from eduengine.errors import EduEngineError, FeedGap, problem_details
from eduengine.service_layer.ports import UnitOfWork
from eduengine.web.aio import AsyncSchool
from eduengine.web.live import FeedHub, Message

PAGE = (Path(__file__).parent / "page.html").read_text()


def _store() -> SqliteStore | PostgresStore:
    # one database for every worker: a SQLite file, or PostgreSQL (EDUSCHOOL_PG_DSN)
    dsn = os.environ.get("EDUSCHOOL_PG_DSN")
    if dsn:
        return PostgresStore(dsn, schema=os.environ.get("EDUSCHOOL_PG_SCHEMA"))
    return SqliteStore(os.environ.get("EDUSCHOOL_DB", "school.sqlite3"))


store = _store()
school = School.build(store, reminders=None)
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


@app.exception_handler(EduEngineError)
async def problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EduEngineError)
    body = problem_details(exc, instance=request.url.path)
    return JSONResponse(body, status_code=body["status"], media_type="application/problem+json")


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
async def get_slot(slot_id: str) -> dict[str, Any]:
    return await aschool.run(slot_snapshot, slot_id)


@app.post("/slots/{slot_id}/book", status_code=201)
async def book(slot_id: str, body: SeatRequest) -> dict[str, Any]:
    booking = await aschool.booking.book(slot_id, body.student_id)
    return {"booking_id": booking.id, "slot_id": slot_id}


@app.post("/bookings/{booking_id}/cancel")
async def cancel(booking_id: str) -> dict[str, Any]:
    booking = await aschool.booking.cancel(booking_id)
    return {"booking_id": booking.id, "status": booking.status.value}


@app.get("/groups/{group_id}")
async def get_group(group_id: str) -> dict[str, Any]:
    return await aschool.run(group_snapshot, group_id)


@app.get("/slots/{slot_id}/page", response_class=HTMLResponse)
async def page(slot_id: str) -> str:
    return PAGE.replace("{{slot_id}}", json.dumps(slot_id))


# --- live updates ---------------------------------------------------------------------


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


async def _live_socket(ws: WebSocket, stream: str, snapshot: Callable[[], Message]) -> None:
    await ws.accept()
    # subscribe first, then read the snapshot: a commit in between arrives as an event
    # and is dropped only if the snapshot already shows it
    with hub.subscribe(stream) as updates:
        try:
            first = await aschool.run(snapshot)
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
                    message = await aschool.run(snapshot)
                    updates.skip_to(message["sequence"])
                await ws.send_json(message)
        except (WebSocketDisconnect, OverflowError):
            return


def _live_sse(stream: str, snapshot: Callable[[], Message]) -> StreamingResponse:
    async def events() -> AsyncIterator[str]:
        with hub.subscribe(stream) as updates:
            first = await aschool.run(snapshot)
            updates.skip_to(first["sequence"])
            yield f"event: snapshot\ndata: {json.dumps(first)}\n\n"
            while True:
                try:
                    message = await updates.next()
                except FeedGap:  # events were missed: send a fresh snapshot instead
                    fresh = await aschool.run(snapshot)
                    updates.skip_to(fresh["sequence"])
                    yield f"event: snapshot\ndata: {json.dumps(fresh)}\n\n"
                    continue
                yield f"id: {message['position']}\nevent: {message['type']}\n"
                yield f"data: {json.dumps(message)}\n\n"

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


# --- snapshots: the stream's sequence, then the state -----------------------------------
#
# The sequence is read first: the state is then at least as new as it, so an event the
# page drops as "already shown" really is in the state (the other order could drop one
# that is not, and the page would show a stale count until the next change).


def _read(read: Callable[[UnitOfWork], Message], stream: str) -> Message:
    sequence = store.stream_sequence(stream)
    with store.unit_of_work(read_only=True) as uow:
        state = read(uow)
    # "worker" tells which process answered (the tests check every worker is live)
    return {"type": "snapshot", "sequence": sequence, "worker": os.getpid(), **state}


def slot_snapshot(slot_id: str) -> Message:
    def read(uow: UnitOfWork) -> Message:
        slot = uow.slots.get(slot_id)
        return {
            "slot_id": slot.id,
            "data": {"capacity": slot.capacity, "seats_left": slot.seats_left},
        }

    return _read(read, f"slot:{slot_id}")


def group_snapshot(group_id: str) -> Message:
    counted = _read(lambda uow: {}, f"group:{group_id}")
    group = school.deals.get_group(group_id)
    paid = len(group.paid)
    return {
        **counted,
        "group_id": group.id,
        "data": {"members": paid, "still_needed": max(0, group.required_size - paid)},
    }
