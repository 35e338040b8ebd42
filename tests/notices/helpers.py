"""A school with recording notifiers, shared by the notice tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import attrs

from eduengine import FixedClock, School, Slot
from eduengine.notices import Notice, NoticePolicy
from tests.adapters import StoreHandle


@attrs.define
class Provider:
    """A fake provider of every channel: records each call; ``fail`` decides, per call,
    whether it raises."""

    calls: list[tuple[str, Notice]] = attrs.field(factory=list)
    fail: Callable[[Notice, str], bool] = lambda notice, channel: False

    def send(self, notice: Notice, channel: str, key: str) -> None:
        self.calls.append((key, notice))
        if self.fail(notice, channel):
            raise ConnectionError(f"provider refused {key}")

    def keys(self) -> list[str]:
        return [key for key, _ in self.calls]


@attrs.define
class NoticeSchool:
    school: School
    clock: FixedClock
    provider: Provider

    def slot(self, in_hours: float, capacity: int = 5, tutor: str = "wang") -> Slot:
        start = self.clock.now() + timedelta(hours=in_hours)
        return self.school.booking.create_slot(
            "math", start, start + timedelta(hours=1), capacity, tutor_id=tutor
        )

    def deliver(self, worker: str = "w1") -> list[str]:
        before = len(self.provider.calls)
        self.school.notices.deliver_due(worker)
        return self.provider.keys()[before:]


def notice_school(
    store: StoreHandle, clock: FixedClock, policy: NoticePolicy | None = None
) -> NoticeSchool:
    provider = Provider()
    school = School.build(
        store,
        clock=clock,
        notices=policy or NoticePolicy(),
        notifiers={name: provider for name in ("in_app", "sms", "wechat", "email")},
    )
    return NoticeSchool(school, clock, provider)
