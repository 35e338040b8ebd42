"""Classes (分班 / 调班): creating them, placing students by placement test, and moving
them between classes atomically, never over capacity and never in two classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Unpack

import attrs

from eduengine.errors import ClassFull, DuplicateId, InvalidTransition, WrongType
from eduengine.kernel.inputs import check_id, check_int, check_optional_id
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase
from eduengine.students import records as rec
from eduengine.students.events import ClassAssigned
from eduengine.students.model import SchoolClass, placement_level
from eduengine.students.records import CLASSES, STUDENTS, ServiceOptions


class ClassService(ServiceBase):
    """Classes and who is in them.

    ``placement_bands`` maps the lowest placement score of each band to its level (by
    default 0-39 is level 1, 40-69 level 2, 70 and up level 3). The other arguments are
    :class:`ServiceBase`'s.

    >>> from datetime import datetime, timezone
    >>> from eduengine import FixedClock, InMemoryStore
    >>> from eduengine.students import ProfileService
    >>> store, clock = InMemoryStore(), FixedClock(datetime(2026, 3, 1, tzinfo=timezone.utc))
    >>> ProfileService(store.unit_of_work, clock=clock).register("s1", name="王小明")
    >>> classes = ClassService(store.unit_of_work, clock=clock)
    >>> classes.create_class(SchoolClass(id="A", name="Level 2", capacity=12,
    ...                                  min_level=2, max_level=2))
    >>> classes.auto_assign("s1", placement_score=55)
    'A'
    >>> classes.members_of("A")
    ['s1']
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        placement_bands: Mapping[int, int] | None = None,
        **base: Unpack[ServiceOptions],
    ) -> None:
        super().__init__(uow, **base)
        self._init_classes(placement_bands)

    def _init_classes(self, placement_bands: Mapping[int, int] | None) -> None:
        # apart from ServiceBase.__init__ so that StudentService sets up all four once
        self.placement_bands = dict(placement_bands or {0: 1, 40: 2, 70: 3})

    def create_class(self, school_class: SchoolClass) -> None:
        """Open a class, empty."""
        if not isinstance(school_class, SchoolClass):
            raise WrongType(f"expected a SchoolClass, got {school_class!r}", field="school_class")

        def command(uow: UnitOfWork, now: datetime) -> None:
            if uow.records.get(CLASSES, school_class.id) is not None:
                raise DuplicateId(f"class {school_class.id!r} already exists")
            uow.records.put(CLASSES, school_class.id, {**attrs.asdict(school_class), "members": []})

        self._run(command)

    def members_of(self, class_id: str) -> list[str]:
        """The students in a class, in the order they joined."""
        check_id(class_id, "class_id")
        return self._run(
            lambda uow, now: list(rec.school_class(uow, class_id)["members"]),
            write=False,
            ids={"class_id": class_id},
        )

    def assign(self, student_id: str, class_id: str) -> None:
        """Put a student in a class (or move them there: an atomic transfer)."""
        check_id(student_id, "student_id")
        check_id(class_id, "class_id")
        self._run(
            lambda uow, now: self._move(uow, student_id, class_id, now),
            ids={"student_id": student_id, "class_id": class_id},
        )

    transfer = assign

    def auto_assign(
        self,
        student_id: str,
        *,
        placement_score: int,
        age: int | None = None,
        time_slot: str | None = None,
    ) -> str:
        """Place a student from a placement test score: the least full class that suits
        the level (from ``placement_bands``), age and preferred time, with a free seat."""
        check_id(student_id, "student_id")
        check_int(placement_score, "placement_score")
        if age is not None:
            check_int(age, "age")
        check_optional_id(time_slot, "time_slot")
        level = placement_level(placement_score, self.placement_bands)

        def command(uow: UnitOfWork, now: datetime) -> str:
            candidates = []
            for cid, data in uow.records.list(CLASSES):
                klass = SchoolClass(**{k: v for k, v in data.items() if k != "members"})
                if klass.suits(level, age, time_slot) and len(data["members"]) < klass.capacity:
                    candidates.append((len(data["members"]) / klass.capacity, cid))
            if not candidates:
                raise ClassFull("(any suitable class)", 0)
            chosen = min(candidates)[1]
            self._move(uow, student_id, chosen, now)
            return chosen

        return self._run(command, ids={"student_id": student_id})

    def _move(self, uow: UnitOfWork, student_id: str, class_id: str, now: datetime) -> None:
        doc = rec.student(uow, student_id)
        old = doc["class_id"]
        if old == class_id:
            raise InvalidTransition(f"student {student_id!r} is already in class {class_id!r}")
        ids = sorted({class_id} | ({old} if old else set()))  # lock classes in id order
        klasses = {cid: rec.school_class(uow, cid) for cid in ids}
        target = klasses[class_id]
        if len(target["members"]) >= target["capacity"]:
            raise ClassFull(class_id, target["capacity"])
        if old:
            klasses[old]["members"].remove(student_id)
            uow.records.put(CLASSES, old, klasses[old])
        target["members"].append(student_id)
        uow.records.put(CLASSES, class_id, target)
        doc["class_id"] = class_id
        uow.records.put(STUDENTS, student_id, doc)
        uow.record_events(
            [
                ClassAssigned(
                    occurred_at=now, student_id=student_id, class_id=class_id, from_class_id=old
                )
            ]
        )
