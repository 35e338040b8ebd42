"""The one school of this process, on Django's database."""

from __future__ import annotations

import functools
from typing import Any

from eduengine import School
from eduengine.web.django import store_for_django


@functools.cache
def store() -> Any:
    """The store on Django's database (it keeps the event feed, as every store does)."""
    return store_for_django()


@functools.cache
def school() -> School:
    return School.build(store(), reminders=None)
