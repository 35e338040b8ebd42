"""Every runtime dependency has a floor and a ceiling, and the floors are what
``constraints/lowest.txt`` installs for the lowest-versions run of ``dev.py test``."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = [r for reqs in project["optional-dependencies"].values() for r in reqs]
    return [Requirement(r) for r in [*project["dependencies"], *extras]]


def _pins() -> dict[str, Version]:
    lines = (ROOT / "constraints" / "lowest.txt").read_text(encoding="utf-8").splitlines()
    pins: dict[str, Version] = {}
    for line in lines:
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = Version(version.strip())
    return pins


def test_every_runtime_dependency_has_a_floor_and_a_ceiling() -> None:
    for req in _runtime_requirements():
        ops = {spec.operator for spec in req.specifier}
        assert ops == {">=", "<"}, f"{req} needs a tested floor (>=) and a ceiling (<)"


def test_the_lowest_constraints_pin_exactly_the_floors() -> None:
    pins = _pins()
    floors = {
        canonicalize_name(req.name): Version(spec.version)
        for req in _runtime_requirements()
        for spec in req.specifier
        if spec.operator == ">="
    }
    assert {name: pins.get(name) for name in floors} == floors
    assert "babel" not in pins and "babel" not in floors  # money no longer moves with it
