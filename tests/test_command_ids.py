"""A command's log record names the public service and method it ran for, and the ids its
call site passed with ``ids=`` (issue #21: commands log their ids explicitly)."""

from __future__ import annotations

import logging
from datetime import datetime

import pytest

from eduengine import FixedClock, InMemoryStore
from eduengine.deals import DealService
from eduengine.errors import GroupNotFound, NoticeNotFound, RetryableConflict
from eduengine.notices import NoticeService
from eduengine.payments import FakePaymentGateway
from eduengine.service_layer.ports import UnitOfWork
from eduengine.service_layer.runner import ServiceBase
from tests.adapters import StoreHandle


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
    deals = DealService(store.unit_of_work, gateway=FakePaymentGateway(), clock=clock)
    notices = NoticeService(store.unit_of_work, clock=clock)
    caplog.set_level(logging.INFO, logger="eduengine")

    with pytest.raises(GroupNotFound):
        deals.join_group("no-such-group", "ann", account="acct-ann")
    with pytest.raises(GroupNotFound):
        deals.get_group("no-such-group")
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
