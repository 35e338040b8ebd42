"""Operations: what the command line does, as functions a host can call from its own
scheduler.

- :mod:`eduengine.ops.jobs`: :func:`migrate`, :func:`status`, :func:`run_due` (every
  periodic job of a school once), :func:`check_reachable`, and the reminder notifiers;
- :mod:`eduengine.ops.backup`: :func:`backup` copies a SQLite database while it is in use;
- :mod:`eduengine.ops.report`: :func:`report`, the analytics dashboard of a period;
- :mod:`eduengine.ops.stores`: a store from a URL (:func:`~eduengine.store_from_url`);
- :mod:`eduengine.ops.cli`: the ``eduengine`` command line.

This package re-exports the functions of ``jobs``, ``backup`` and ``report``, so
``from eduengine import ops`` then ``ops.run_due(school)`` works:

>>> from eduengine import InMemoryStore, School
>>> store = InMemoryStore()
>>> school = School.build(store)
>>> done = run_due(school)
>>> list(done)
['projections', 'offers', 'rush', 'deals', 'fees', 'payments', 'notice plans', 'alerts', 'desk', \
'learning reports', 'segments', 'journeys', 'idempotency']
>>> sum(done.values())
0
>>> status(store)["pending"]["offers"]
0
"""

from eduengine.ops.backup import backup
from eduengine.ops.jobs import (
    CONNECT_TIMEOUT,
    JsonLinesNotifier,
    WebhookNotifier,
    check_reachable,
    migrate,
    pending,
    post_json,
    reminder_json,
    run_due,
    status,
)
from eduengine.ops.report import report, report_period

__all__ = [
    "CONNECT_TIMEOUT",
    "JsonLinesNotifier",
    "WebhookNotifier",
    "backup",
    "check_reachable",
    "migrate",
    "pending",
    "post_json",
    "reminder_json",
    "report",
    "report_period",
    "run_due",
    "status",
]
