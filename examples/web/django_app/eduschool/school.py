"""The one school of this process, on Django's database."""

from __future__ import annotations

import functools
from typing import Any

from eduengine import School
from eduengine.web.django import store_for_django


@functools.cache
def store() -> Any:
    """The store on Django's database; ``outbox=True`` keeps the event feed."""
    return store_for_django(outbox=True)


@functools.cache
def school() -> School:
    return School.build(store(), reminders=None)
