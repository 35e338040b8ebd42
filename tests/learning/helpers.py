"""A small school for the learning tests: one course, two units, three dimensions."""

from __future__ import annotations

from eduengine.learning import (
    AbilityDimension,
    Curriculum,
    KnowledgePoint,
    LearningService,
    Unit,
)

DIMENSIONS = [
    AbilityDimension(id="vocabulary", name="Vocabulary"),
    AbilityDimension(id="fluency", name="Speaking fluency"),
    AbilityDimension(id="speed", name="Problem-solving speed"),
]

ENGLISH = Curriculum(
    course_id="en1",
    title="English 1",
    points=(
        KnowledgePoint(id="greetings"),
        KnowledgePoint(id="numbers"),
        KnowledgePoint(id="past-tense", prerequisites=("greetings", "numbers")),
    ),
    units=(
        Unit(id="u1", points=("greetings", "numbers"), dimensions=("vocabulary",)),
        Unit(id="u2", points=("past-tense",), dimensions=("vocabulary", "fluency")),
    ),
)


def set_up_course(learning: LearningService) -> None:
    learning.define_dimensions(DIMENSIONS)
    learning.define_curriculum(ENGLISH)
