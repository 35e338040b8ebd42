"""Growth: experiments (A/B tests with sticky assignment, exposures, results and the
sample ratio check; ``school.experiments``), versioned message templates rendered in a
sandbox (``school.templates``), segments over students (``school.segments``) and journeys
(``school.journeys``)."""

from eduengine.growth.events import (
    ExperimentDefined,
    ExperimentStopped,
    JourneyStepSkipped,
    JourneyStepTaken,
    StaffTaskCreated,
    StudentExposed,
    TemplateSaved,
)
from eduengine.growth.experiments import Experiment, Variant, bucket, fnv1a32
from eduengine.growth.journeys import (
    FrequencyCap,
    IssueCoupon,
    Journey,
    JourneyService,
    SendNotice,
    StaffTask,
    Step,
    Trigger,
)
from eduengine.growth.results import ExperimentResults, VariantResult
from eduengine.growth.segments import Segment, SegmentPage, SegmentService
from eduengine.growth.service import ExperimentService, TemplateService
from eduengine.growth.templates import (
    MessageTemplate,
    RenderedMessage,
    TemplateRef,
    compile_template,
    render,
)

__all__ = [
    "Experiment",
    "ExperimentDefined",
    "ExperimentResults",
    "ExperimentService",
    "ExperimentStopped",
    "FrequencyCap",
    "IssueCoupon",
    "Journey",
    "JourneyService",
    "JourneyStepSkipped",
    "JourneyStepTaken",
    "MessageTemplate",
    "RenderedMessage",
    "Segment",
    "SegmentPage",
    "SegmentService",
    "SendNotice",
    "StaffTask",
    "StaffTaskCreated",
    "Step",
    "StudentExposed",
    "TemplateRef",
    "TemplateSaved",
    "TemplateService",
    "Trigger",
    "Variant",
    "VariantResult",
    "bucket",
    "compile_template",
    "fnv1a32",
    "render",
]
