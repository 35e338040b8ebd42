"""The one school of this process, on Django's database."""

from __future__ import annotations

import functools
import os
from typing import Any

from eduengine import School
from eduengine.config import SchoolSettings
from eduengine.web.django import store_for_django


@functools.cache
def store() -> Any:
    """The store on Django's database (it keeps the event feed, as every store does)."""
    return store_for_django()


@functools.cache
def school() -> School:
    # the settings file, if the site names one, then EDUENGINE_<TABLE>__<KEY> over it
    settings = SchoolSettings.load(os.environ.get("EDUSCHOOL_SETTINGS"))
    return School.build(store(), settings, reminders=None)
