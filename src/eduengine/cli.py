"""Moved to :mod:`eduengine.ops.cli`; this path re-exports it until 0.4."""

from eduengine.kernel.deprecation import warn_moved
from eduengine.ops.cli import (
    LOG_LEVEL_ENV_VAR,
    SCHOOL_ENV_VAR,
    WEBHOOK_SECRET_ENV_VAR,
    JsonFormatter,
    Parser,
    an_id,
    cmd_backup,
    cmd_board,
    cmd_export_ics,
    cmd_migrate,
    cmd_relay,
    cmd_report,
    cmd_rotate_keys,
    cmd_run_due,
    cmd_seal,
    cmd_status,
    duration,
    iso_date,
    job_names,
    main,
    one_line,
    parser,
    positive_int,
    request_stop,
    zone,
)

__all__ = [
    "LOG_LEVEL_ENV_VAR",
    "SCHOOL_ENV_VAR",
    "WEBHOOK_SECRET_ENV_VAR",
    "JsonFormatter",
    "Parser",
    "an_id",
    "cmd_backup",
    "cmd_board",
    "cmd_export_ics",
    "cmd_migrate",
    "cmd_relay",
    "cmd_report",
    "cmd_rotate_keys",
    "cmd_run_due",
    "cmd_seal",
    "cmd_status",
    "duration",
    "iso_date",
    "job_names",
    "main",
    "one_line",
    "parser",
    "positive_int",
    "request_stop",
    "zone",
]

warn_moved("eduengine.cli", "eduengine.ops.cli")

if __name__ == "__main__":  # pragma: no cover - python -m eduengine.cli, as before
    raise SystemExit(main())
