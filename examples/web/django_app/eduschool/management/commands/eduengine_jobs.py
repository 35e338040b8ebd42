"""``python manage.py eduengine_jobs [--every SECONDS]``: the school's periodic jobs.

Run it from cron (once) or as a long-lived process (``--every 60``). Each job reads only
the rows that are due, in short batches of their own transactions.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from eduschool.school import school

#: how long the event feed keeps events that every live page has long read
FEED_RETENTION = timedelta(days=7)


class Command(BaseCommand):
    help = "Expire offers and group deals, admit rush queues, collect late fees, prune the feed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--every", type=float, default=0, help="repeat every N seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        every = float(options["every"])
        while True:
            done = run_jobs()
            self.stdout.write(", ".join(f"{job}: {n}" for job, n in done.items()))
            if every <= 0:
                return
            time.sleep(every)


def run_jobs() -> dict[str, int]:
    s = school()
    return {
        "offers expired": s.booking.expire_offers(),
        "groups expired": s.deals.expire_due(),
        "rush admitted": len(s.rush.admit_due()),
        "late fees collected": s.fees.collect_due(),
        "feed events pruned": s.feed.prune(FEED_RETENTION),
    }
