"""A relay that POSTs each envelope of the feed to an HTTP endpoint, signed.

Each delivery is one envelope as JSON (``Content-Type: application/json``) with the
headers ``Eduengine-Event-Id``, ``Eduengine-Event-Type`` and ``Eduengine-Signature:
t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the shared secret>`` (the
scheme Stripe and Cal.com use: the timestamp inside the signature stops replays).
The receiver checks it with :func:`verify_signature`.

Delivery is at least once, in feed order. A network error, a timeout or a 408, 429 or
5xx answer is retried with exponential backoff; if it still fails the relay records the
failure and stops this round, keeping its cursor, so the next round starts again at the
same envelope and nothing after it overtakes it. Any other 4xx answer means the
endpoint refuses that envelope for good: the failure is recorded and the relay moves
on. Run one relay per ``name`` (a second one would deliver everything twice); receivers
deduplicate by event id.

>>> body = b'{"id":"e1"}'
>>> header = sign_payload("whsec_test", body, timestamp=1767225600)
>>> header[:16]
't=1767225600,v1='
>>> verify_signature("whsec_test", body, header, now=1767225630)
1767225600
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Collection
from datetime import datetime

import attrs

from eduengine.errors import InvalidInput, InvalidSignature
from eduengine.events.codec import envelope_to_json
from eduengine.events.feed import EventFeed
from eduengine.kernel.codec import micros
from eduengine.kernel.envelope import Envelope
from eduengine.service_layer.ports import open_read_only

__all__ = [
    "FAILURES",
    "SIGNATURE_HEADER",
    "DeliveryFailure",
    "RelayReport",
    "WebhookRelay",
    "sign_payload",
    "verify_signature",
]

log = logging.getLogger("eduengine.webhooks")

SIGNATURE_HEADER = "Eduengine-Signature"
#: The record kind of failed deliveries, filed under the index ``failed:<relay name>``.
FAILURES = "webhook_failure"
_RETRYABLE = {408, 425, 429}

Sender = Callable[[str, bytes, dict[str, str], float], int]
"""``send(url, body, headers, timeout) -> HTTP status``; raises ``OSError`` when no
answer came (the default uses :mod:`urllib.request`)."""


def sign_payload(secret: str | bytes, body: bytes, *, timestamp: int) -> str:
    """The ``Eduengine-Signature`` header value for ``body`` sent at ``timestamp``."""
    key = secret.encode() if isinstance(secret, str) else secret
    mac = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: str | bytes,
    body: bytes,
    header: str | None,
    *,
    now: float,
    tolerance: float = 300.0,
) -> int:
    """Check a delivery's signature header; returns its timestamp.

    ``now`` is the receiver's current Unix time (``time.time()``); a timestamp more than
    ``tolerance`` seconds away from it is refused as a possible replay. Raises
    ``InvalidSignature`` (an ``InvalidInput``) for a missing, malformed, stale or wrong
    signature; several ``v1=`` entries (during a secret rotation) are each tried.
    """
    if not header:
        raise InvalidSignature(f"no {SIGNATURE_HEADER} header")
    parts = [p.partition("=") for p in header.split(",")]
    stamps = [v for k, _, v in parts if k.strip() == "t"]
    macs = [v.strip() for k, _, v in parts if k.strip() == "v1"]
    if len(stamps) != 1 or not stamps[0].strip().isdigit() or not macs:
        raise InvalidSignature(f"malformed {SIGNATURE_HEADER} header {header!r}")
    timestamp = int(stamps[0])
    if abs(now - timestamp) > tolerance:
        raise InvalidSignature(
            f"signature timestamp {timestamp} is more than {tolerance:g}s from now ({now:.0f})"
        )
    expected = sign_payload(secret, body, timestamp=timestamp).partition(",v1=")[2]
    if not any(hmac.compare_digest(expected, mac) for mac in macs):
        raise InvalidSignature("signature does not match the body and secret")
    return timestamp


def urllib_send(url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
    """POST with the standard library; any HTTP answer is returned as its status."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as answer:
        return int(answer.code)


@attrs.frozen(kw_only=True)
class DeliveryFailure:
    """A delivery that did not succeed, as recorded by the relay."""

    relay: str
    event_id: str
    type: str
    position: int
    attempts: int
    #: the last HTTP status, or ``None`` when no answer came
    status: int | None
    error: str
    failed_at: datetime
    #: ``True`` when the endpoint refused it for good and the relay moved on
    skipped: bool


@attrs.frozen(kw_only=True)
class RelayReport:
    """What one :meth:`WebhookRelay.relay_once` round did."""

    delivered: int
    skipped: int
    failed: int
    #: the relay's cursor after the round
    cursor: int


class WebhookRelay:
    """Deliver the feed's envelopes to ``url``, signed with ``secret``.

    ``types`` limits deliveries to those event types (others are passed over);
    ``max_attempts`` tries per envelope per round, waiting ``backoff``, ``2 * backoff``
    ... (at most ``max_backoff``) seconds between them. ``send`` and ``sleep`` replace the
    HTTP call and the wait (tests). The cursor is the feed's named cursor ``name``.
    """

    def __init__(
        self,
        feed: EventFeed,
        url: str,
        secret: str | bytes,
        *,
        name: str = "webhook",
        types: Collection[str] | None = None,
        timeout: float = 10.0,
        max_attempts: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        send: Sender | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not secret:
            raise InvalidInput("a webhook relay needs a non-empty secret")
        if max_attempts < 1:
            raise InvalidInput(f"max_attempts must be at least 1, got {max_attempts!r}")
        self.feed = feed
        self.url = url
        self._secret = secret
        self.name = name
        self.types = frozenset(types) if types is not None else None
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self._send: Sender = send or urllib_send
        self._sleep = sleep

    def relay_once(self, limit: int = 100) -> RelayReport:
        """Deliver up to ``limit`` envelopes after the relay's cursor."""
        cursor = self.feed.cursor(self.name)
        delivered = skipped = 0
        for envelope in self.feed.events_since(cursor, limit):
            position = envelope.position or cursor
            if self.types is None or envelope.type in self.types:
                outcome = self._deliver(envelope)
                if outcome == "retry":
                    self.feed.save_cursor(self.name, cursor)
                    return RelayReport(
                        delivered=delivered, skipped=skipped, failed=1, cursor=cursor
                    )
                if outcome == "delivered":
                    delivered += 1
                else:
                    skipped += 1
            cursor = position
            # saved after each envelope: a crash re-delivers at most one
            self.feed.save_cursor(self.name, cursor)
        return RelayReport(delivered=delivered, skipped=skipped, failed=0, cursor=cursor)

    def run(self, stop: threading.Event, *, poll: float = 1.0, limit: int = 100) -> None:
        """Relay until ``stop`` is set, resting ``poll`` seconds when there is nothing
        to do or the endpoint keeps failing."""
        while not stop.is_set():
            report = self.relay_once(limit)
            if report.failed or report.delivered + report.skipped < limit:
                stop.wait(poll)

    def failures(self, limit: int = 100) -> list[DeliveryFailure]:
        """The most recent recorded failures of this relay, newest first."""
        uow = open_read_only(self.feed.store.unit_of_work)
        with uow:
            keys = uow.records.scan(FAILURES, f"failed:{self.name}", descending=True, limit=limit)
            docs = [uow.records.get(FAILURES, key) for key, _ in keys]
        return [_failure(doc) for doc in docs if doc is not None]

    # --- one envelope ---------------------------------------------------------------

    def _deliver(self, envelope: Envelope) -> str:
        body = envelope_to_json(envelope).encode()
        status: int | None = None
        error = ""
        for attempt in range(1, self.max_attempts + 1):
            stamp = int(self.feed.clock.now().timestamp())
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "eduengine-webhooks",
                "Eduengine-Event-Id": envelope.id,
                "Eduengine-Event-Type": envelope.type,
                SIGNATURE_HEADER: sign_payload(self._secret, body, timestamp=stamp),
            }
            try:
                status = self._send(self.url, body, headers, self.timeout)
                error = f"HTTP {status}"
            except OSError as exc:  # refused, reset, timed out, DNS ...
                status, error = None, f"{type(exc).__name__}: {exc}"
            if status is not None and 200 <= status < 300:
                self._forget_failure(envelope)
                return "delivered"
            if status is not None and 400 <= status < 500 and status not in _RETRYABLE:
                self._record_failure(envelope, attempt, status, error, skipped=True)
                return "skipped"
            if attempt < self.max_attempts:
                self._sleep(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))
        self._record_failure(envelope, self.max_attempts, status, error, skipped=False)
        return "retry"

    def _key(self, envelope: Envelope) -> str:
        return f"{self.name}:{envelope.id}"

    def _record_failure(
        self, envelope: Envelope, attempts: int, status: int | None, error: str, *, skipped: bool
    ) -> None:
        now = self.feed.clock.now()
        log.warning(
            "webhook %s: %s %s (position %s) failed after %d attempt(s): %s%s",
            self.name,
            envelope.type,
            envelope.id,
            envelope.position,
            attempts,
            error,
            " - skipped" if skipped else " - will retry",
        )
        with self.feed.store.unit_of_work() as uow:
            uow.records.put(
                FAILURES,
                self._key(envelope),
                {
                    "relay": self.name,
                    "event_id": envelope.id,
                    "type": envelope.type,
                    "position": envelope.position or 0,
                    "attempts": attempts,
                    "status": status,
                    "error": error,
                    "failed_at": now.isoformat(),
                    "skipped": skipped,
                },
                index={f"failed:{self.name}": micros(now)},
            )
            uow.commit()

    def _forget_failure(self, envelope: Envelope) -> None:
        uow = open_read_only(self.feed.store.unit_of_work)
        with uow:
            known = uow.records.get(FAILURES, self._key(envelope)) is not None
        if known:
            with self.feed.store.unit_of_work() as uow:
                uow.records.delete(FAILURES, self._key(envelope))
                uow.commit()


def _failure(doc: dict[str, object]) -> DeliveryFailure:
    status = doc["status"]
    return DeliveryFailure(
        relay=str(doc["relay"]),
        event_id=str(doc["event_id"]),
        type=str(doc["type"]),
        position=int(str(doc["position"])),
        attempts=int(str(doc["attempts"])),
        status=None if status is None else int(str(status)),
        error=str(doc["error"]),
        failed_at=datetime.fromisoformat(str(doc["failed_at"])),
        skipped=bool(doc["skipped"]),
    )
