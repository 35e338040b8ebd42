"""Settings of the example site: one Django project that is also its only app.

The database is Django's own: SQLite by default (``EDUSCHOOL_DB``, a file path), or
PostgreSQL when ``EDUSCHOOL_PG_DSN`` is set. eduengine keeps its tables in the same
database and runs each request's commands in Django's transaction
(``eduengine.web.django.school_transaction``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ.get("EDUSCHOOL_SECRET_KEY", "example-only-not-a-secret")
DEBUG = os.environ.get("EDUSCHOOL_DEBUG") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS = ["eduschool"]  # for its management commands
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "eduschool.urls"
USE_TZ = True
TIME_ZONE = "UTC"


def _database() -> dict[str, Any]:
    dsn = os.environ.get("EDUSCHOOL_PG_DSN")
    if dsn:
        url = urlsplit(dsn)
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": url.path.lstrip("/"),
            "USER": url.username or "",
            "PASSWORD": url.password or "",
            "HOST": url.hostname or "",
            "PORT": str(url.port or ""),
        }
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("EDUSCHOOL_DB", str(BASE_DIR / "school.sqlite3")),
        # BEGIN IMMEDIATE: a request's transaction takes SQLite's write lock (waiting for
        # it up to "timeout" seconds) before it reads, so concurrent bookings queue
        # instead of failing at their first write with "database is locked".
        "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
    }


DATABASES = {"default": _database()}
