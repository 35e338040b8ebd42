"""Delivering due notices exactly once per channel: the channel registry, claiming a
batch under a lease, sending outside any transaction, acknowledging, and each
recipient's channel history (part of :class:`~eduengine.notices.NoticeService`).

>>> ChannelRegistry().names()
[]
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from eduengine.errors import DeliveryFailed, InvalidInput, NoticeNotFound
from eduengine.kernel.codec import micros
from eduengine.kernel.inputs import check_id, check_int, check_text
from eduengine.notices.model import (
    DEAD,
    Notice,
    NoticePolicy,
    Notifier,
    Recipient,
    acknowledge,
    best_of,
    check_channel,
    claim,
    finished,
    next_due,
    notice_of,
)
from eduengine.notices.planning import (
    DUE,
    MAX_KEY_LENGTH,
    NOTICES,
    OUTCOMES,
    STATS,
    check_recipient,
    find_notice,
    store,
    student_index,
)
from eduengine.people.access import audit_system
from eduengine.service_layer.ports import UnitOfWork
from eduengine.service_layer.runner import ServiceBase, scan_after


class ChannelRegistry:
    """The notifiers of a school by channel name: open, any name registers.

    >>> registry = ChannelRegistry()
    >>> class Print:
    ...     def send(self, notice, channel, key): print(key)
    >>> registry.register("wechat", Print())
    >>> registry.names()
    ['wechat']
    """

    def __init__(self, notifiers: Mapping[str, Notifier] | None = None) -> None:
        self._notifiers: dict[str, Notifier] = {}
        for name, notifier in (notifiers or {}).items():
            self.register(name, notifier)

    def register(self, channel: str, notifier: Notifier) -> None:
        """Send ``channel`` through ``notifier`` (replacing an earlier one)."""
        if not callable(getattr(notifier, "send", None)):
            raise InvalidInput(
                f"a notifier needs a send(notice, channel, key) method: {notifier!r}"
            )
        self._notifiers[check_channel(channel)] = notifier

    def get(self, channel: str) -> Notifier | None:
        return self._notifiers.get(channel)

    def names(self) -> list[str]:
        return sorted(self._notifiers)


@attrs.define
class DeliveryReport:
    """What one :meth:`NoticeService.deliver_due` call did (counted per channel)."""

    sent: int = 0
    failed: int = 0
    dead: int = 0
    lost: int = 0
    expired: int = 0
    deferred: int = 0


@attrs.frozen
class _Claim:
    notice: Notice
    #: the document holding it (a class document holds a booking's notices as steps)
    key: str
    channels: tuple[str, ...]
    #: when the lease runs out: past it another worker may hold the notice
    until: int


_Claimed = tuple[list[_Claim], list[tuple[str, int]], dict[str, int]]


def _live_channels(doc: dict[str, Any], notice_id: str) -> dict[str, Any]:
    """The stored channel states of ``notice_id`` in ``doc``, to change in place."""
    for n, step in enumerate(doc.get("steps") or []):
        if step["id"] == notice_id and n != doc["step"]:
            return step["channels"] or {}
    channels: dict[str, Any] = doc["channels"]
    return channels


class NoticeDelivery(ServiceBase):
    """Delivery, outcomes and channel history."""

    policy: NoticePolicy
    channels: ChannelRegistry

    def deliver_due(self, worker_id: str, *, batch: int = 50) -> DeliveryReport:
        """Send every notice due now, each channel once; returns what happened.

        Claims up to ``batch`` due notices at a time under a lease of ``policy.lease``
        (one short unit of work), sends their channels, and acknowledges each channel in
        its own unit of work. A failed send is retried after a doubling back-off and
        dead-lettered after ``policy.max_attempts`` attempts (the recipient's next
        fallback channel then takes over). Run it from as many workers and processes as
        you like, each with its own ``worker_id``; a worker that dies mid-batch leaves
        its notices to whoever runs after its lease ran out.
        """
        check_id(worker_id, "worker_id")
        check_int(batch, "batch", low=1)
        if not isinstance(worker_id, str) or not worker_id:
            raise InvalidInput("a worker needs a non-empty id")
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise InvalidInput(f"batch must be a positive int, got {batch!r}")
        report = DeliveryReport()
        # a fixed horizon and a keyset cursor: a notice retried later is not met again in
        # this call, so the loop ends even under a real clock and a failing provider
        horizon = micros(self.clock.now())
        cursor: tuple[int, str] | None = None
        while True:
            token = self._new_id()
            claims, rows, happened = self._run_batch(
                self._claim(worker_id, token, cursor, horizon, batch), ids={"worker_id": worker_id}
            )
            report.expired += happened["expired"]
            report.deferred += happened["deferred"]
            report.dead += happened["dead"]
            for taken in claims:
                self._send(taken, token, report)
            # a class document whose step went out moves on to its next step, which may be
            # due already (a worker that was down): it goes out in this call too
            moved = [(c.key, c.notice.id) for c in claims if c.key != c.notice.id]
            while moved:
                token = self._new_id()
                more, _, happened = self._run(
                    self._claim_steps(worker_id, token, moved, horizon),
                    ids={"worker_id": worker_id},
                )
                report.expired += happened["expired"]
                report.deferred += happened["deferred"]
                report.dead += happened["dead"]
                for taken in more:
                    self._send(taken, token, report)
                moved = [(c.key, c.notice.id) for c in more]
            if len(rows) < batch:
                return report
            cursor = rows[-1][1], rows[-1][0]

    def _claim(
        self,
        worker_id: str,
        token: str,
        cursor: tuple[int, str] | None,
        horizon: int,
        batch: int,
    ) -> Callable[[UnitOfWork, datetime], _Claimed]:
        def command(uow: UnitOfWork, now: datetime) -> _Claimed:
            rows = scan_after(uow.records, NOTICES, DUE, cursor, min(horizon, micros(now)), batch)
            claims, total = self._take(uow, now, [(key, None) for key, _ in rows], worker_id, token)
            return claims, rows, total

        return command

    def _claim_steps(
        self, worker_id: str, token: str, moved: list[tuple[str, str]], horizon: int
    ) -> Callable[[UnitOfWork, datetime], _Claimed]:
        """Claim the next step of class documents whose step ``moved`` went out."""

        def command(uow: UnitOfWork, now: datetime) -> _Claimed:
            at = min(horizon, micros(now))
            due = []
            for key, sent in moved:
                doc = uow.records.get(NOTICES, key)
                step = None if doc is None else next_due(doc)
                if doc is not None and step is not None and step <= at:
                    due.append((key, sent))
            claims, total = self._take(uow, now, due, worker_id, token)
            return claims, [], total

        return command

    def _take(
        self,
        uow: UnitOfWork,
        now: datetime,
        keys: Sequence[tuple[str, str | None]],
        worker_id: str,
        token: str,
    ) -> tuple[list[_Claim], dict[str, int]]:
        """Claim the due channels of the documents ``keys`` (skipping one still at the
        step given beside its key) under ``token``'s lease."""
        claims = []
        total = {"expired": 0, "deferred": 0, "dead": 0}
        for key, sent in keys:
            doc = uow.records.get(NOTICES, key)  # locked: re-check under the lock
            if doc is None or finished(doc) or notice_of(doc).id == sent:
                continue
            before = copy.deepcopy(doc)
            taken, happened = claim(doc, now=now, owner=worker_id, token=token, policy=self.policy)
            for what, count in happened.items():
                total[what] += count
            if doc != before:  # another worker's live lease: nothing to write
                store(uow, doc)
            if taken:
                notice = notice_of(doc)
                claims.append(_Claim(notice, key, tuple(taken), doc["lease"]["until"]))
                # the library reads the recipient's contacts to send: audited as system
                audit_system(uow, notice.recipient.student_id, "delivery", now)
        return claims, total

    def _send(self, taken: _Claim, token: str, report: DeliveryReport) -> None:
        notice = taken.notice
        for n, channel in enumerate(taken.channels):
            now = micros(self.clock.now())
            late = notice.not_after is not None and now >= micros(notice.not_after)
            if now >= taken.until or late:
                # a worker that stalled (a slow provider, a paused process) sends nothing
                # more of its claim: the notice may be another worker's by now, or its
                # class may have started; the next claim settles it
                report.lost += len(taken.channels) - n
                return
            notifier = self.channels.get(channel)
            error: str | None = None
            try:
                if notifier is None:
                    raise DeliveryFailed(f"no notifier is registered for channel {channel!r}")
                notifier.send(notice, channel, notice.key(channel))
            except Exception as exc:  # any provider failure is a failed attempt
                error = f"{type(exc).__name__}: {exc}"
            state = self._run(
                self._ack(
                    notice, taken.key, channel, token, error, release=n == len(taken.channels) - 1
                )
            )
            if state is None:
                report.lost += 1
            elif state == "sent":
                report.sent += 1
            elif state == DEAD:
                report.dead += 1
            else:
                report.failed += 1

    def _ack(
        self,
        notice: Notice,
        key: str,
        channel: str,
        token: str,
        error: str | None,
        *,
        release: bool,
    ) -> Callable[[UnitOfWork, datetime], str | None]:
        def command(uow: UnitOfWork, now: datetime) -> str | None:
            doc = uow.records.get(NOTICES, key)
            if doc is None or notice_of(doc).id != notice.id:
                return None  # erased meanwhile, or no longer at this step
            state = acknowledge(
                doc,
                token=token,
                channel=channel,
                error=error,
                now=now,
                policy=self.policy,
                release=release,
            )
            if state is None:
                return None
            store(uow, doc)
            counted = "sent" if state == "sent" else "dead" if state == DEAD else "failed"
            self._count(uow, notice.recipient, channel, counted)
            return state

        return command

    def record_outcome(self, notice_id: str, channel: str, outcome: str) -> bool:
        """Record that a sent notice was ``delivered`` or ``opened`` on ``channel`` (from
        the provider's receipt or the app); returns False if it was recorded already."""
        check_text(notice_id, "notice_id", max_length=MAX_KEY_LENGTH)
        check_channel(channel)
        check_id(outcome, "outcome")
        if outcome not in OUTCOMES:
            raise InvalidInput(f"an outcome is one of {OUTCOMES}, got {outcome!r}")

        def command(uow: UnitOfWork, now: datetime) -> bool:
            doc = find_notice(uow, notice_id)
            if doc is None:
                raise NoticeNotFound(notice_id)
            state = _live_channels(doc, notice_id).get(channel)
            if state is None or state["state"] != "sent":
                raise InvalidInput(f"notice {notice_id!r} was not sent on {channel!r}")
            seen = state.setdefault("outcomes", [])
            if outcome in seen:
                return False
            seen.append(outcome)
            store(uow, doc)
            self._count(uow, Recipient.from_record(doc["recipient"]), channel, outcome)
            return True

        return self._run(command, ids={"notice_id": notice_id})

    def channel_history(self, recipient_id: str) -> dict[str, dict[str, int]]:
        """Per channel: how many notices were sent, failed, dead-lettered, delivered,
        opened."""
        check_recipient(recipient_id)

        def query(uow: UnitOfWork, now: datetime) -> dict[str, dict[str, int]]:
            return dict(uow.records.get(STATS, recipient_id) or {})

        return self._run(query, write=False, ids={"recipient_id": recipient_id})

    def best_channel(self, recipient_id: str) -> str | None:
        """The channel this recipient opens notices on most (``None`` without history)."""
        check_recipient(recipient_id)
        return best_of(self.channel_history(recipient_id))

    def _count(self, uow: UnitOfWork, recipient: Recipient, channel: str, what: str) -> None:
        stats = uow.records.get(STATS, recipient.id) or {}
        row = stats.setdefault(channel, {})
        row[what] = row.get(what, 0) + 1
        uow.records.put(STATS, recipient.id, stats, index={student_index(recipient.student_id): 0})
