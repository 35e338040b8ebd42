"""The events of growth: experiments defined, students exposed, experiments stopped, and
message templates saved.

>>> from eduengine.kernel.events import event_kind
>>> event_kind(StudentExposed).name, event_kind(StudentExposed).aggregate_type
('growth.student_exposed', 'experiment')
"""

from __future__ import annotations

import attrs

from eduengine.kernel.events import DomainEvent, event_type

__all__ = [
    "ExperimentDefined",
    "ExperimentStopped",
    "JourneyStepSkipped",
    "JourneyStepTaken",
    "StaffTaskCreated",
    "StudentExposed",
    "TemplateSaved",
]


@event_type("growth.experiment_defined", aggregate="experiment", field="experiment_key")
@attrs.frozen(kw_only=True)
class ExperimentDefined(DomainEvent):
    """An experiment was defined and runs from now on (``variants`` its variant keys,
    the control first)."""

    experiment_key: str
    variants: tuple[str, ...]


@event_type("growth.student_exposed", aggregate="experiment", field="experiment_key")
@attrs.frozen(kw_only=True)
class StudentExposed(DomainEvent):
    """A student first saw a variant of a running experiment (recorded once per student
    and experiment, however many processes expose her at once)."""

    experiment_key: str
    student_id: str
    variant: str


@event_type("growth.experiment_stopped", aggregate="experiment", field="experiment_key")
@attrs.frozen(kw_only=True)
class ExperimentStopped(DomainEvent):
    """An experiment stopped: no more exposures are recorded; every student keeps the
    variant she was assigned."""

    experiment_key: str


@event_type("growth.template_saved", aggregate="template", field="template_id")
@attrs.frozen(kw_only=True)
class TemplateSaved(DomainEvent):
    """A message template's new version was saved (``template_id`` is
    ``<kind>/<channel>/<language>``); earlier versions stay as they were."""

    template_id: str
    version: int


@event_type("growth.journey_step_taken", aggregate="student", field="student_id")
@attrs.frozen(kw_only=True)
class JourneyStepTaken(DomainEvent):
    """A student passed a journey's step (once ever): ``action`` is ``notice``,
    ``coupon`` or ``task``, ``detail`` the notice's template, the coupon's code or the
    task's title."""

    student_id: str
    journey: str
    step: str
    action: str
    detail: str


@event_type("growth.journey_step_skipped", aggregate="student", field="student_id")
@attrs.frozen(kw_only=True)
class JourneyStepSkipped(DomainEvent):
    """A step came due but its condition no longer held (``reason``); the student may
    still pass it if its trigger fires again."""

    student_id: str
    journey: str
    step: str
    reason: str


@event_type("growth.staff_task_created", aggregate="student", field="student_id")
@attrs.frozen(kw_only=True)
class StaffTaskCreated(DomainEvent):
    """A journey asks a staff member to act about a student (a call, a check-in)."""

    student_id: str
    journey: str
    step: str
    title: str
    assignee: str | None
