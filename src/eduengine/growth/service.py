"""Experiments of one school (``school.experiments``): define, assign, expose, stop, and
read the results; message templates (``school.templates``): save versions, preview, render.

>>> from datetime import datetime, timezone
>>> from eduengine import FixedClock, InMemoryStore
>>> from eduengine.growth import Experiment, Variant
>>> clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
>>> experiments = ExperimentService(InMemoryStore().unit_of_work, clock=clock)
>>> _ = experiments.define(Experiment(key="group-size", variants=(
...     Variant("control", params={"group_size": 3}),
...     Variant("pairs", params={"group_size": 2}))))
>>> experiments.expose("group-size", "ann").params["group_size"]
2
>>> from eduengine.people import SYSTEM
>>> experiments.exposure("group-size", "ann", actor=SYSTEM)
'pairs'
>>> experiments.stop("group-size"), experiments.assign("group-size", "ann").key
(True, 'pairs')
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any, Unpack

import jinja2

from eduengine.errors import ExperimentFixed, ExperimentNotFound, TemplateNotFound, WrongType
from eduengine.growth.events import (
    ExperimentDefined,
    ExperimentStopped,
    StudentExposed,
    TemplateSaved,
)
from eduengine.growth.experiments import Experiment, Variant
from eduengine.growth.results import EXPERIMENTS, ExperimentResults, results
from eduengine.growth.templates import (
    MAX_SOURCE,
    MessageTemplate,
    RenderedMessage,
    TemplateRef,
    compile_template,
    render,
    sample_for,
)
from eduengine.kernel.codec import dt_out
from eduengine.kernel.inputs import check_id, check_int, check_text
from eduengine.people.access import AccessGate, Look, shown
from eduengine.people.model import Actor
from eduengine.service_layer.ports import UnitOfWork, UnitOfWorkFactory
from eduengine.service_layer.runner import ServiceBase, ServiceOptions

__all__ = ["EXPOSURES", "TEMPLATES", "TEMPLATE_HEADS", "ExperimentService", "TemplateService"]

#: one document per ``<experiment>/<student>`` exposed
EXPOSURES = "growth_exposure"
#: one document per template version, ``<kind>/<channel>/<language>/v<version>``
TEMPLATES = "growth_template"
#: the latest version of each template, ``<kind>/<channel>/<language>``
TEMPLATE_HEADS = "growth_template_head"


class ExperimentService(ServiceBase):
    """A/B tests of group size, duration, price, coupon value, journey messages ...:
    a student's variant is :meth:`Experiment.assign`'s pure function of the key and her
    id; :meth:`expose` records her first exposure once; :meth:`results` reads the
    ``growth`` projection. Definitions never change, so each process keeps them once
    read."""

    def __init__(self, uow: UnitOfWorkFactory, **base: Unpack[ServiceOptions]) -> None:
        super().__init__(uow, **base)
        self._lock = threading.Lock()
        self._known: dict[str, Experiment] = {}
        # the school's access check (School.build sets its own)
        self.gate = AccessGate()

    def define(self, experiment: Experiment) -> Experiment:
        """Store an experiment, running from now. Defining the same one again changes
        nothing; other variants, weights or coverage under a key already defined are
        refused (:class:`~eduengine.errors.ExperimentFixed`): they would move students."""
        if not isinstance(experiment, Experiment):
            raise WrongType(f"experiment must be an Experiment, got {experiment!r}")
        record = experiment.to_record()

        def command(uow: UnitOfWork, now: datetime) -> Experiment:
            old = uow.records.get(EXPERIMENTS, experiment.key)
            if old is not None:
                if old["definition"] != record:
                    raise ExperimentFixed(experiment.key)
                return experiment
            doc = {"definition": record, "running": True, "since": dt_out(now), "stopped": None}
            # the running flag is an index value too: exposures read it without locking
            # the definition, so they never queue behind one another
            uow.records.put(
                EXPERIMENTS, experiment.key, doc, index={"running:" + experiment.key: 1}
            )
            uow.record_events(
                [
                    ExperimentDefined(
                        occurred_at=now,
                        experiment_key=experiment.key,
                        variants=tuple(v.key for v in experiment.variants),
                    )
                ]
            )
            return experiment

        return self._run(command, ids={"experiment_key": experiment.key})

    def _definition(self, uow: UnitOfWork, key: str) -> tuple[Experiment, bool]:
        doc = uow.records.get(EXPERIMENTS, key)
        if doc is None:
            raise ExperimentNotFound(key)
        return Experiment.from_record(doc["definition"]), bool(doc["running"])

    def get(self, key: str) -> Experiment:
        """An experiment's definition."""
        check_id(key, "experiment key")
        with self._lock:
            known = self._known.get(key)
        if known is not None:
            return known
        experiment, _ = self._run(lambda uow, now: self._definition(uow, key), write=False)
        with self._lock:
            self._known[key] = experiment
        return experiment

    def running(self, key: str) -> bool:
        """Whether the experiment still records exposures."""
        check_id(key, "experiment key")
        return self._run(lambda uow, now: self._definition(uow, key)[1], write=False)

    def assign(self, key: str, student_id: str) -> Variant | None:
        """The student's variant (``None``: outside the coverage), recording nothing."""
        check_id(student_id, "student_id")
        return self.get(key).assign(student_id)

    def expose(self, key: str, student_id: str) -> Variant | None:
        """The student's variant, recording her exposure the first time she sees it while
        the experiment runs (once, however many processes expose her at once: the
        exposure's document is locked, so the second one finds it). Call it where she
        sees the variant: a group page with the tested size, a price, a message."""
        variant = self.assign(key, student_id)
        if variant is None:
            return None

        def command(uow: UnitOfWork, now: datetime) -> None:
            # the exposure's lock is taken before the definition is read, so exposures
            # of one student queue here and never behind those of another
            exposure = f"{key}/{student_id}"
            if uow.records.get(EXPOSURES, exposure) is not None:
                return
            found = uow.records.scan(EXPERIMENTS, "running:" + key, limit=1)
            if not found or found[0][1] != 1:
                return
            uow.records.put(EXPOSURES, exposure, {"variant": variant.key, "at": dt_out(now)})
            uow.record_events(
                [
                    StudentExposed(
                        occurred_at=now,
                        experiment_key=key,
                        student_id=student_id,
                        variant=variant.key,
                    )
                ]
            )

        self._run(command, ids={"experiment_key": key, "student_id": student_id})
        return variant

    def exposure(self, key: str, student_id: str, *, actor: Actor | None = None) -> str | None:
        """The variant the student was recorded as exposed to, or ``None``, read as
        ``actor``: refused unless the actor may see the student; audited (fields
        ``experiments``; docs/privacy.md). Without an actor (deprecated) it is read as
        before."""
        check_id(key, "experiment key")
        check_id(student_id, "student_id")

        def query(uow: UnitOfWork, now: datetime, look: Look) -> str | None:
            shown(look, student_id)
            doc = uow.records.get(EXPOSURES, f"{key}/{student_id}")
            return None if doc is None else str(doc["variant"])

        return self.gate.read(
            self._run,
            actor,
            ("experiments",),
            query,
            ids={"experiment_key": key, "student_id": student_id},
            records=True,
        )

    def stop(self, key: str) -> bool:
        """Stop recording exposures; ``False`` if already stopped. Every student keeps
        her variant: :meth:`assign` and :meth:`expose` answer as before."""
        check_id(key, "experiment key")

        def command(uow: UnitOfWork, now: datetime) -> bool:
            doc = uow.records.get(EXPERIMENTS, key)
            if doc is None:
                raise ExperimentNotFound(key)
            if not doc["running"]:
                return False
            doc["running"] = False
            doc["stopped"] = dt_out(now)
            uow.records.put(EXPERIMENTS, key, doc, index={"running:" + key: 0})
            uow.record_events([ExperimentStopped(occurred_at=now, experiment_key=key)])
            return True

        return self._run(command, ids={"experiment_key": key})

    def results(self, key: str, *, confidence: float = 0.95) -> ExperimentResults:
        """Per-variant results with ``confidence`` intervals and the sample ratio check
        (kept by the ``growth`` projection: as of its last catch-up)."""
        check_id(key, "experiment key")

        def query(uow: UnitOfWork, now: datetime) -> ExperimentResults:
            experiment, running = self._definition(uow, key)
            return results(uow, experiment, running=running, confidence=confidence)

        return self._run(query, write=False)


class TemplateService(ServiceBase):
    """Message templates per kind, channel and language (``school.templates``), versioned:
    :meth:`save` adds a version and never changes an earlier one, so a message planned
    with a :class:`TemplateRef` renders the same text whatever is saved later.

    ``variables`` are a school's own variables per kind (kind -> name -> sample value),
    added to :data:`~eduengine.growth.templates.VARIABLES`'.

    >>> from datetime import datetime, timezone
    >>> from zoneinfo import ZoneInfo
    >>> from eduengine import FixedClock, InMemoryStore
    >>> clock = FixedClock(datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc))
    >>> templates = TemplateService(InMemoryStore().unit_of_work, clock=clock)
    >>> first = templates.save("lesson", "sms", "zh-CN",
    ...                        "{{ student.name }}，{{ starts_at|time }} 上课")
    >>> planned = first.ref                        # what a planned message keeps
    >>> _ = templates.save("lesson", "sms", "zh-CN",
    ...                    "{{ student.name }}，课程 {{ starts_at|time }} 开始")
    >>> data = {"student": {"name": "安娜"}, "starts_at": clock.now()}
    >>> shanghai = ZoneInfo("Asia/Shanghai")
    >>> templates.render(planned, data, tz=shanghai).body
    '安娜，17:00 上课'
    >>> latest = templates.get("lesson", "sms", "zh-CN-x-school")  # falls back to zh-CN
    >>> latest.version, templates.render(latest.ref, data, tz=shanghai).body
    (2, '安娜，课程 17:00 开始')
    >>> templates.preview(first).body
    'Ann Lee，09:00 上课'
    """

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        *,
        variables: Mapping[str, Mapping[str, Any]] | None = None,
        **base: Unpack[ServiceOptions],
    ) -> None:
        super().__init__(uow, **base)
        if variables is not None and not isinstance(variables, Mapping):
            raise WrongType(f"variables must map kinds to samples, got {variables!r}")
        self.variables = {k: dict(v) for k, v in (variables or {}).items()}
        self._lock = threading.Lock()
        self._compiled: dict[tuple[str, str], jinja2.Template] = {}

    def _compile(self, template: MessageTemplate, part: str) -> jinja2.Template:
        source = template.body if part == "body" else template.subject or ""
        # by the text, not the version: a template built by hand may reuse a version
        key = (template.kind, source)
        with self._lock:
            found = self._compiled.get(key)
        if found is None:
            found = compile_template(
                source, kind=template.kind, variables=self.variables.get(template.kind)
            )
            with self._lock:
                self._compiled[key] = found
        return found

    def save(
        self, kind: str, channel: str, language: str, body: str, *, subject: str | None = None
    ) -> MessageTemplate:
        """Save a new version of the template (1 for the first); refuses a body or
        subject that does not compile or uses a variable the kind does not provide."""
        check_id(kind, "kind")
        check_id(channel, "channel")
        check_id(language, "language")
        check_text(body, "body", max_length=MAX_SOURCE)
        if subject is not None:
            check_text(subject, "subject", max_length=MAX_SOURCE)
        extra = self.variables.get(kind)
        compile_template(body, kind=kind, variables=extra)
        if subject is not None:
            compile_template(subject, kind=kind, variables=extra)
        template_id = f"{kind}/{channel}/{language}"

        def command(uow: UnitOfWork, now: datetime) -> MessageTemplate:
            head = uow.records.get(TEMPLATE_HEADS, template_id)
            version = 1 if head is None else int(head["version"]) + 1
            saved = MessageTemplate(
                kind=kind,
                channel=channel,
                language=language,
                version=version,
                body=body,
                subject=subject,
                saved_at=now,
            )
            uow.records.put(TEMPLATES, f"{template_id}/v{version}", saved.to_record())
            uow.records.put(TEMPLATE_HEADS, template_id, {"version": version})
            uow.record_events(
                [TemplateSaved(occurred_at=now, template_id=template_id, version=version)]
            )
            return saved

        return self._run(command, ids={"template_id": template_id})

    def get(
        self, kind: str, channel: str, language: str, version: int | None = None
    ) -> MessageTemplate:
        """A template's latest version, or the one asked for. Without a version, a
        language with no template falls back to its shorter tags (``zh-Hant-TW``,
        ``zh-Hant``, ``zh``)."""
        check_id(kind, "kind")
        check_id(channel, "channel")
        check_id(language, "language")
        if version is not None:
            check_int(version, "version", low=1)

        def query(uow: UnitOfWork, now: datetime) -> MessageTemplate:
            tags = [language]
            if version is None:
                parts = language.split("-")
                tags += ["-".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]
            for tag in tags:
                template_id = f"{kind}/{channel}/{tag}"
                wanted = version
                if wanted is None:
                    head = uow.records.get(TEMPLATE_HEADS, template_id)
                    if head is None:
                        continue
                    wanted = int(head["version"])
                doc = uow.records.get(TEMPLATES, f"{template_id}/v{wanted}")
                if doc is not None:
                    return MessageTemplate.from_record(doc)
            raise TemplateNotFound(f"{kind}/{channel}/{language}", version)

        return self._run(query, write=False)

    def versions(self, kind: str, channel: str, language: str) -> list[MessageTemplate]:
        """Every saved version of a template, the first first."""
        latest = self.get(kind, channel, language)
        if latest.language != language:
            return []
        return [self.get(kind, channel, language, v) for v in range(1, latest.version + 1)]

    def render(
        self,
        template: TemplateRef | MessageTemplate,
        context: Mapping[str, Any],
        *,
        tz: tzinfo,
    ) -> RenderedMessage:
        """Render a template version (a :class:`TemplateRef` a planned message kept, or a
        :class:`MessageTemplate`) with the recipient's data, datetimes in her zone ``tz``.
        This is the renderer notices call to send a message from a template."""
        if isinstance(template, TemplateRef):
            template = self.get(
                template.kind, template.channel, template.language, template.version
            )
        if not isinstance(template, MessageTemplate):
            raise WrongType(f"template must be a TemplateRef or MessageTemplate, got {template!r}")
        if not isinstance(context, Mapping):
            raise WrongType(f"context must be a mapping, got {context!r}")
        body = render(self._compile(template, "body"), context, tz=tz)
        subject = None
        if template.subject is not None:
            subject = render(self._compile(template, "subject"), context, tz=tz)
        return RenderedMessage(ref=template.ref, subject=subject, body=body)

    def preview(
        self,
        template: MessageTemplate,
        sample: Mapping[str, Any] | None = None,
        *,
        tz: tzinfo = UTC,
    ) -> RenderedMessage:
        """``template`` rendered with ``sample`` over its kind's sample data (nothing is
        stored or sent)."""
        if not isinstance(template, MessageTemplate):
            raise WrongType(f"template must be a MessageTemplate, got {template!r}")
        data = sample_for(template.kind, self.variables.get(template.kind))
        data.update(sample or {})
        return self.render(template, data, tz=tz)
