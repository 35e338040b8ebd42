"""Plugins: a host's rules and reactions, registered by entry points (like pretix's
plugins) and enabled by name in :class:`~eduengine.config.settings.SchoolSettings`.

A plugin is a distribution that declares, in its ``pyproject.toml``::

    [project.entry-points."eduengine.plugins"]
    house_points = "house_points:register"

where ``register(plugins)`` adds its rules (run in the command's unit of work, so they
may refuse) and its reactions (projections of the feed, each applied once after
commit):

>>> from eduengine.booking.events import SeatBooked
>>> seen = []
>>> def register(plugins: Plugins) -> None:
...     plugins.reaction("house_points", {SeatBooked: [lambda event, uow: seen.append(event)]})
>>> plugins = Plugins()
>>> register(plugins)
>>> [projection.name for projection in plugins.projections]
['house_points']
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from importlib.metadata import EntryPoint, entry_points

from eduengine.errors import InvalidSetting
from eduengine.events.projections import Projection, reaction_projection
from eduengine.kernel.events import DomainEvent
from eduengine.service_layer.messagebus import Handler
from eduengine.service_layer.ports import UnitOfWork

__all__ = ["PLUGIN_GROUP", "Plugins", "load_plugins"]

#: the entry-point group plugins are declared in
PLUGIN_GROUP = "eduengine.plugins"


class Plugins:
    """What the enabled plugins add to a school: ``rules`` for the bus and
    ``projections`` for the feed; :meth:`School.rules` lists both."""

    def __init__(self) -> None:
        self.rules: dict[type[DomainEvent], list[Handler]] = {}
        self.projections: list[Projection] = []
        self.loaded: list[str] = []

    def rule(self, event_type: type[DomainEvent], handler: Handler) -> None:
        """``handler(event, uow)`` runs in the unit of work of every command that raises
        ``event_type``: raising refuses the command and writes nothing."""
        self.rules.setdefault(event_type, []).append(handler)

    def reaction(
        self,
        name: str,
        table: Mapping[type[DomainEvent], Sequence[Handler]],
        *,
        reset: Callable[[UnitOfWork], None] | None = None,
    ) -> None:
        """A projection named ``name`` whose handlers get each event of ``table`` once,
        after commit, from the feed (its checkpoint is its own)."""
        self.projection(reaction_projection(name, table, reset=reset))

    def projection(self, projection: Projection) -> None:
        """A projection of the plugin's own making (any ``apply(uow, envelopes)``)."""
        if any(p.name == projection.name for p in self.projections):
            raise InvalidSetting(f"two plugin projections are named {projection.name!r}")
        self.projections.append(projection)


def _installed() -> list[EntryPoint]:
    return sorted(entry_points(group=PLUGIN_GROUP), key=lambda point: point.name)


def load_plugins(names: Iterable[str], *, available: Iterable[EntryPoint] | None = None) -> Plugins:
    """The plugins ``names`` (``"*"``: every installed one) registered into one
    :class:`Plugins`; a name that no installed distribution declares is refused.

    >>> load_plugins([]).loaded
    []
    >>> load_plugins(["no_such_plugin"], available=[])
    Traceback (most recent call last):
    ...
    eduengine.errors.InvalidSetting: plugin 'no_such_plugin' is not installed (the \
eduengine.plugins entry points are: none)
    """
    wanted = list(names)
    points = {point.name: point for point in (_installed() if available is None else available)}
    chosen = sorted(points) if "*" in wanted else wanted
    plugins = Plugins()
    for name in chosen:
        point = points.get(name)
        if point is None:
            known = ", ".join(sorted(points)) or "none"
            raise InvalidSetting(
                f"plugin {name!r} is not installed (the {PLUGIN_GROUP} entry points are: {known})"
            )
        register = point.load()
        if not callable(register):
            raise InvalidSetting(
                f"plugin {name!r} ({point.value}) is not a register(plugins) function"
            )
        register(plugins)
        plugins.loaded.append(name)
    return plugins
