"""``AsyncSchool`` is typed: mypy --strict sees a host module's awaits as the services'
return types and refuses a wrong argument; the generated proxies are up to date."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parents[2]

HOST = """
from datetime import datetime, timedelta, timezone

from eduengine import InMemoryStore, School
from eduengine.pricing import Customer, Money, OrderLine
from eduengine.students import Actor
from eduengine.web.aio import AsyncSchool


async def pages(aschool: AsyncSchool) -> None:
    start = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    slot = await aschool.booking.create_slot("math", start, start + timedelta(hours=1), 3)
    reveal_type(slot)
    booking = await aschool.booking.book(slot.id, "ann", idempotency_key="k1")
    reveal_type(booking)
    cancelled = await aschool.booking.cancel(booking.id, reason_code="sick")
    reveal_type(cancelled.status)
    order = await aschool.pricing.checkout(
        "o1", Customer(student_id="ann"), [OrderLine(course_id="py", price=Money("9", "CNY"))],
        account="acct-ann",
    )
    reveal_type(order)
    group = await aschool.deals.join_group("g1", "bob", account="acct-bob")
    reveal_type(group)
    reveal_type(aschool.booking.book)


def build() -> AsyncSchool:
    return AsyncSchool(School.build(InMemoryStore()))


async def school_pages(aschool: AsyncSchool, slot_id: str) -> int:
    seat = await aschool.book(slot_id, "ann", idempotency_key="k2")
    outcome = await aschool.cancel(seat.id, idempotency_key="k3")
    reveal_type(outcome)
    start = datetime(2026, 3, 2, tzinfo=timezone.utc)
    page = await aschool.queries.timetable(start=start, end=start + timedelta(days=1))
    reveal_type(page)
    desk = Actor(id="u-desk", role="support")
    roster = await aschool.queries.roster(actor=desk, slot_id=slot_id, after=page.next)
    reveal_type(roster.items[0].status)
    groups = await aschool.queries.open_groups("spring", order="newest")
    reveal_type(groups.items[0].seats_to_go)
    shot = await aschool.queries.snapshot(slot_id)
    return shot.slot.seats_left + groups.items[0].seats_to_go
"""


def _mypy(tmp_path: Path, source: str) -> tuple[str, int]:
    module = tmp_path / "host_app.py"
    module.write_text(textwrap.dedent(source))
    out, err, status = api.run(
        [
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--config-file",
            "",
            str(module),
        ]
    )
    return out + err, status


def test_a_host_module_sees_the_real_return_types(tmp_path: Path) -> None:
    out, status = _mypy(tmp_path, HOST)
    revealed = [
        line.split("Revealed type is ", 1)[1] for line in out.splitlines() if "Revealed" in line
    ]
    assert revealed == [
        '"eduengine.booking.model.Slot"',
        '"eduengine.booking.model.Booking"',
        '"eduengine.booking.model.BookingStatus"',
        '"eduengine.pricing.orders.Order"',
        '"eduengine.deals.model.GroupDeal"',
        '"def (slot_id: str, student_id: str, *, idempotency_key: str | None =) -> '
        'typing.Coroutine[Any, Any, eduengine.booking.model.Booking]"',
        '"eduengine.policies.service.CancellationOutcome"',
        '"eduengine.booking.timetable.Page[eduengine.booking.timetable.SlotSummary]"',
        '"str | None"',
        '"int"',
    ], out
    assert status == 0 and "error" not in out, out  # reveal_type notes only


def test_a_planted_type_error_fails(tmp_path: Path) -> None:
    planted = HOST.replace(
        'booking = await aschool.booking.book(slot.id, "ann", idempotency_key="k1")',
        "booking = await aschool.booking.book(slot.id, 42)",
    ).replace("reveal_type(", "print(")
    out, status = _mypy(tmp_path, planted)
    assert status == 1
    assert 'Argument 2 to "book" of "SeatService" has incompatible type "int"' in out or (
        'incompatible type "int"; expected "str"' in out
    ), out


def test_a_planted_type_error_in_a_query_fails(tmp_path: Path) -> None:
    planted = HOST.replace(
        "return shot.slot.seats_left + groups.items[0].seats_to_go",
        "return shot.slot.seats_left + groups.items[0].campaign_id",
    ).replace("reveal_type(", "print(")
    out, status = _mypy(tmp_path, planted)
    assert status == 1
    assert 'Unsupported operand types for + ("int" and "str")' in out, out
    missing_actor = HOST.replace("roster(actor=desk, ", "roster(").replace("reveal_type(", "print(")
    out, status = _mypy(tmp_path, missing_actor)
    assert status == 1 and 'Missing named argument "actor"' in out, out


def test_the_generated_proxies_are_up_to_date() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts/aio_services.py"), "--check"],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT / "src")},
        check=False,
    )
    assert done.returncode == 0, done.stderr
