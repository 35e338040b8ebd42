"""JSON views of the example school: create a slot, read it, book a seat, follow it.

A booking runs in Django's transaction on Django's own connection: the order row and
the seat commit together, or neither does (``school_transaction``). Errors are answered
as RFC 9457 problem details with the error's stable code and HTTP status.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta

from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from eduengine.errors import EduEngineError
from eduengine.web.django import school_transaction
from eduschool.school import school, store
from eduschool.web import problem, slot_snapshot, slot_stream

#: how long an SSE response follows the feed before the browser reconnects
SSE_SECONDS = 30.0


def _error(exc: EduEngineError) -> HttpResponse:
    body = problem(exc)
    return HttpResponse(
        json.dumps(body), status=body["status"], content_type="application/problem+json"
    )


@csrf_exempt  # a JSON API for the example; a real site keeps CSRF for browser forms
@require_POST
def create_slot(request: HttpRequest) -> HttpResponse:
    data = json.loads(request.body or b"{}")
    now = school().clock.now()
    start = now + timedelta(minutes=int(data.get("starts_in_minutes", 60)))
    try:
        slot = school().booking.create_slot(
            str(data.get("course_id", "course")),
            start,
            start + timedelta(hours=1),
            capacity=int(data.get("capacity", 10)),
        )
    except EduEngineError as exc:
        return _error(exc)
    return JsonResponse({"slot_id": slot.id, "seats_left": slot.seats_left}, status=201)


def health(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"ok": True})


@require_GET
def slot(request: HttpRequest, slot_id: str) -> HttpResponse:
    try:
        return JsonResponse(slot_snapshot(school(), store(), slot_id))
    except EduEngineError as exc:
        return _error(exc)


@csrf_exempt
@require_POST
def book(request: HttpRequest, slot_id: str) -> HttpResponse:
    student_id = str(json.loads(request.body or b"{}").get("student_id", ""))
    try:
        with transaction.atomic():
            with connection.cursor() as cur:
                cur.execute(
                    "INSERT INTO eduschool_order (ref, slot_id, student_id) VALUES (%s, %s, %s)",
                    [f"{slot_id}:{student_id}", slot_id, student_id],
                )
            with school_transaction(store(), school().bus):
                # a client retrying with its Idempotency-Key gets the first answer
                key = request.headers.get("Idempotency-Key")
                booking = school().book(slot_id, student_id, idempotency_key=key)
    except EduEngineError as exc:
        return _error(exc)  # the atomic block rolled the order back as well
    return JsonResponse({"booking_id": booking.id}, status=201)


@require_GET
def slot_events(request: HttpRequest, slot_id: str) -> StreamingHttpResponse:
    """Server-sent events: a snapshot of the slot's seats, then each newer event of its
    stream once, in order (a reconnecting browser starts again from a snapshot)."""

    def stream() -> Iterator[str]:
        deadline = time.monotonic() + SSE_SECONDS
        for position, message in slot_stream(school(), store(), slot_id, deadline):
            yield f"id: {position}\nevent: {message['type']}\ndata: {json.dumps(message)}\n\n"

    response = StreamingHttpResponse(stream(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    return response
