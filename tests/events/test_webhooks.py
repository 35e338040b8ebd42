"""The webhook relay against a real local HTTP server: signed deliveries in feed order,
retries with backoff, recorded failures, and a receiver that checks signatures."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from eduengine import BookingService, FixedClock, InMemoryStore
from eduengine.errors import InvalidSignature
from eduengine.events import EventFeed, envelope_from_json
from eduengine.events.webhooks import (
    SIGNATURE_HEADER,
    WebhookRelay,
    sign_payload,
    verify_signature,
)
from tests.conftest import T0

SECRET = "whsec_test"


class Endpoint:
    """A local HTTP server answering POSTs with scripted statuses (then 200)."""

    def __init__(self) -> None:
        self.script: list[int] = []
        self.received: list[tuple[dict[str, str], bytes]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                endpoint.received.append((dict(self.headers.items()), body))
                status = endpoint.script.pop(0) if endpoint.script else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    try:
        yield server
    finally:
        server.close()


def school_with_events(clock: FixedClock, bookings: int) -> tuple[EventFeed, str]:
    store = InMemoryStore(outbox=True)
    svc = BookingService(store.unit_of_work, clock=clock)
    start = T0 + timedelta(days=1)
    slot = svc.create_slot("math", start, start + timedelta(hours=1), 10).id
    for n in range(bookings):
        svc.book(slot, f"s{n}")
    return EventFeed(store, clock=clock), slot


def test_each_envelope_is_delivered_once_in_order_and_signed(
    endpoint: Endpoint, clock: FixedClock
) -> None:
    feed, slot = school_with_events(clock, 3)
    relay = WebhookRelay(feed, endpoint.url, SECRET, sleep=lambda s: None)
    report = relay.relay_once()
    assert (report.delivered, report.failed) == (4, 0)
    assert relay.relay_once().delivered == 0  # the cursor moved on
    now = clock.now().timestamp()
    sequences = []
    for headers, body in endpoint.received:
        verify_signature(SECRET, body, headers[SIGNATURE_HEADER], now=now)
        envelope = envelope_from_json(body)
        assert headers["Eduengine-Event-Id"] == envelope.id
        assert headers["Eduengine-Event-Type"] == envelope.type
        assert headers["Content-Type"] == "application/json"
        sequences.append((envelope.aggregate_id, envelope.sequence, envelope.position))
    assert [s[1] for s in sequences] == [1, 2, 3, 4]
    assert {s[0] for s in sequences} == {slot}
    assert [s[2] for s in sequences] == [1, 2, 3, 4]


def test_a_failing_endpoint_is_retried_with_backoff_then_recorded_and_resumed(
    endpoint: Endpoint, clock: FixedClock
) -> None:
    feed, _ = school_with_events(clock, 1)
    waits: list[float] = []
    relay = WebhookRelay(
        feed, endpoint.url, SECRET, max_attempts=3, backoff=0.5, sleep=waits.append
    )
    endpoint.script = [503, 503, 200, 500, 502, 503]
    first = relay.relay_once()
    # envelope 1: two 503s then 200; envelope 2: three failures, kept for the next round
    assert (first.delivered, first.failed, first.cursor) == (1, 1, 1)
    assert waits == [0.5, 1.0, 0.5, 1.0]
    (failure,) = relay.failures()
    assert (failure.position, failure.attempts, failure.status, failure.skipped) == (
        2,
        3,
        503,
        False,
    )
    second = relay.relay_once()  # the endpoint is back: the same envelope goes first
    assert (second.delivered, second.failed, second.cursor) == (1, 0, 2)
    assert relay.failures() == []
    positions = [json.loads(body)["position"] for _, body in endpoint.received]
    assert positions == [1, 1, 1, 2, 2, 2, 2]


def test_an_envelope_the_endpoint_refuses_for_good_is_recorded_and_skipped(
    endpoint: Endpoint, clock: FixedClock
) -> None:
    feed, _ = school_with_events(clock, 1)
    relay = WebhookRelay(feed, endpoint.url, SECRET, sleep=lambda s: None)
    endpoint.script = [400]
    report = relay.relay_once()
    assert (report.delivered, report.skipped, report.cursor) == (1, 1, 2)
    (failure,) = relay.failures()
    assert (failure.position, failure.status, failure.skipped) == (1, 400, True)


def test_an_unreachable_endpoint_is_recorded_without_an_answer(clock: FixedClock) -> None:
    feed, _ = school_with_events(clock, 0)
    server = Endpoint()
    url = server.url
    server.close()  # nothing listens there any more
    relay = WebhookRelay(feed, url, SECRET, max_attempts=2, timeout=2, sleep=lambda s: None)
    report = relay.relay_once()
    assert (report.delivered, report.failed, report.cursor) == (0, 1, 0)
    (failure,) = relay.failures()
    assert failure.status is None and failure.attempts == 2 and "Error" in failure.error


def test_only_the_chosen_types_are_delivered(endpoint: Endpoint, clock: FixedClock) -> None:
    feed, _ = school_with_events(clock, 2)
    relay = WebhookRelay(
        feed, endpoint.url, SECRET, types={"booking.seat_booked"}, sleep=lambda s: None
    )
    assert relay.relay_once().cursor == 3
    assert [h["Eduengine-Event-Type"] for h, _ in endpoint.received] == [
        "booking.seat_booked",
        "booking.seat_booked",
    ]


def test_a_receiver_refuses_a_forged_stale_or_missing_signature() -> None:
    body = b'{"id":"e1"}'
    good = sign_payload(SECRET, body, timestamp=1_000_000)
    assert verify_signature(SECRET, body, good, now=1_000_100) == 1_000_000
    rotated = f"{good},v1={'0' * 64}"
    assert verify_signature(SECRET, body, rotated, now=1_000_000) == 1_000_000
    for header, now in [
        (good, 1_000_301),  # stale: a replay
        (sign_payload("other", body, timestamp=1_000_000), 1_000_000),
        (None, 1_000_000),
        ("v1=abc", 1_000_000),
        ("t=x,v1=abc", 1_000_000),
    ]:
        with pytest.raises(InvalidSignature):
            verify_signature(SECRET, body, header, now=now)
    with pytest.raises(InvalidSignature):
        verify_signature(SECRET, body + b" ", good, now=1_000_000)
