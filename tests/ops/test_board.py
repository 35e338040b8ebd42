"""The operator's board on every adapter: its numbers are the library's queries', its
token moves with each commit, and its ASGI app answers the page, the data (a long poll
that returns on news), the font and segment pages (the browser test is
tests/web/test_board.py)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import MutableMapping
from datetime import timedelta
from typing import Any

import pytest

from eduengine import FixedClock, School
from eduengine.analytics import Period
from eduengine.errors import InvalidInput, WrongType
from eduengine.growth import Segment
from eduengine.ops.board import BoardApp, BoardSettings, board_token, board_view
from eduengine.people import SYSTEM, StaffRole
from eduengine.students import Actor
from tests.adapters import StoreHandle
from tests.conftest import T0


def seeded(store: StoreHandle) -> tuple[School, FixedClock, str]:
    clock = FixedClock(T0)
    school = School.build(store, clock=clock, reminders=None)
    for n in range(4):
        school.students.register(f"s{n}", name=f"学员{n}")
    slot = school.booking.create_slot(
        "数学", T0 + timedelta(hours=2), T0 + timedelta(hours=3), capacity=5
    )
    for n in range(3):
        school.booking.book(slot.id, f"s{n}")
    school.students.buy_package("s0", credits=4, valid_for=timedelta(days=3), activate=True)
    school.segments.save("未购买", Segment(max_purchases=0))
    return school, clock, slot.id


def test_the_board_shows_the_librarys_numbers_and_its_token_follows_commits(
    store: StoreHandle,
) -> None:
    school, _, slot_id = seeded(store)
    view = board_view(school, zone="UTC")
    (fill,) = school.analytics.fill_rate(Period.days(T0.date(), 1), by="school")
    assert (view["today"]["booked"], view["today"]["offered"]) == (fill.booked, 5) == (3, 5)
    assert view["today"]["fill"] == "0.6" and view["today"]["attendance"] is None
    assert view["courses"] == [{"course": "数学", "offered": 5, "booked": 3, "fill": "0.6"}]
    assert [p["student"] for p in view["renewals"]] == ["s0"]
    assert view["segments"] == [
        {"name": "未购买", "count": 3, "first": ["s1", "s2", "s3"], "more": None}
    ]
    before = board_token(school)
    assert board_token(school) == before
    school.booking.book(slot_id, "s3")
    assert board_token(school) != before
    assert board_view(school)["today"]["booked"] == 4
    with pytest.raises(InvalidInput):
        BoardSettings(zone="Mars/Olympus")
    with pytest.raises(InvalidInput):
        BoardSettings(renew_within=timedelta(0))


Message = MutableMapping[str, Any]


def get(app: BoardApp, path: str, query: str = "", method: str = "GET") -> tuple[int, bytes]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "query_string": query.encode()}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


def test_the_app_serves_the_page_the_font_and_answers_a_long_poll_on_news(
    store: StoreHandle,
) -> None:
    school, _, slot_id = seeded(store)
    app = BoardApp(school, BoardSettings(poll=0.05, wait=0.3, segment_every=0.01))
    status, page = get(app, "/")
    assert status == 200 and "运营看板".encode() in page and b"board-font.woff" in page
    status, font = get(app, "/board-font.woff")
    assert status == 200 and font[:4] == b"wOFF"
    status, body = get(app, "/board.json")
    first = json.loads(body)
    assert status == 200 and first["today"]["booked"] == 3
    # nothing new: the poll waits its time, then answers with the same token
    status, body = get(app, "/board.json", f"after={first['token']}")
    assert json.loads(body)["token"] == first["token"]
    # a booking while a poll waits: it answers with the news
    app.settings = BoardSettings(poll=0.05, wait=30, segment_every=0.01)
    timer = threading.Timer(0.3, lambda: school.booking.book(slot_id, "s3"))
    timer.start()
    news = json.loads(get(app, "/board.json", f"after={first['token']}")[1])
    timer.join()
    assert news["token"] != first["token"]
    # the feed's head may move before the analytics projection applied the booking (it
    # runs after the commit): the next poll answers when its checkpoint moves
    for _ in range(20):
        if news["today"]["booked"] == 4:
            break
        news = json.loads(get(app, "/board.json", f"after={news['token']}")[1])
    assert news["today"]["booked"] == 4
    assert news["segments"][0]["count"] == 3
    status, body = get(app, "/segments/未购买")
    assert status == 200 and json.loads(body)["student_ids"] == ["s1", "s2", "s3"]
    assert get(app, "/segments/nope")[0] == 404
    assert get(app, "/segments/未购买", "after=bogus")[0] == 422
    assert get(app, "/board.json", method="POST")[0] == 405
    assert get(app, "/nothing")[0] == 404


def test_a_board_served_to_an_operator_lists_only_the_students_she_may_see(
    store: StoreHandle,
) -> None:
    school, _, _ = seeded(store)
    school.people.register_staff("u-tutor", StaffRole.TUTOR, student_ids={"s2"})
    tutor = Actor(id="u-tutor", role="tutor")
    settings = BoardSettings(actor=tutor, segment_every=0.01)
    view = board_view(school, settings=settings)
    # the count is a number of the whole segment; the students listed are hers
    assert view["segments"] == [{"name": "未购买", "count": 3, "first": ["s2"], "more": None}]
    assert view["renewals"] == []  # s0's package: not her student
    app = BoardApp(school, settings)
    status, body = get(app, "/segments/未购买")
    assert status == 200 and json.loads(body)["student_ids"] == ["s2"]
    school.people.revoke_all("u-tutor")
    assert get(app, "/segments/未购买")[0] == 403
    page = school.people.audit_log(actor=SYSTEM, actor_id="u-tutor", limit=100)
    assert {(e.student_id, e.action) for e in page.entries} == {
        ("s2", "read"),
        ("s0", "denied"),
        ("s1", "denied"),
        ("s2", "denied"),
        ("s3", "denied"),
    }
    with pytest.raises(WrongType):
        BoardSettings(actor="u-tutor")  # type: ignore[arg-type]


def test_the_board_command_refuses_bad_arguments_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from eduengine.ops.cli import main

    for bad in (["--zone", "Mars/Olympus"], ["--renew-days", "0"], ["--segment-every", "0s"]):
        with pytest.raises(SystemExit) as exited:
            main(["--store", "memory://", "board", *bad])
        assert exited.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("eduengine: error: argument") and err.count("\n") == 1
