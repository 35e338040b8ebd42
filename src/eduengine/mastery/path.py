"""The learning path: the next step for a student, explained in data (pure).

The rule: a review that is due comes first (the most overdue, then by point id); else,
of the points not yet mastered whose prerequisites all are, the one with the lowest
mastery (then by point id); else the path is done. A point is *mastered* at or above the
threshold (0.95 by default, the usual BKT mastery criterion); a point never observed
counts at its prior.

>>> from decimal import Decimal
>>> graph = {"add": [], "fractions": ["add"], "ratios": ["fractions"]}
>>> step = next_step(graph, {"add": Decimal("0.97"), "fractions": Decimal("0.4")}, [],
...                  priors={}, threshold=Decimal("0.95"))
>>> step.kind, step.point_id, step.mastery
('learn', 'fractions', Decimal('0.4'))
>>> step.blocked
{'ratios': ('fractions',)}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

import attrs

from eduengine.errors import PrerequisiteCycle
from eduengine.mastery.model import DEFAULT_PARAMS

__all__ = ["MASTERED", "DueReview", "PathStep", "check_graph", "next_step"]

#: mastery at or above this counts as mastered (BKT's usual criterion)
MASTERED = Decimal("0.95")


@attrs.frozen(kw_only=True)
class DueReview:
    """A knowledge point whose review is due (``due`` at or before the time asked)."""

    point_id: str
    due: datetime
    mastery: Decimal
    reviews: int


@attrs.frozen(kw_only=True)
class PathStep:
    """The next step and why: ``kind`` is ``review`` (a due review of ``point_id``),
    ``learn`` (work on ``point_id``) or ``done`` (every point mastered).

    ``mastery`` is the chosen point's estimate; ``prerequisites`` the estimates of its
    prerequisites (all mastered); ``candidates`` every point that was open to learn with
    its estimate (the choice is the lowest); ``blocked`` the points still waiting, with
    the prerequisites they wait for; ``review`` the due review taken, if any.
    """

    kind: str
    point_id: str | None
    mastery: Decimal | None
    threshold: Decimal
    prerequisites: Mapping[str, Decimal] = attrs.field(factory=dict)
    candidates: Mapping[str, Decimal] = attrs.field(factory=dict)
    blocked: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    review: DueReview | None = None

    def explain(self) -> str:
        """One sentence for a student or a host's page.

        >>> PathStep(kind="done", point_id=None, mastery=None,
        ...          threshold=Decimal("0.95")).explain()
        'every knowledge point is mastered (at or above 0.95)'
        """
        if self.kind == "review" and self.review is not None:
            return (
                f"review {self.point_id}: due since {self.review.due.isoformat()} "
                f"(mastery {self.mastery}, {self.review.reviews} review(s) so far)"
            )
        if self.kind == "learn":
            ready = ", ".join(f"{p} {m}" for p, m in sorted(self.prerequisites.items()))
            because = f"; prerequisites mastered: {ready}" if ready else ""
            return (
                f"learn {self.point_id}: the lowest mastery ({self.mastery}) of "
                f"{len(self.candidates)} point(s) open to learn{because}"
            )
        return f"every knowledge point is mastered (at or above {self.threshold})"


def check_graph(graph: Mapping[str, Sequence[str]]) -> dict[str, tuple[str, ...]]:
    """The graph with every prerequisite as a node of its own; raises
    :class:`~eduengine.errors.PrerequisiteCycle` if a point depends on itself.

    >>> check_graph({"b": ["a"], "a": ["b"]})
    Traceback (most recent call last):
    ...
    eduengine.errors.PrerequisiteCycle: knowledge points form a prerequisite cycle: a -> b -> a
    """
    nodes: dict[str, tuple[str, ...]] = {}
    for point, needs in graph.items():
        nodes[point] = tuple(sorted(set(needs)))
        for need in needs:
            nodes.setdefault(need, ())
    # depth-first search in sorted order, so the cycle reported is always the same one
    state: dict[str, int] = {}
    for root in sorted(nodes):
        if state.get(root):
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        trail: list[str] = [root]
        state[root] = 1
        while stack:
            point, i = stack.pop()
            needs = nodes[point]
            if i < len(needs):
                stack.append((point, i + 1))
                need = needs[i]
                if state.get(need) == 1:
                    loop = [*trail[trail.index(need) :], need]
                    raise PrerequisiteCycle(loop)
                if not state.get(need):
                    state[need] = 1
                    trail.append(need)
                    stack.append((need, 0))
            else:
                state[point] = 2
                trail.pop()
    return nodes


def next_step(
    graph: Mapping[str, Sequence[str]],
    mastery: Mapping[str, Decimal],
    due: Sequence[DueReview],
    *,
    priors: Mapping[str, Decimal],
    threshold: Decimal = MASTERED,
) -> PathStep:
    """The next step for a student with estimates ``mastery`` (points never observed
    count at ``priors``, else the school default) and the reviews ``due`` now."""
    if due:
        first = min(due, key=lambda r: (r.due, r.point_id))
        return PathStep(
            kind="review",
            point_id=first.point_id,
            mastery=first.mastery,
            threshold=threshold,
            review=first,
        )
    nodes = check_graph(graph)
    for point in mastery:
        nodes.setdefault(point, ())  # observed, but in no graph: no prerequisites

    def level(point: str) -> Decimal:
        found = mastery.get(point)
        return found if found is not None else priors.get(point, DEFAULT_PARAMS.prior)

    candidates: dict[str, Decimal] = {}
    blocked: dict[str, tuple[str, ...]] = {}
    for point, needs in sorted(nodes.items()):
        if level(point) >= threshold:
            continue
        waiting = tuple(n for n in needs if level(n) < threshold)
        if waiting:
            blocked[point] = waiting
        else:
            candidates[point] = level(point)
    if not candidates:
        return PathStep(kind="done", point_id=None, mastery=None, threshold=threshold)
    chosen = min(candidates, key=lambda p: (candidates[p], p))
    return PathStep(
        kind="learn",
        point_id=chosen,
        mastery=candidates[chosen],
        threshold=threshold,
        prerequisites={n: level(n) for n in nodes[chosen]},
        candidates=candidates,
        blocked=blocked,
    )
