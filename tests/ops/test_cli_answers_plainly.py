"""Every bad argument, and every error eduengine reports, is one line on stderr
(``eduengine: error: ...``) with a non-zero exit: never a traceback, never pool noise."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from eduengine import InMemoryStore, School, ops
from eduengine.adapters.sqlite import SqliteStore
from eduengine.bootstrap import PERIODIC_JOBS
from tests.ops.test_cli import ROOT, cli, lines


@pytest.fixture
def url(tmp_path: Path) -> str:
    path = tmp_path / "school.sqlite3"
    SqliteStore(path).migrate()
    return f"sqlite:///{path}"


def one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith("eduengine: error: "), stderr
    return stderr.strip()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("report", "--from", "2026-13-01"), "not a date: '2026-13-01'"),
        (("report", "--zone", "Mars/Base"), "unknown time zone 'Mars/Base'"),
        (("report", "--days", "0"), "--days"),
        (("export-ics", "--student", ""), "an id cannot be empty"),
        (("export-ics", "--tutor", " "), "an id cannot be empty"),
        (("run-due", "--jobs", "offers,nightly"), "unknown job(s) ['nightly']"),
        (("relay", "--limit", "-1"), "--limit"),
    ],
)
def test_a_bad_argument_is_one_line_and_a_usage_exit(
    url: str, args: tuple[str, ...], says: str
) -> None:
    done = cli(*args, url=url)
    assert done.returncode == 2
    assert says in one_error_line(done.stderr)
    assert done.stdout == ""


def test_an_empty_student_id_exports_no_ones_calendar(url: str) -> None:
    done = cli("export-ics", "--student=", url=url)
    assert done.returncode == 2 and "Teaching of None" not in done.stdout


def test_backup_onto_the_stores_own_file_is_refused(url: str, tmp_path: Path) -> None:
    own = tmp_path / "school.sqlite3"
    before = own.read_bytes()
    for target in (str(own), f"{tmp_path}/./school.sqlite3", "school.sqlite3"):
        done = cli("backup", target, url=url, cwd=tmp_path)
        assert done.returncode == 1, (target, done.stdout)
        line = one_error_line(done.stderr)
        assert "invalid_input" in line and "own database file" in line
    (tmp_path / "link.sqlite3").symlink_to(own)
    assert cli("backup", str(tmp_path / "link.sqlite3"), url=url).returncode == 1
    assert own.read_bytes() == before
    assert cli("backup", str(tmp_path / "copy.sqlite3"), url=url).returncode == 0


def test_an_unreachable_postgresql_is_one_prompt_line() -> None:
    started = time.monotonic()
    # lock_timeout=30: the old path waited that long for the pool, printing its retries
    done = cli("status", url="postgresql://postgres@127.0.0.1:1/school?lock_timeout=30&keys=off")
    took = time.monotonic() - started
    assert done.returncode == 1
    line = one_error_line(done.stderr)
    assert re.match(
        r"eduengine: error: StoreNotFound \(store_not_found\): cannot connect to PostgreSQL "
        r"at postgresql://postgres@127\.0\.0\.1:1/school",
        line,
    ), line
    assert took < 8, f"{took:.1f} s"  # interpreter start included, on a loaded machine


def test_a_named_job_that_cannot_run_here_is_run_or_explained_never_refused(url: str) -> None:
    done = cli("run-due", "--jobs", "notices,offers", url=url)
    assert done.returncode == 0, done.stderr
    assert lines(done.stdout)[0]["run_due"]["done"] == {"offers": 0}
    assert "job notices does not run here: no notice channel has a notifier" in done.stderr


def test_run_due_help_docs_and_code_name_the_same_jobs() -> None:
    school = School.build(InMemoryStore())
    notifier = ops.JsonLinesNotifier(lambda text: None)
    wired = school.periodic_jobs(notifier)
    assert sorted([*wired, *school.idle_jobs(notifier)]) == sorted(PERIODIC_JOBS)
    assert list(wired) == [name for name in PERIODIC_JOBS if name in wired]
    assert list(school.idle_jobs()) == ["notices", "reminders"]
    page = (ROOT / "docs" / "operations.md").read_text()
    section = page.split("### Periodic jobs", 1)[1].split("\n### ", 1)[0]
    documented = re.findall(r"^\| `([^`]+)` \|", section, flags=re.M)
    assert documented == list(PERIODIC_JOBS)
    helped = cli("run-due", "--help").stdout
    for name, does in PERIODIC_JOBS.items():
        assert f"  {name:<14}{does}" in helped
