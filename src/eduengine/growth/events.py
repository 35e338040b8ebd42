"""The events of growth: experiments defined, students exposed, experiments stopped, and
message templates saved.

>>> from eduengine.kernel.events import event_kind
>>> event_kind(StudentExposed).name, event_kind(StudentExposed).aggregate_type
('growth.student_exposed', 'experiment')
"""

from __future__ import annotations

import attrs

from eduengine.kernel.events import DomainEvent, event_type

__all__ = ["ExperimentDefined", "ExperimentStopped", "StudentExposed", "TemplateSaved"]


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
