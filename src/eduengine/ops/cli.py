"""The ``eduengine`` command line (also ``python -m eduengine``).

Every command takes the store from ``--store URL`` or the ``EDUENGINE_STORE`` environment
variable (see :func:`eduengine.store_from_url`), and the school from ``--school
module:function`` or ``EDUENGINE_SCHOOL`` (a function that takes the store and returns a
:class:`~eduengine.School`; by default ``School.build(store)``). Logs go to stderr,
output to stdout; exit status 0 on success, 1 when eduengine reported an error, 2 for a
usage error. Either way the error is one line on stderr, ``eduengine: error: ...``, never
a traceback (``--log-level debug`` logs the traceback too).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from eduengine.booking.ical import CalendarService
from eduengine.bootstrap import PERIODIC_JOBS, School
from eduengine.errors import EduEngineError, InvalidSetting
from eduengine.events.feed import EventFeed
from eduengine.ops.backup import backup
from eduengine.ops.board import BoardApp, BoardSettings, serve
from eduengine.ops.jobs import (
    JsonLinesNotifier,
    WebhookNotifier,
    check_reachable,
    migrate,
    post_json,
    run_due,
    status,
)
from eduengine.ops.report import report, report_period
from eduengine.ops.stores import ENV_VAR, Store, store_from_url
from eduengine.people.model import SYSTEM
from eduengine.service_layer.crypto import rewrap, rotate_master_key, seal_existing
from eduengine.version import __version__

log = logging.getLogger("eduengine.cli")

SCHOOL_ENV_VAR = "EDUENGINE_SCHOOL"
LOG_LEVEL_ENV_VAR = "EDUENGINE_LOG_LEVEL"
WEBHOOK_SECRET_ENV_VAR = "EDUENGINE_WEBHOOK_SECRET"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
#: fields of every LogRecord; what else a record carries came through ``extra``
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def duration(text: str) -> float:
    """``30s``, ``5m``, ``1h``, ``500ms`` or plain seconds, as seconds (> 0)."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"not a duration above zero: {text!r} (e.g. 30s, 5m)")
    return float(match.group(1)) * _UNIT[match.group(2)]


def iso_date(text: str) -> date:
    """``YYYY-MM-DD``, a real calendar day."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (YYYY-MM-DD): {exc}") from exc


def zone(text: str) -> str:
    """An IANA time zone name this machine knows (``Asia/Shanghai``, ``UTC``)."""
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise argparse.ArgumentTypeError(
            f"unknown time zone {text!r}: use an IANA name such as Asia/Shanghai or UTC"
        ) from exc
    return text


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a whole number above zero: {text!r}")
    return value


def an_id(text: str) -> str:
    """A student's or tutor's id: not empty, not blank."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"an id cannot be empty, got {text!r}")
    return text


def job_names(text: str) -> set[str]:
    """Comma-separated names from :data:`~eduengine.bootstrap.PERIODIC_JOBS`."""
    names = {name.strip() for name in text.split(",") if name.strip()}
    unknown = sorted(names - set(PERIODIC_JOBS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown job(s) {unknown or [text]}: choose from {', '.join(PERIODIC_JOBS)}"
        )
    return names


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line: ``eduengine: error: ...`` (exit 2)."""

    def error(self, message: str) -> NoReturn:
        hint = f" (see {self.prog} --help)"
        self.exit(2, f"eduengine: error: {one_line(message)}{hint}\n")


def one_line(text: object) -> str:
    """``text`` on one line (driver messages often span several)."""
    return " ".join(str(text).split())


class JsonFormatter(logging.Formatter):
    """One JSON object per record, with everything passed in ``extra`` (ids, error)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, sort_keys=True)


def _configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("eduengine")
    root.addHandler(handler)
    root.setLevel(level.upper())


def _store(args: argparse.Namespace) -> Store:
    url = args.store or os.environ.get(ENV_VAR)
    if not url:
        raise InvalidSetting(
            f"no store: pass --store URL or set {ENV_VAR} "
            "(sqlite:///path, postgresql://..., memory://)"
        )
    return store_from_url(url)


def _school(args: argparse.Namespace, store: Store) -> School:
    spec = args.school or os.environ.get(SCHOOL_ENV_VAR)
    if not spec:
        return School.build(store)
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise InvalidSetting(f"--school must look like package.module:function, got {spec!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise InvalidSetting(f"cannot load the school factory {spec!r}: {exc}") from exc
    school = factory(store)
    if not isinstance(school, School):
        raise InvalidSetting(f"{spec!r} returned {type(school).__name__}, not a School")
    return school


def _emit(out: TextIO, data: dict[str, Any]) -> None:
    out.write(json.dumps(data, sort_keys=True, default=str) + "\n")
    out.flush()


# --- commands -----------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    version = migrate(store)
    result: dict[str, Any] = {"schema_version": version}
    if args.reindex:
        result["reindexed"] = _school(args, store).reindex()
    _emit(out, {"migrate": result})
    return 0


def cmd_status(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    report = status(store)
    if args.json:
        _emit(out, {"status": report})
    else:
        out.write(f"eduengine {report['library']} on {report['store']}\n")
        out.write(
            f"schema version: {report['schema_version']} "
            f"(this library: {report['library_schema_version']})\n"
        )
        if "problem" in report:
            out.write(f"problem: {report['problem']}\n")
        if "counts" in report:
            counts = report["counts"]
            out.write(f"slots: {counts['slots']}, bookings: {counts['bookings']}\n")
            for kind, n in counts["documents"].items():
                out.write(f"  {kind}: {n}\n")
            pending = ", ".join(f"{k} {v}" for k, v in report["pending"].items())
            out.write(f"due now: {pending}\n")
    return 1 if "problem" in report else 0


def cmd_run_due(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    school = _school(args, store)
    notifier: Any
    if args.reminders == "skip":
        notifier = None
    elif args.reminders == "stdout":
        notifier = JsonLinesNotifier(out.write)
    else:
        notifier = WebhookNotifier(args.reminders)
    jobs: set[str] | None = args.jobs
    for name, why in school.idle_jobs(notifier).items():
        if jobs is not None and name in jobs:
            # named, but it cannot run in this school: say so, run the others
            log.warning("job %s does not run here: %s", name, why, extra={"job": name})
    stop = threading.Event()
    if args.every is not None:
        _stop_on_signals(stop)
    failed = False
    while True:
        started = datetime.now(UTC)
        if args.every is not None:
            # the audit journals of processes that died since the last pass (School.build
            # filed those found before the first)
            school.recover_audit()
        done = run_due(school, notifier, jobs=jobs, stop=stop.is_set)
        failed = failed or any(n < 0 for n in done.values())
        _emit(out, {"run_due": {"at": started.isoformat(), "done": done}})
        if args.every is None or stop.wait(args.every):
            break
    if args.every is not None:
        log.info("run-due stopped by signal, shut down cleanly")
    return 1 if failed and args.every is None else 0


def request_stop(stop: threading.Event) -> None:
    """Set ``stop`` from a signal handler.

    Not ``stop.set()`` directly: the handler runs on the main thread, which may hold the
    Event's (non-reentrant) lock inside ``stop.wait()`` at that instant, and would then
    wait for itself forever. A thread sets it as soon as the main thread lets go.
    """
    threading.Thread(target=stop.set, name="eduengine-stop", daemon=True).start()


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("signal %s: finishing the job in progress, then stopping", signum)
        request_stop(stop)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def cmd_relay(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    feed = EventFeed(store)
    cursor = args.cursor if args.cursor is not None else feed.cursor(args.consumer)
    stop = threading.Event()
    if args.every is not None:
        _stop_on_signals(stop)
    relayed = 0
    while not stop.is_set():
        rows = feed.rows_since(cursor, args.limit)
        if rows:
            batch = [{"position": position, **json.loads(text)} for position, text in rows]
            try:
                if args.webhook:
                    secret = os.environ.get(WEBHOOK_SECRET_ENV_VAR)
                    post_json(args.webhook, {"events": batch}, args.timeout, secret=secret)
                else:
                    for envelope in batch:
                        out.write(json.dumps(envelope, sort_keys=True) + "\n")
                    out.flush()
            except EduEngineError as exc:
                if args.every is None:
                    raise
                # the cursor stays: the same events go again after the interval
                log.warning("relay: delivery failed, retrying: %s", exc, extra={"cursor": cursor})
                stop.wait(args.every)
                continue
            cursor = rows[-1][0]
            feed.save_cursor(args.consumer, cursor)
            relayed += len(rows)
            if len(rows) == args.limit:
                continue  # more are waiting: no pause
        if args.every is None or stop.wait(args.every):
            break
    log.info(
        "relay: %d event(s) relayed, consumer %r at position %d",
        relayed,
        args.consumer,
        cursor,
        extra={"relayed": relayed, "consumer": args.consumer, "cursor": cursor},
    )
    return 0


def cmd_export_ics(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    calendars = CalendarService(store.unit_of_work)
    data = (
        calendars.student_calendar(args.student, actor=SYSTEM)
        if args.student is not None
        else calendars.tutor_calendar(args.tutor)
    )
    if args.output:
        Path(args.output).write_bytes(data)
    else:
        out.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    return 0


def cmd_report(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    first: date | None = args.since
    period = report_period(first, args.days, args.zone)
    _emit(out, {"report": report(_school(args, store), period, by=args.by)})
    return 0


def cmd_board(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    settings = BoardSettings(
        zone=args.zone,
        renew_within=timedelta(days=args.renew_days),
        forming_within=timedelta(days=args.forming_days),
        segments=tuple(args.segment) if args.segment else None,
        segment_every=args.segment_every,
    )
    app = BoardApp(_school(args, store), settings)
    stop = threading.Event()
    _stop_on_signals(stop)

    def ready(host: str, port: int) -> None:
        _emit(out, {"board": {"url": f"http://{host}:{port}/"}})

    asyncio.run(serve(app, args.host, args.port, stop=stop.is_set, ready=ready))
    log.info("board stopped by signal, shut down cleanly")
    return 0


def cmd_rotate_keys(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    """Make a new master key current and rewrap every data key with it (docs/privacy.md)."""
    sealer = store.sealer
    if sealer is None or sealer.keys is None:
        raise InvalidSetting(
            "this store seals nothing: give its URL ?keys=local or ?keys=local:/path/to/key/file"
        )
    keys = sealer.keys
    if args.resume:
        moved = rewrap(store.unit_of_work, keys)
    else:
        moved = rotate_master_key(store.unit_of_work, keys)
    retired: list[str] = []
    if args.retire:
        retire = getattr(keys, "retire", None)
        if not callable(retire):
            raise InvalidSetting("this key provider cannot retire keys (its KMS does that)")
        retired = [k for k in keys.key_ids() if k != keys.current_key_id()]
        for kid in retired:
            retire(kid)
    out.write(
        json.dumps(
            {"current": keys.current_key_id(), "rewrapped": moved, "retired": retired},
            sort_keys=True,
        )
        + "\n"
    )
    return 0


def cmd_seal(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    """Seal the contact values a store wrote before it had keys, and file its anti-abuse
    sightings under the blind index (docs/privacy.md)."""
    sealer = store.sealer
    if sealer is None or sealer.keys is None:
        raise InvalidSetting("this store seals nothing (keys=off): give its URL keys= to seal")
    sealed = seal_existing(store.unit_of_work)
    refiled = _school(args, store).deals.reindex()
    _emit(out, {"seal": {"sealed": sealed, "refiled": refiled}})
    return 0


def cmd_backup(args: argparse.Namespace, store: Store, out: TextIO) -> int:
    started = time.monotonic()
    backup(store, args.target)
    _emit(
        out,
        {"backup": {"target": str(args.target), "seconds": round(time.monotonic() - started, 3)}},
    )
    return 0


# --- the parser ---------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    top = Parser(
        prog="eduengine",
        description="Run an eduengine school's operations: migrate, status, periodic jobs, "
        "event relay, calendar export, the operator's board and backup.",
    )
    top.add_argument("--version", action="version", version=f"eduengine {__version__}")
    top.add_argument(
        "--store",
        metavar="URL",
        help=f"sqlite:///path, postgresql://..., memory:// (default: ${ENV_VAR})",
    )
    top.add_argument(
        "--school",
        metavar="MODULE:FUNCTION",
        help=f"a function taking the store and returning a School (default: ${SCHOOL_ENV_VAR}, "
        "else School.build(store) with default settings)",
    )
    top.add_argument(
        "--log-level",
        default=os.environ.get(LOG_LEVEL_ENV_VAR, "WARNING"),
        choices=["DEBUG", "INFO", "WARNING", "ERROR", "debug", "info", "warning", "error"],
        help=f"log level of the eduengine loggers on stderr (default: ${LOG_LEVEL_ENV_VAR} "
        "or WARNING)",
    )
    top.add_argument("--log-format", default="text", choices=["text", "json"])
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    migrate = sub.add_parser("migrate", help="bring the store to this library's schema")
    migrate.add_argument(
        "--reindex",
        action="store_true",
        help="also run School.reindex() (once, when upgrading a store written before indexes)",
    )
    migrate.set_defaults(run=cmd_migrate)

    status = sub.add_parser("status", help="schema version, counts and work due now")
    status.add_argument("--json", action="store_true", help="one JSON object instead of text")
    status.set_defaults(run=cmd_status)

    due = sub.add_parser(
        "run-due",
        help="run every periodic job once, or --every interval",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="jobs, in the order they run:\n"
        + "\n".join(f"  {name:<14}{does}" for name, does in PERIODIC_JOBS.items()),
    )
    due.add_argument(
        "--every",
        type=duration,
        metavar="DURATION",
        help="repeat every DURATION (30s, 5m, 1h) until SIGTERM or Ctrl-C",
    )
    due.add_argument(
        "--jobs",
        type=job_names,
        metavar="NAMES",
        help=f"comma-separated, from: {','.join(PERIODIC_JOBS)} (default: every job that "
        "runs here; a named job that cannot run here is reported on stderr)",
    )
    due.add_argument(
        "--reminders",
        default="stdout",
        metavar="stdout|skip|URL",
        help="where due reminders go: JSON lines on stdout (default), a webhook URL that "
        "receives a POST per reminder, or skip (left due)",
    )
    due.set_defaults(run=cmd_run_due)

    relay = sub.add_parser(
        "relay", help="the event feed as JSON lines on stdout, or POSTed to a webhook"
    )
    relay.add_argument(
        "--consumer",
        default="relay",
        metavar="NAME",
        help="the named cursor to resume from and save after each delivery (default: relay)",
    )
    relay.add_argument(
        "--cursor", type=int, metavar="POSITION", help="start after POSITION (0: from the start)"
    )
    relay.add_argument(
        "--limit", type=positive_int, default=500, help="envelopes per page (default 500)"
    )
    relay.add_argument(
        "--webhook",
        metavar="URL",
        help='POST each page as {"events": [...]} to URL (signed with HMAC-SHA256 when '
        f"${WEBHOOK_SECRET_ENV_VAR} is set)",
    )
    relay.add_argument("--timeout", type=duration, default=10.0, help="webhook timeout")
    relay.add_argument(
        "--every",
        type=duration,
        metavar="DURATION",
        help="keep following the feed, polling every DURATION, until SIGTERM or Ctrl-C",
    )
    relay.set_defaults(run=cmd_relay)

    ics = sub.add_parser("export-ics", help="a student's or a tutor's calendar as .ics")
    who = ics.add_mutually_exclusive_group(required=True)
    who.add_argument("--student", type=an_id, metavar="ID")
    who.add_argument("--tutor", type=an_id, metavar="ID")
    ics.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    ics.set_defaults(run=cmd_export_ics)

    report = sub.add_parser("report", help="the analytics dashboard of a period, as JSON")
    report.add_argument(
        "--from",
        dest="since",
        type=iso_date,
        metavar="YYYY-MM-DD",
        help="the period's first local day (default: the last --days days, today excluded)",
    )
    report.add_argument("--days", type=positive_int, default=7, help="how many days (default 7)")
    report.add_argument(
        "--zone", type=zone, default="UTC", help="IANA time zone of the days (default UTC)"
    )
    report.add_argument(
        "--by",
        default="course",
        choices=["course", "tutor", "weekday", "hour"],
        help="how rates are grouped (default course)",
    )
    report.set_defaults(run=cmd_report)

    board = sub.add_parser(
        "board",
        help="serve the operator's board (today's lessons, groups, renewals, alerts, "
        "segments) over the store, live from the feed, until SIGTERM or Ctrl-C",
    )
    board.add_argument("--host", default="127.0.0.1", help="address to listen on")
    board.add_argument(
        "--port", type=int, default=8026, help="port to listen on (default 8026; 0: any free)"
    )
    board.add_argument(
        "--zone", type=zone, default="UTC", help="IANA time zone of 'today' (default UTC)"
    )
    board.add_argument(
        "--renew-days",
        type=positive_int,
        default=7,
        help="packages expiring within this many days are renewals due (default 7)",
    )
    board.add_argument(
        "--forming-days",
        type=positive_int,
        default=7,
        help="open groups whose deadline is within this many days (default 7)",
    )
    board.add_argument(
        "--segment",
        action="append",
        metavar="NAME",
        help="a saved segment to list (repeatable; default: every saved segment)",
    )
    board.add_argument(
        "--segment-every",
        type=duration,
        default=30.0,
        metavar="DURATION",
        help="count the segments again every DURATION (default 30s: a count reads every student)",
    )
    board.set_defaults(run=cmd_board)
    rotate = sub.add_parser(
        "rotate-keys",
        help="make a new master key current and rewrap every data key (a store with ?keys=)",
    )
    rotate.add_argument(
        "--resume", action="store_true", help="rewrap what an interrupted rotation left"
    )
    rotate.add_argument(
        "--retire", action="store_true", help="then forget the old master keys (key files)"
    )
    rotate.set_defaults(run=cmd_rotate_keys)
    seal = sub.add_parser(
        "seal",
        help="seal the contact values written before the store had keys (run once after "
        "upgrading a plain store; running it again changes nothing)",
    )
    seal.set_defaults(run=cmd_seal)

    copy = sub.add_parser("backup", help="copy a SQLite store while it runs")
    copy.add_argument("target", type=Path, help="the backup file to write (replaced)")
    copy.set_defaults(run=cmd_backup)
    return top


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = parser().parse_args(argv)
    _configure_logging(args.log_level, args.log_format)
    out = out or sys.stdout
    run: Callable[[argparse.Namespace, Store, TextIO], int] = args.run
    store: Store | None = None
    try:
        store = _store(args)
        check_reachable(store)
        return run(args, store, out)
    except EduEngineError as exc:
        log.debug("command failed", exc_info=True)
        sys.stderr.write(f"eduengine: error: {type(exc).__name__} ({exc.code}): {one_line(exc)}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: still one line, the traceback at debug level
        log.debug("command failed", exc_info=True)
        sys.stderr.write(
            f"eduengine: error: unexpected {type(exc).__name__}: {one_line(exc)} "
            "(--log-level debug shows the traceback)\n"
        )
        return 1
    finally:
        if store is not None:
            store.close()


if __name__ == "__main__":  # pragma: no cover - python -m eduengine.ops.cli
    raise SystemExit(main())
