"""Start the example web apps as real servers for the tests, and clients that follow them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLES = ROOT / "examples" / "web"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    # the server imports this checkout's library, whatever the venv's install points at
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


@contextmanager
def server(
    cmd: Sequence[str], *, cwd: Path, env: dict[str, str], url: str, log: Path
) -> Iterator[str]:
    """Run ``cmd`` until the ``with`` block ends; yields ``url`` once it answers."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=_env(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
                try:
                    httpx.get(url + "/health", timeout=1.0)
                    break
                except httpx.TransportError as exc:
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"server did not start: {log.read_text()[-2000:]}"
                        ) from exc
                    time.sleep(0.1)
            yield url
        finally:
            # the server's own process group (its workers too): nothing else is touched
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def uvicorn_cmd(port: int, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "school_api:app",
        "--app-dir",
        str(EXAMPLES / "fastapi_app"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--timeout-graceful-shutdown",
        "1",
    ]


def runserver_cmd(port: int) -> list[str]:
    return [
        sys.executable,
        str(EXAMPLES / "django_app" / "manage.py"),
        "runserver",
        f"127.0.0.1:{port}",
        "--noreload",
    ]


def manage(*args: str, db: Path) -> subprocess.Popen[str]:
    """``manage.py *args`` on database ``db``, started (``.communicate()`` waits)."""
    return subprocess.Popen(
        [sys.executable, str(EXAMPLES / "django_app" / "manage.py"), *args],
        cwd=EXAMPLES / "django_app",
        env=_env({"EDUSCHOOL_DB": str(db)}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )


def finished(proc: subprocess.Popen[str]) -> str:
    """The output of a ``manage`` command that must succeed."""
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return out


async def follow_sse(
    client: httpx.AsyncClient, url: str, *, until_seats: int, into: list[dict[str, Any]]
) -> None:
    """Read server-sent events from ``url`` into ``into`` until one shows ``until_seats``."""
    async with client.stream("GET", url, timeout=httpx.Timeout(30.0)) as response:
        assert response.status_code == 200
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            message = json.loads(line.removeprefix("data: "))
            into.append(message)
            if message["data"]["seats_left"] == until_seats and message["type"] != "snapshot":
                return


def check_stream(messages: list[dict[str, Any]], *, capacity: int) -> None:
    """A client's view: a snapshot, then every later event once, in sequence order, with
    no gap, ending with the slot full."""
    assert messages, "the client saw nothing"
    first, events = messages[0], messages[1:]
    assert first["type"] == "snapshot"
    sequences = [m["sequence"] for m in events]
    assert sequences == list(range(first["sequence"] + 1, first["sequence"] + 1 + len(events)))
    seats = [first["data"]["seats_left"], *(m["data"]["seats_left"] for m in events)]
    assert seats == list(range(seats[0], seats[0] - len(seats), -1))  # one seat at a time
    assert seats[-1] == 0
    assert seats[0] == capacity
