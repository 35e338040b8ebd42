"""A command's log record names the public service and method it ran for, and the ids its
call site passed with ``ids=`` (issue #21: commands log their ids explicitly)."""

from __future__ import annotations

import ast
import logging
import textwrap
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from eduengine import BookingService, FixedClock, InMemoryStore
from eduengine.deals import DealService
from eduengine.errors import GroupNotFound, NoticeNotFound, RetryableConflict
from eduengine.notices import NoticeService
from eduengine.payments import FakePaymentGateway
from eduengine.payments.service import PaymentService
from eduengine.people import SYSTEM
from eduengine.policies import CancellationPolicy, PolicyService
from eduengine.reminders import Reminder, ReminderPlan, ReminderService
from eduengine.reminders import handlers as reminder_rules
from eduengine.service_layer.ports import UnitOfWork
from eduengine.service_layer.runner import ServiceBase
from eduengine.students import PackageService, ProfileService
from tests.adapters import StoreHandle

SRC = Path(__file__).resolve().parent.parent / "src" / "eduengine"
#: the runner's own methods and the reader a leaderboard is given (LevelService's)
RUNNERS = frozenset({"_run", "_run_batch", "_read", "_read_records"})


class Host(ServiceBase):
    """A host's own service: it logs the ids it passes, and nothing it does not."""

    def __init__(self) -> None:
        super().__init__(InMemoryStore().unit_of_work)

    def touch(self, slot_id: str, conflicts: int) -> str:
        other_id = f"copy-of-{slot_id}"

        def command(uow: UnitOfWork, now: datetime) -> str:
            nonlocal conflicts
            if conflicts:
                conflicts -= 1
                raise RetryableConflict(f"slot {other_id!r} changed")
            return other_id

        return self._run(command, ids={"slot_id": slot_id})


def test_a_command_logs_the_ids_it_was_given_not_those_its_closure_holds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger=__name__)
    assert Host().touch("s1", conflicts=1) == "copy-of-s1"
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.DEBUG]
    for record in caplog.records:
        assert record.command == "Host.touch"  # type: ignore[attr-defined]
        assert record.slot_id == "s1"  # type: ignore[attr-defined]
        assert not hasattr(record, "other_id")


def test_an_id_named_like_a_log_record_field_cannot_overwrite_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Clashing(Host):
        def clash(self) -> int:
            return self._run(lambda uow, now: 1, ids={"message": "x", "slot_id": "s1"})

    caplog.set_level(logging.DEBUG, logger=__name__)
    assert Clashing().clash() == 1
    assert caplog.records[0].slot_id == "s1"  # type: ignore[attr-defined]
    assert "committed" in caplog.records[0].getMessage()


def test_a_method_a_mixin_defines_logs_under_the_public_service(
    store: StoreHandle, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = FakePaymentGateway()
    deals = DealService(store.unit_of_work, gateway=gateway, clock=clock)
    notices = NoticeService(store.unit_of_work, clock=clock)
    PaymentService(store.unit_of_work, gateway=gateway, clock=clock).add_method("ann", "acct-ann")
    caplog.set_level(logging.INFO, logger="eduengine")

    with pytest.raises(GroupNotFound):
        deals.join_group("no-such-group", "ann")
    with pytest.raises(GroupNotFound):
        deals.get_group("no-such-group", actor=SYSTEM)
    with pytest.raises(NoticeNotFound):
        notices.record_outcome("no-such-notice", "sms", "delivered")

    refused = [
        (r.name, r.command, getattr(r, "group_id", None), getattr(r, "notice_id", None))  # type: ignore[attr-defined]
        for r in caplog.records
    ]
    assert refused == [
        ("eduengine.deals", "DealService.join_group", "no-such-group", None),
        ("eduengine.deals", "DealService.get_group", "no-such-group", None),
        ("eduengine.notices", "NoticeService.record_outcome", None, "no-such-notice"),
    ]
    assert caplog.records[0].student_id == "ann"  # type: ignore[attr-defined]


def _params(fn: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> list[str]:
    args = fn.args
    return [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]


def _forwarders(trees: list[ast.Module]) -> frozenset[str]:
    """Methods that take ``ids`` and hand them on to the runner (``_guarded``,
    ``_expiring``): a call to one names its ids like a call to the runner."""
    return frozenset(
        node.name
        for tree in trees
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and "ids" in _params(node)
    )


def _unnamed_ids(tree: ast.Module, runners: frozenset[str], where: str) -> list[str]:
    """Each ``self.<runner>(...)`` inside a method whose parameters (or those of the
    functions around the call) end in ``_id`` must pass ``ids={...}``, a dict literal with
    each of them under its own name; a method that takes ``ids`` itself may pass them on."""
    problems: list[str] = []

    def visit(node: ast.AST, scopes: list[ast.FunctionDef | ast.AsyncFunctionDef]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, [*scopes, child] if scopes or isinstance(node, ast.ClassDef) else [])
                continue
            if scopes and isinstance(child, ast.Call):
                check(child, scopes)
            visit(child, scopes)

    def check(call: ast.Call, scopes: list[ast.FunctionDef | ast.AsyncFunctionDef]) -> None:
        func = call.func
        if not (
            isinstance(func, ast.Attribute)
            and func.attr in runners
            and isinstance(func.value, ast.Name)
            and func.value.id == "self"
        ):
            return
        wanted = [p for scope in scopes for p in _params(scope) if p.endswith("_id")]
        given = next((k.value for k in call.keywords if k.arg == "ids"), None)
        if given is None:  # a forwarder may take them positionally
            given = next((a for a in call.args if isinstance(a, ast.Dict)), None)
        here = f"{where}:{call.lineno} {scopes[0].name}"
        if isinstance(given, ast.Name) and given.id == "ids" and "ids" in _params(scopes[0]):
            return  # passes on the ids its own caller named
        if not wanted:
            return
        if not isinstance(given, ast.Dict):
            problems.append(f"{here}: self.{func.attr}(...) names no ids= {wanted}")
            return
        named = {
            key.value: value
            for key, value in zip(given.keys, given.values, strict=True)
            if isinstance(key, ast.Constant) and isinstance(key.value, str)
        }
        for param in wanted:
            value = named.get(param)
            if not (isinstance(value, ast.Name) and value.id == param):
                problems.append(f"{here}: ids= does not name {param!r} as {param}")

    visit(tree, [])
    return problems


def test_every_command_names_the_ids_it_was_given() -> None:
    files = sorted(SRC.rglob("*.py"))
    trees = [ast.parse(path.read_text(encoding="utf-8")) for path in files]
    runners = RUNNERS | _forwarders(trees)
    assert {"_guarded", "_expiring"} <= runners
    problems = [
        problem
        for path, tree in zip(files, trees, strict=True)
        for problem in _unnamed_ids(tree, runners, str(path.relative_to(SRC)))
    ]
    assert problems == []


def test_the_id_check_finds_a_command_that_names_too_few_ids() -> None:
    planted = textwrap.dedent(
        """
        class Desk:
            def book(self, slot_id, student_id):
                def attempt(uow, now):
                    return slot_id, student_id
                self._run(attempt, ids={"slot_id": slot_id})
                self._run(attempt, ids={"slot_id": slot_id, "student_id": slot_id})
                self._run(attempt)
                return self._run(attempt, ids={"slot_id": slot_id, "student_id": student_id})

            def sweep(self):
                return self._run(lambda uow, now: 0)

            def _helper(self, student_id, ids):
                return self._run(lambda uow, now: student_id, ids=ids)
        """
    )
    problems = _unnamed_ids(ast.parse(planted), RUNNERS, "planted.py")
    assert problems == [
        "planted.py:6 book: ids= does not name 'student_id' as student_id",
        "planted.py:7 book: ids= does not name 'student_id' as student_id",
        "planted.py:8 book: self._run(...) names no ids= ['slot_id', 'student_id']",
    ]


def test_a_command_made_with_partial_is_logged_under_its_function(
    store: StoreHandle, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    # a partial has no __qualname__: naming it for the log raised AttributeError after the
    # reminder was taken, so it was never sent while DEBUG logging was on
    slots = BookingService(store.unit_of_work, clock=clock)
    desk = PolicyService(store.unit_of_work, policy=CancellationPolicy(), clock=clock)
    reminder_rules.subscribe(desk.bus, ReminderPlan())
    reminders = ReminderService(store.unit_of_work, clock=clock)
    start = clock.now() + timedelta(hours=48)
    slot = slots.create_slot("math", start, start + timedelta(hours=1), 5)
    # a PolicyService built alone books on its own bus (where the reminder rules are) only
    # through its deprecated alias
    with pytest.deprecated_call(match="school.book"):
        booking = desk.book(slot.id, "ann")
    sent: list[Reminder] = []

    class Outbox:
        def send(self, reminder: Reminder) -> None:
            sent.append(reminder)

    caplog.set_level(logging.DEBUG, logger="eduengine.reminders")
    assert reminders.send_due(Outbox()) == 1
    assert [r.booking_id for r in sent] == [booking.id]
    assert reminders.send_due(Outbox()) == 0  # it was marked sent
    logged = [
        (r.command, getattr(r, "booking_id", None) or getattr(r, "notice_id", ""))  # type: ignore[attr-defined]
        for r in caplog.records
    ]
    # a class row is taken by its notice key (it names the booking), settled by booking
    assert any(c == "ReminderService._take_one" and booking.id in str(i) for c, i in logged)
    assert ("ReminderService._settle_one", booking.id) in logged


def test_an_optional_id_not_given_is_left_out_of_the_log(
    store: StoreHandle, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    ProfileService(store.unit_of_work, clock=clock).register("ann", name="Ann")
    packages = PackageService(store.unit_of_work, clock=clock)
    caplog.set_level(logging.DEBUG, logger="eduengine.students")
    packages.buy_package("ann", credits=4, valid_for=timedelta(days=30))
    (record,) = [r for r in caplog.records if r.command == "PackageService.buy_package"]  # type: ignore[attr-defined]
    assert record.student_id == "ann"  # type: ignore[attr-defined]
    assert not hasattr(record, "course_id")
    assert not hasattr(record, "package_id")
