"""Growth: experiments (A/B tests with sticky assignment, exposures, results and the
sample ratio check; ``school.experiments``) and versioned message templates rendered in a
sandbox (``school.templates``)."""

from eduengine.growth.events import (
    ExperimentDefined,
    ExperimentStopped,
    StudentExposed,
    TemplateSaved,
)
from eduengine.growth.experiments import Experiment, Variant, bucket, fnv1a32
from eduengine.growth.results import ExperimentResults, VariantResult
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
    "MessageTemplate",
    "RenderedMessage",
    "StudentExposed",
    "TemplateRef",
    "TemplateSaved",
    "TemplateService",
    "Variant",
    "VariantResult",
    "bucket",
    "compile_template",
    "fnv1a32",
    "render",
]
