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
    """The runtime requirements that apply to this Python (floors may differ by version,
    where a binary wheel first exists for it)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = [r for reqs in project["optional-dependencies"].values() for r in reqs]
    reqs = [Requirement(r) for r in [*project["dependencies"], *extras]]
    return [r for r in reqs if r.marker is None or r.marker.evaluate()]


def _pins() -> dict[str, Version]:
    """The pins of constraints/lowest.txt that pip applies on this Python."""
    lines = (ROOT / "constraints" / "lowest.txt").read_text(encoding="utf-8").splitlines()
    pins: dict[str, Version] = {}
    for line in lines:
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate():
                continue
            (spec,) = requirement.specifier
            assert spec.operator == "==", line
            pins[canonicalize_name(requirement.name)] = Version(spec.version)
    return pins


def test_every_python_version_has_one_floor_for_each_dependency() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = [r for reqs in project["optional-dependencies"].values() for r in reqs]
    for minor in range(11, 15):
        env = {"python_version": f"3.{minor}", "python_full_version": f"3.{minor}.0"}
        names = [
            canonicalize_name(r.name)
            for r in map(Requirement, [*project["dependencies"], *extras])
            if r.marker is None or r.marker.evaluate(env)
        ]
        assert len(names) == len(set(names)), (minor, names)
        assert "psycopg" in names, minor


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
