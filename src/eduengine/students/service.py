"""Student records through units of work: profiles, lesson packages tied to bookings,
classes, tags and lifecycle, under an access policy with an audit trail and erasure.

Each aggregate family has a service of its own (:class:`ProfileService`,
:class:`PackageService`, :class:`ClassService`, :class:`LifecycleService`);
:class:`StudentService` is all four in one object, for callers that want one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Unpack

from eduengine.service_layer.erasure import ErasureRegistry
from eduengine.service_layer.ports import UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase
from eduengine.students.classes import ClassService
from eduengine.students.lifecycle import LifecycleService
from eduengine.students.model import TagRule
from eduengine.students.packages import FREE_CANCEL_BEFORE, PackageService
from eduengine.students.privacy import AccessPolicy
from eduengine.students.profiles import ProfileService
from eduengine.students.records import ServiceOptions


class StudentService(ProfileService, PackageService, ClassService, LifecycleService):
    """Profiles, packages, classes, tags and privacy: the four student services as one,
    taking the arguments of each (see them for what the arguments mean).

    >>> from datetime import datetime, timezone
    >>> from eduengine import FixedClock, InMemoryStore
    >>> from eduengine.students import Actor
    >>> svc = StudentService(InMemoryStore().unit_of_work,
    ...                      clock=FixedClock(datetime(2026, 3, 1, tzinfo=timezone.utc)))
    >>> svc.register("s1", name="王小明", phone="13812341234")
    >>> svc.view(Actor(id="u9", role="support"), "s1").phone
    '138****1234'
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        policy: AccessPolicy | None = None,
        tag_rules: Sequence[TagRule] = (),
        free_cancel_before: timedelta = FREE_CANCEL_BEFORE,
        placement_bands: Mapping[int, int] | None = None,
        erasure: ErasureRegistry | None = None,
        **base: Unpack[ServiceOptions],
    ) -> None:
        # one ServiceBase (one bus, one clock) under all four, each set up once
        ServiceBase.__init__(self, uow, **base)
        self._init_profiles(policy, erasure)
        self._init_packages(free_cancel_before, alone=base.get("bus") is None)
        self._init_classes(placement_bands)
        self._init_lifecycle(tag_rules)
