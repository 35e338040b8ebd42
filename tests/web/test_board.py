"""The operator's board (``eduengine board``) in a real headless browser, against a
seeded SQLite store: the page shows the library's numbers, follows a booking made in
another process within 2 s, renders its Chinese text with its CJK font and clips no
label."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from eduengine import store_from_url
from eduengine.ops.board import BoardSettings, board_view
from eduengine.ops.jobs import migrate
from tests.web import board_school
from tests.web.servers import ROOT, _env

pytestmark = pytest.mark.slow
#: the processes import this checkout's library and the tests' school factory
ENV = _env({"PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"})

# every CJK character the page shows is drawn with the page's fonts and compared with a
# character no font here has (U+9FD0, Unicode 10): equal pixels mean a box, not a glyph
GLYPHS = """async () => {
  await document.fonts.ready;
  const faces = [...document.fonts].filter((f) => f.family.replace(/"/g, "") === "EduBoard CJK");
  const text = document.body.innerText;
  const cjk = [...new Set(text.match(/[\\u3400-\\u9fff]/g) || [])];
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 48;
  const g = canvas.getContext("2d", {willReadFrequently: true});
  const family = getComputedStyle(document.body).fontFamily;
  const draw = (ch) => {
    g.clearRect(0, 0, 48, 48);
    g.font = `32px ${family}`;
    g.fillText(ch, 4, 36);
    return g.getImageData(0, 0, 48, 48).data.join(",");
  };
  const box = draw("\\u9fd0");
  return {
    loaded: faces.map((f) => f.status),
    check: document.fonts.check('16px "EduBoard CJK"', "运营看板"),
    boxes_alike: draw("\\u9fd1") === box,
    cjk: cjk.length,
    missing: cjk.filter((ch) => draw(ch) === box),
  };
}"""

# a label is clipped if its text is wider than its box, or runs past the viewport
CLIPPED = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll("h1, h2, .label, .value, td, th, li, a, p")) {
    const style = getComputedStyle(el);
    const rect = el.getBoundingClientRect();
    if (rect.right > width + 1 || rect.left < -1) out.push(`${el.textContent} runs out`);
    if (style.display !== "inline" && el.scrollWidth > el.clientWidth + 1)
      out.push(`${el.textContent} is cut (${el.scrollWidth} > ${el.clientWidth})`);
    const hidden = style.overflow !== "visible";
    if (style.display !== "inline" && hidden && el.scrollHeight > el.clientHeight + 1)
      out.push(`${el.textContent} is cut vertically`);
  }
  return out;
}"""

DOM = """() => {
  const value = (name) => document.querySelector(`[data-field="${name}"]`).dataset.value;
  return {
    token: document.body.dataset.token || null,
    booked: value("today.booked"), offered: value("today.offered"),
    fill: value("today.fill"), attendance: value("today.attendance"),
    no_show: value("today.no_show"),
    courses: [...document.querySelectorAll('[data-row="course"]')].map(
      (r) => [r.dataset.course, r.dataset.booked, r.dataset.offered]),
    groups: [...document.querySelectorAll('[data-row="groups"]')].map(
      (r) => [r.cells[0].textContent, r.cells[2].dataset.value]),
    renewals: [...document.querySelectorAll('[data-row="renewals"]')].map(
      (r) => [r.cells[1].textContent, r.cells[2].dataset.value]),
    alerts: [...document.querySelectorAll('[data-row="alert"]')].map((li) => [
      li.textContent, getComputedStyle(li).color]),
    segments: [...document.querySelectorAll('[data-row="segments"]')].map((r) => [
      r.dataset.segment, r.cells[1].dataset.value, r.cells[2].textContent,
      r.querySelector("a").getAttribute("href")]),
  };
}"""


def _board(url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "eduengine",
            "--store",
            url,
            "--school",
            "tests.web.board_school:build",
            "board",
            "--port",
            "0",
            "--zone",
            board_school.ZONE,
        ],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """(store URL, board URL, an afternoon slot with seats left)."""
    tmp = tmp_path_factory.mktemp("board")
    url = f"sqlite:///{tmp / 'school.sqlite3'}"
    store = store_from_url(url)
    migrate(store)
    seeded = board_school.seed(store)
    store.close()
    proc = _board(url)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the board did not start: {proc.stderr and proc.stderr.read()}")
        board = json.loads(line)["board"]["url"]
        httpx.get(board + "health", timeout=10).raise_for_status()
        yield url, board, seeded["slot"]
    finally:
        proc.terminate()
        try:
            stopped = proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    # SIGTERM stops the board cleanly, waiting pages and all
    assert stopped == 0, proc.stderr and proc.stderr.read()


def expected(url: str) -> dict[str, Any]:
    """The board's numbers from the library's own queries, read here."""
    store = store_from_url(url)
    try:
        school = board_school.build(store)
        view = board_view(school, settings=BoardSettings(zone=board_school.ZONE))
        # the same numbers straight from the analytics queries the board is made of
        from eduengine.analytics import Period

        today = school.clock.now().astimezone(view_zone()).date()
        period = Period.days(today, 1, board_school.ZONE)
        (fill,) = school.analytics.fill_rate(period, by="school")
        assert (view["today"]["booked"], view["today"]["offered"]) == (fill.booked, fill.offered)
        (seen,) = school.analytics.attendance(period, by="school")
        assert view["today"]["no_show"] == seen.no_show
        assert [s["count"] for s in view["segments"]] == [
            school.segments.count(n) for n in school.segments.names()
        ]
        return view
    finally:
        store.close()


def view_zone() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(board_school.ZONE)


def test_the_board_shows_the_stores_numbers_and_a_booking_from_another_process(
    seeded: tuple[str, str, str], tmp_path: Path
) -> None:
    from tests.web.browser import chromium

    url, board, slot_id = seeded
    want = expected(url)
    with chromium(tmp_path) as context:
        page = context.new_page()
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(board)
        page.wait_for_function("() => document.body.dataset.token !== undefined", timeout=15000)
        shown = page.evaluate(DOM)
        today = want["today"]
        assert shown["booked"] == str(today["booked"]) and today["booked"] > 0
        assert shown["offered"] == str(today["offered"])
        assert shown["fill"] == today["fill"]
        assert shown["attendance"] == today["attendance"]
        assert shown["no_show"] == str(today["no_show"])
        assert shown["courses"] == [
            [c["course"], str(c["booked"]), str(c["offered"])] for c in want["courses"]
        ]
        assert shown["groups"] == [[g["group"], str(g["taken"])] for g in want["groups"]]
        assert len(shown["groups"]) == 1
        assert shown["renewals"] == [
            [p["package"], str(p["credits_left"])] for p in want["renewals"]
        ]
        assert len(shown["renewals"]) == 3
        # the alert rule fires on yesterday's attendance: its line is red
        assert [text for text, _ in shown["alerts"]] == [a["message"] for a in want["alerts"]]
        assert shown["alerts"] and all(colour == "rgb(176, 0, 32)" for _, colour in shown["alerts"])
        assert shown["segments"] == [
            [
                s["name"],
                str(s["count"]),
                ", ".join(s["first"]),
                "/segments/" + "".join(f"%{b:02X}" for b in s["name"].encode()),
            ]
            for s in want["segments"]
        ]
        # a segment's link lists its students
        listed = httpx.get(board + shown["segments"][0][3].lstrip("/"), timeout=10).json()
        assert listed["student_ids"] == want["segments"][0]["first"]

        # Chinese text is drawn with glyphs, from the board's own font
        glyphs = page.evaluate(GLYPHS)
        assert glyphs["loaded"] == ["loaded"] and glyphs["check"]
        assert glyphs["boxes_alike"], "the box check cannot tell a glyph from a box here"
        assert glyphs["cjk"] > 30 and glyphs["missing"] == []
        # no label is cut, wide or narrow
        assert page.evaluate(CLIPPED) == []
        page.set_viewport_size({"width": 360, "height": 800})
        assert page.evaluate(CLIPPED) == []

        # a booking made by another process shows within 2 s of its commit
        before = int(shown["booked"])
        booked = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from eduengine import store_from_url; "
                "from tests.web import board_school as b; "
                "b.build(store_from_url(sys.argv[1])).booking.book(sys.argv[2], 'newcomer')",
                url,
                slot_id,
            ],
            cwd=ROOT,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=60,
        )
        committed = time.monotonic()
        assert booked.returncode == 0, booked.stderr
        page.wait_for_function(
            f"() => document.querySelector('[data-field=\"today.booked\"]').dataset.value"
            f" === '{before + 1}'",
            timeout=5000,
        )
        assert time.monotonic() - committed < 2.0
        after = page.evaluate(DOM)
        assert after["booked"] == str(expected(url)["today"]["booked"]) == str(before + 1)
