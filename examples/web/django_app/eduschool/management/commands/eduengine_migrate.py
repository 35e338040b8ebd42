"""``python manage.py eduengine_migrate``: eduengine's tables in Django's database."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import connection

from eduschool.school import store


class Command(BaseCommand):
    help = "Create or upgrade eduengine's tables (and the example's orders table)."

    def handle(self, *args: Any, **options: Any) -> None:
        store().migrate()
        with connection.cursor() as cur:
            # the host's own table, written in the same transaction as the seat
            cur.execute(
                "CREATE TABLE IF NOT EXISTS eduschool_order "
                "(ref VARCHAR(64) PRIMARY KEY, slot_id VARCHAR(64), student_id VARCHAR(64))"
            )
        self.stdout.write("eduengine schema is up to date")
