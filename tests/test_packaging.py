"""The package builds, passes ``twine check``, and carries what its users need: the
license, the version, the console script, its classifiers and a long description whose
links work off this repository."""

from __future__ import annotations

import email
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

import eduengine

ROOT = Path(__file__).resolve().parent.parent


def _need(module: str) -> None:
    # the dev dependency group installs them; only a bare venv outside CI may lack one
    if os.environ.get("CI") != "true":
        pytest.importorskip(module)


def test_the_package_builds_and_passes_twine_check(tmp_path: Path) -> None:
    for module in ("build", "twine", "hatchling"):
        _need(module)
    built = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    wheels = list(tmp_path.glob("*.whl"))
    sdists = list(tmp_path.glob("*.tar.gz"))
    assert len(wheels) == 1
    assert len(sdists) == 1
    checked = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, wheels + sdists)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    with zipfile.ZipFile(wheels[0]) as wheel:
        names = wheel.namelist()
        info = f"eduengine-{eduengine.__version__}.dist-info"
        meta = email.message_from_bytes(wheel.read(f"{info}/METADATA"))
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    assert f"{info}/licenses/LICENSE" in names
    assert "eduengine/py.typed" in names
    assert "eduengine/__main__.py" in names
    # the operator's board's page, its CJK font subset and the font's licence (issue #26)
    for asset in ("board.html", "board-font.woff", "board-font.LICENSE.txt"):
        assert f"eduengine/ops/board_static/{asset}" in names
    assert meta["Version"] == eduengine.__version__ == "0.2.0"
    assert meta["License-Expression"] == "MIT"
    assert "eduengine = eduengine.ops.cli:main" in entry_points
    classifiers = meta.get_all("Classifier") or []
    for minor in (11, 12, 13):
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers
    assert meta.get_all("Provides-Extra") == ["postgres"]  # no dev tools for users
    description = meta.get_payload()
    assert isinstance(description, str)
    links = re.findall(r"\]\(([^)]*)\)", description)
    assert [link for link in links if not re.match(r"https?://", link)] == []


def test_dev_tools_are_a_dependency_group_not_an_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "dev" not in project["project"].get("optional-dependencies", {})
    dev = " ".join(project["dependency-groups"]["dev"])
    for tool in ("pytest", "hypothesis", "mypy", "ruff", "build", "twine"):
        assert tool in dev
    license_text = (ROOT / "LICENSE").read_text()
    assert license_text.startswith("MIT License")
