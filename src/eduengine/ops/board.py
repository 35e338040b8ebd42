"""The operator's board (运营看板): one page over a real store, kept up to date from the
event feed.

:func:`board_view` reads the school's own queries: today's seats booked and offered
(fill) and attendance in the school's zone, the groups forming, the packages due for
renewal, the alert rules that fire (in red) and the saved segments to act on, each
counted and linked to its students. :class:`BoardApp` is a plain ASGI application
serving it (``eduengine board --store URL`` runs it; any ASGI server can host it):

- ``GET /``: the page. It asks ``/board.json?after=TOKEN``, which answers as soon as the
  feed's head or a projection the board reads (analytics, segments) moves past what the
  page shows (a long poll: a booking made in any process shows within a poll interval);
- ``GET /segments/NAME?after=CURSOR``: a page of the segment's students (keyset paging);
- ``GET /board-font.woff``: the CJK font subset the page's Chinese text renders with
  (the 3,755 common hanzi of GB 2312 level 1 and the page's own labels, from Droid Sans
  Fallback, Apache-2.0; ``scripts/board_font.py`` makes it). Names outside it fall back
  to the system CJK fonts the page's CSS names.

>>> from datetime import datetime, timezone
>>> from eduengine import FixedClock, InMemoryStore, School
>>> school = School.build(InMemoryStore(),
...                       clock=FixedClock(datetime(2026, 3, 2, 9, tzinfo=timezone.utc)))
>>> view = board_view(school, zone="Asia/Shanghai")
>>> view["day"], view["today"]["booked"], view["alerts"], view["segments"]
('2026-03-02', 0, [], [])
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote
from zoneinfo import ZoneInfo

import attrs

from eduengine.analytics.model import Period
from eduengine.bootstrap import School
from eduengine.errors import AccessDenied, EduEngineError, InvalidInput, NotFound
from eduengine.growth.segments import SegmentPage
from eduengine.kernel.inputs import check_id, check_int
from eduengine.notices.model import check_zone
from eduengine.people.access import check_actor
from eduengine.people.model import SYSTEM, Actor
from eduengine.students.records import PackageView

__all__ = ["BoardApp", "BoardSettings", "board_token", "board_view", "serve"]

log = logging.getLogger("eduengine.board")
T = TypeVar("T")

#: the projections whose counters the board shows: a move of one refreshes the page
READS = ("analytics", "segments")
STATIC = "board_static"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def _duration(instance: Any, attribute: Any, value: object) -> None:
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise InvalidInput(f"{attribute.name} is a positive timedelta, got {value!r}")


def _seconds(instance: Any, attribute: Any, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise InvalidInput(f"{attribute.name} is a number of seconds above zero, got {value!r}")


@attrs.frozen(kw_only=True)
class BoardSettings:
    """What the board shows: ``zone`` decides what "today" is; ``renew_within``: the
    packages expiring that soon are renewals due; ``forming_within``: the open groups
    whose deadline is that close; ``segments``: the saved segments listed (``None``:
    every one); ``segment_every``: how often (seconds) the segments are counted again,
    since a count reads every student (the other numbers follow each commit);
    ``poll``: how often (seconds) a waiting request looks at the feed; ``wait``: how
    long it waits before answering with no change; ``actor``: who reads the students the
    board lists (segments, renewals) under the school's access check: the library's
    ``SYSTEM`` by default (audited once a day per student), or the operator a host
    serves the board to (students outside her scope are left out, each listed one
    audited)."""

    zone: str = attrs.field(default="UTC")
    renew_within: timedelta = attrs.field(default=timedelta(days=7), validator=_duration)
    forming_within: timedelta = attrs.field(default=timedelta(days=7), validator=_duration)
    segments: tuple[str, ...] | None = None
    segment_every: float = attrs.field(default=30.0, validator=_seconds)
    poll: float = attrs.field(default=0.2, validator=_seconds)
    wait: float = attrs.field(default=20.0, validator=_seconds)
    listed: int = 10
    actor: Actor = SYSTEM

    def __attrs_post_init__(self) -> None:
        check_zone(self.zone)
        check_actor(self.actor)
        if self.segments is not None:
            for name in self.segments:
                check_id(name, "segment")
        check_int(self.listed, "listed", low=1, high=100)


def _share(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def board_token(school: School) -> str:
    """Where the store stands for the board: the feed's head and the checkpoints of the
    projections it reads. The page holds the token it shows; any change is news."""
    runner = school.projections
    marks = runner.checkpoints() if any(n in runner.projections for n in READS) else {}
    return ".".join([str(school.feed.head()), *(str(marks.get(n, 0)) for n in READS)])


def board_view(
    school: School,
    *,
    zone: str = "UTC",
    settings: BoardSettings | None = None,
    segment_counts: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The board's numbers now, as JSON-ready data (amounts and rates as strings):
    ``today`` (seats offered and booked in today's sessions, fill, attendance),
    ``courses`` (today's fill per course), ``groups`` (open groups by deadline),
    ``renewals`` (active packages with credits left expiring soon), ``alerts`` (what the
    school's alert rules find now) and ``segments`` (name, count, first students).
    ``segment_counts`` are counts already made (the app recounts them now and then)."""
    settings = settings or BoardSettings(zone=zone)
    tz = ZoneInfo(settings.zone)
    now = school.clock.now()
    today = now.astimezone(tz).date()
    period = Period.days(today, 1, tz)
    analytics = school.analytics
    fill = analytics.fill_rate(period, by="school")
    seen = analytics.attendance(period, by="school")
    offered = sum(r.offered for r in fill)
    booked = sum(r.booked for r in fill)
    attended = sum(r.attended for r in seen)
    no_show = sum(r.no_show for r in seen)
    groups = sorted(
        school.deals.closing_soon(settings.forming_within), key=lambda g: (g.deadline, g.id)
    )
    renewals: list[PackageView] = _seen(
        lambda: school.students.expiring_soon(settings.renew_within, actor=settings.actor), []
    )
    names = list(settings.segments) if settings.segments is not None else school.segments.names()
    segments = []
    for name in names:
        known = (segment_counts or {}).get(name)
        segments.append(dict(known) if known is not None else count_segment(school, name, settings))
    return {
        "at": now.isoformat(),
        "zone": settings.zone,
        "day": today.isoformat(),
        "today": {
            "offered": offered,
            "booked": booked,
            "fill": _share(Decimal(booked) / offered if offered else None),
            "attended": attended,
            "no_show": no_show,
            "attendance": _share(
                Decimal(attended) / (attended + no_show) if attended + no_show else None
            ),
        },
        "courses": [
            {"course": r.key, "offered": r.offered, "booked": r.booked, "fill": _share(r.rate)}
            for r in sorted(analytics.fill_rate(period, by="course"), key=lambda r: r.key)
        ],
        "groups": [
            {
                "group": g.id,
                "campaign": g.campaign_id,
                "taken": g.places_taken,
                "required": g.required_size,
                "deadline": g.deadline.astimezone(tz).isoformat(),
            }
            for g in groups
        ],
        "renewals": [
            {
                "student": p.student_id,
                "package": p.id,
                "credits_left": p.credits_left,
                "expires_at": None
                if p.expires_at is None
                else p.expires_at.astimezone(tz).isoformat(),
            }
            for p in renewals
        ],
        "alerts": [
            {"rule": a.rule_id, "metric": a.metric, "key": a.key, "message": a.message}
            for a in analytics.check_alerts(now)
        ],
        "segments": segments,
    }


def count_segment(school: School, name: str, settings: BoardSettings) -> dict[str, Any]:
    """A saved segment's count and its first students (``listed``)."""
    first = _seen(
        lambda: school.segments.page(name, limit=settings.listed, actor=settings.actor),
        SegmentPage(student_ids=(), next_cursor=None),
    )
    return {
        "name": name,
        "count": school.segments.count(name),
        "first": list(first.student_ids),
        "more": first.next_cursor,
    }


def _seen(read: Callable[[], T], none: T) -> T:
    """What ``read`` lists of the students the board's actor may see; ``none`` when she
    may see none of those it touched (the read is refused, and audited so)."""
    try:
        return read()
    except AccessDenied:
        return none


def _asset(name: str) -> bytes:
    return resources.files("eduengine.ops").joinpath(STATIC, name).read_bytes()


class BoardApp:
    """The board as an ASGI application over ``school``: see the module's routes.

    The store is read in a small thread pool of its own (the library is blocking);
    requests waiting for news share one look at the feed per ``poll``.
    """

    def __init__(self, school: School, settings: BoardSettings | None = None) -> None:
        if not isinstance(school, School):
            raise InvalidInput(f"expected a School, got {school!r}")
        self.school = school
        self.settings = settings or BoardSettings()
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="eduengine-board")
        self._lock = threading.Lock()
        self._views: dict[str, dict[str, Any]] = {}
        self._counts: dict[str, dict[str, Any]] = {}
        self._counted = float("-inf")
        self._token: tuple[float, str] | None = None

    async def _blocking(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def token(self) -> str:
        """The store's board token, read at most once per ``poll`` for every waiter."""
        with self._lock:
            cached = self._token
            if cached is not None and time.monotonic() - cached[0] < self.settings.poll / 2:
                return cached[1]
        token = board_token(self.school)
        with self._lock:
            self._token = (time.monotonic(), token)
        return token

    def view(self, token: str) -> dict[str, Any]:
        """The board at ``token`` (made once per token, whoever asks)."""
        with self._lock:
            found = self._views.get(token)
        if found is not None:
            return found
        if time.monotonic() - self._counted >= self.settings.segment_every:
            names = self.settings.segments
            counts = {
                name: count_segment(self.school, name, self.settings)
                for name in (names if names is not None else self.school.segments.names())
            }
            with self._lock:
                self._counts, self._counted = counts, time.monotonic()
        made = board_view(self.school, settings=self.settings, segment_counts=self._counts)
        made["token"] = token
        with self._lock:
            # only the newest few are worth keeping: pages ask for the latest
            if len(self._views) > 8:
                self._views.clear()
            self._views[token] = made
        return made

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    self._pool.shutdown(wait=False)
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path = scope["path"]  # decoded, as ASGI servers hand it
        query = {k: v[-1] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}
        try:
            if scope["method"] != "GET":
                await _answer(send, 405, b"GET only\n", "text/plain; charset=utf-8")
            elif path == "/":
                await _answer(send, 200, _asset("board.html"), "text/html; charset=utf-8")
            elif path == "/health":
                await _answer(send, 200, b"ok\n", "text/plain; charset=utf-8")
            elif path == "/board-font.woff":
                await _answer(send, 200, _asset("board-font.woff"), "font/woff", cache=True)
            elif path == "/board.json":
                await _json(send, 200, await self._wait_for_news(query.get("after")))
            elif path.startswith("/segments/"):
                name = path.removeprefix("/segments/")
                page = await self._blocking(self._segment_page, name, query.get("after"))
                await _json(send, 200, page)
            else:
                await _answer(send, 404, b"not found\n", "text/plain; charset=utf-8")
        except NotFound as exc:
            await _json(send, 404, {"error": str(exc)})
        except AccessDenied as exc:
            await _json(send, 403, {"error": str(exc)})
        except EduEngineError as exc:
            await _json(send, 422 if isinstance(exc, InvalidInput) else 500, {"error": str(exc)})

    async def _wait_for_news(self, after: str | None) -> dict[str, Any]:
        deadline = time.monotonic() + self.settings.wait
        while True:
            token = await self._blocking(self.token)
            if token != after or time.monotonic() >= deadline:
                view: dict[str, Any] = await self._blocking(self.view, token)
                return view
            await asyncio.sleep(self.settings.poll)

    def _segment_page(self, name: str, after: str | None) -> dict[str, Any]:
        page = self.school.segments.page(
            name, after=after, limit=100, actor=self.settings.actor
        )
        return {"segment": name, "student_ids": list(page.student_ids), "next": page.next_cursor}


async def _answer(
    send: Send, status: int, body: bytes, content_type: str, *, cache: bool = False
) -> None:
    headers = [
        (b"content-type", content_type.encode()),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"max-age=86400" if cache else b"no-store"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _json(send: Send, status: int, data: object) -> None:
    body = json.dumps(data, ensure_ascii=False, sort_keys=True).encode()
    await _answer(send, status, body, "application/json; charset=utf-8")


# --- a small HTTP/1.1 server for the ASGI app (no dependency) ------------------------------

REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    422: "Unprocessable Content",
    500: "Internal Server Error",
}


async def _handle(
    app: BoardApp, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        writer.close()
        return
    try:
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        method, target, _ = request_line.split(" ", 2)
    except ValueError:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n")
        writer.close()
        return
    path, _, query = target.partition("?")
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "path": unquote(path),
        "raw_path": path.encode("latin-1"),
        "query_string": query.encode(),
        "headers": [],
    }
    status = 500
    headers: list[tuple[bytes, bytes]] = []
    body = bytearray()

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status, headers
        if message["type"] == "http.response.start":
            status, headers = message["status"], list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))

    try:
        await app(scope, receive, send)
    except asyncio.CancelledError:
        # the server is stopping: a waiting page just loses its connection and retries
        writer.close()
        return
    except Exception:  # an unexpected failure answers 500 and the server goes on
        log.exception("board: %s %s failed", method, path)
        status, headers, body = 500, [(b"content-length", b"0")], bytearray()
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'OK')}".encode()]
    lines += [k + b": " + v for k, v in headers]
    lines.append(b"connection: close")
    with contextlib.suppress(ConnectionError):
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + bytes(body))
        await writer.drain()
    writer.close()


async def serve(
    app: BoardApp,
    host: str,
    port: int,
    *,
    stop: Callable[[], bool] = lambda: False,
    ready: Callable[[str, int], None] | None = None,
) -> None:
    """Serve ``app`` on ``host:port`` (port 0: a free one, handed to ``ready``) until
    ``stop()`` is true (checked twice a second): one request per connection, enough for
    an operator's board on an office network. Behind a reverse proxy or for many
    viewers, host :class:`BoardApp` with an ASGI server instead."""
    server = await asyncio.start_server(lambda r, w: _handle(app, r, w), host, port)
    bound = server.sockets[0].getsockname()[1]
    log.info("board: serving on http://%s:%d/", host, bound)
    if ready is not None:
        ready(host, bound)
    async with server:
        while not stop():
            await asyncio.sleep(0.5)


def app_for(school: School, **settings: Any) -> BoardApp:
    """The board's ASGI app over ``school`` (``settings`` as :class:`BoardSettings`)."""
    return BoardApp(school, BoardSettings(**settings))
