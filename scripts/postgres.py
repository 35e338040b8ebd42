#!/usr/bin/env python3
"""Start or stop a throwaway PostgreSQL cluster for the test suite (stdlib only).

    python3 scripts/postgres.py start   # prints the DSN as the last line of stdout
    python3 scripts/postgres.py stop

``start`` finds ``initdb``/``pg_ctl`` on PATH or in ``/usr/lib/postgresql/<version>/bin``
(Debian keeps them off the PATH); if there are none and we are root with apt-get, it
installs the ``postgresql`` package first. ``initdb`` refuses to run as root, so as root
the cluster is created and run by the unprivileged ``postgres`` OS user. The cluster lives
in a temporary directory, listens on 127.0.0.1 on a free port, and is removed by ``stop``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".pgdata" / "state.json"
USER = "postgres"


def log(message: str) -> None:
    print(f"[postgres] {message}", file=sys.stderr, flush=True)


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def find_bin() -> Path | None:
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return versions[-1].parent if versions else None


def install() -> None:
    if not (is_root() and shutil.which("apt-get")):
        return
    log("PostgreSQL server not found: installing the Debian package 'postgresql'")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, stdout=sys.stderr)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"],
        check=True,
        env=env,
        stdout=sys.stderr,
    )


def ensure_user() -> None:
    try:
        subprocess.run(["id", "-u", USER], check=True, capture_output=True)
    except subprocess.CalledProcessError:
        subprocess.run(["useradd", "--system", "--no-create-home", USER], check=True)


def as_db_user(cmd: list[str]) -> list[str]:
    if not is_root():
        return cmd
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", USER, "--", *cmd]
    return ["su", USER, "-s", "/bin/sh", "-c", " ".join(cmd)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        log(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
        raise SystemExit(1)


def start() -> None:
    stop(quiet=True)
    bindir = find_bin()
    if bindir is None:
        install()
        bindir = find_bin()
    if bindir is None:
        log("PostgreSQL is not available (no initdb/pg_ctl, and cannot install it here)")
        raise SystemExit(1)
    base = Path(tempfile.mkdtemp(prefix="eduengine-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    if is_root():
        ensure_user()
        shutil.chown(base, USER)
        shutil.chown(sock, USER)
    os.chmod(base, 0o755)
    run(
        as_db_user(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                USER,
                "-E",
                "UTF8",
                "--no-instructions",
            ]
        )
    )
    port = free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={sock} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        "-c max_connections=200 -c shared_buffers=64MB"
    )
    run(
        as_db_user(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(base / "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            ]
        )
    )
    STATE.parent.mkdir(exist_ok=True)
    STATE.write_text(json.dumps({"base": str(base), "bindir": str(bindir), "port": port}))
    createdb = bindir / "createdb"
    for _ in range(20):
        done = subprocess.run(
            as_db_user(
                [str(createdb), "-h", "127.0.0.1", "-p", str(port), "-U", USER, "eduengine_test"]
            ),
            capture_output=True,
            text=True,
        )
        if done.returncode == 0:
            break
        time.sleep(0.5)
    else:
        log(f"createdb failed: {done.stderr}")
        raise SystemExit(1)
    log(f"started PostgreSQL ({bindir}) on 127.0.0.1:{port}, data in {base}")
    print(f"postgresql://{USER}@127.0.0.1:{port}/eduengine_test")


def stop(quiet: bool = False) -> None:
    if not STATE.exists():
        return
    state = json.loads(STATE.read_text())
    base = Path(state["base"])
    if (base / "data").exists():
        subprocess.run(
            as_db_user(
                [
                    str(Path(state["bindir"]) / "pg_ctl"),
                    "-D",
                    str(base / "data"),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ]
            ),
            capture_output=True,
        )
    shutil.rmtree(base, ignore_errors=True)
    STATE.unlink(missing_ok=True)
    if not quiet:
        log("stopped")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in {"start", "stop"}:
        print("usage: scripts/postgres.py start|stop", file=sys.stderr)
        raise SystemExit(2)
    start() if sys.argv[1] == "start" else stop()
