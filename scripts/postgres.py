#!/usr/bin/env python3
"""Start or stop a throwaway PostgreSQL cluster for the test suite (stdlib only).

    python3 scripts/postgres.py start   # prints the DSN as the last line of stdout
    python3 scripts/postgres.py stop

``start`` finds ``initdb``/``pg_ctl`` on PATH or in ``/usr/lib/postgresql/<version>/bin``
(Debian keeps them off the PATH); if there are none and we are root with apt-get, it
installs the ``postgresql`` package first. ``initdb`` refuses to run as root, so as root
the cluster is created and run by the unprivileged ``postgres`` OS user. The cluster lives
in a temporary directory, listens on 127.0.0.1 on a free port, and is removed by ``stop``.

A test that must stop or restart a server (the shared one serves every other test) makes
its own cluster with the same functions:

    base = new_base()               # a directory the postgres OS user may use
    dsn = start_cluster(base)       # initdb once, then start; same port every time
    restart_cluster(base)           # pg_ctl restart -m fast
    stop_cluster(base)              # start_cluster(base) again brings it back
    remove_cluster(base)            # stop it and delete the directory
"""

from __future__ import annotations

import json
import os
import shlex
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
DATABASE = "eduengine_test"
#: what a cluster in ``base`` remembers between calls: its binaries and port
CLUSTER = "cluster.json"


class ClusterError(RuntimeError):
    """A cluster could not be made, started or stopped; the message says what failed."""


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
    return ["su", USER, "-s", "/bin/sh", "-c", shlex.join(cmd)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(cmd: list[str]) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise ClusterError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")


def new_base() -> Path:
    """A fresh temporary directory for one cluster, usable by the postgres OS user
    (as root, ``initdb`` and the server run as that user)."""
    base = Path(tempfile.mkdtemp(prefix="eduengine-pg-"))
    if is_root():
        ensure_user()
        shutil.chown(base, USER)
    os.chmod(base, 0o755)
    return base


def _cluster(base: Path) -> dict[str, str | int]:
    found: dict[str, str | int] = json.loads((base / CLUSTER).read_text())
    return found


def _pg_ctl(base: Path, *args: str) -> list[str]:
    bindir = Path(str(_cluster(base)["bindir"]))
    return as_db_user([str(bindir / "pg_ctl"), "-D", str(base / "data"), *args])


def start_cluster(
    base: Path, *, bindir: Path | None = None, database: str = DATABASE, timeout: int = 60
) -> str:
    """Start the cluster in ``base`` (made by :func:`new_base`) and return its DSN.

    The first call runs ``initdb``, picks a free port and creates ``database``; later
    calls (after :func:`stop_cluster`) start the same data directory on the same port.
    Raises :class:`ClusterError` when there are no server binaries or a step fails."""
    if not (base / CLUSTER).exists():
        bindir = bindir or find_bin()
        if bindir is None:
            raise ClusterError("PostgreSQL is not available (no initdb/pg_ctl found)")
        sock = base / "sock"
        sock.mkdir()
        if is_root():
            shutil.chown(sock, USER)
        run(
            as_db_user(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(base / "data"),
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
        (base / CLUSTER).write_text(json.dumps({"bindir": str(bindir), "port": free_port()}))
        fresh = True
    else:
        fresh = False
    port = int(_cluster(base)["port"])
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base / 'sock'} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
        "-c max_connections=200 -c shared_buffers=64MB"
    )
    log_file = str(base / "server.log")
    run(_pg_ctl(base, "-o", options, "-l", log_file, "-w", "-t", str(timeout), "start"))
    if fresh:
        _create_database(base, port, database)
    return f"postgresql://{USER}@127.0.0.1:{port}/{database}"


def _create_database(base: Path, port: int, database: str) -> None:
    createdb = Path(str(_cluster(base)["bindir"])) / "createdb"
    cmd = as_db_user([str(createdb), "-h", "127.0.0.1", "-p", str(port), "-U", USER, database])
    for _ in range(20):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode == 0:
            return
        time.sleep(0.5)
    raise ClusterError(f"createdb failed: {done.stderr}")


def stop_cluster(base: Path, *, mode: str = "fast") -> None:
    """Stop the cluster in ``base`` and wait until it is down (``mode``: pg_ctl's
    ``smart``, ``fast`` or ``immediate``); its data and port stay for a later start."""
    run(_pg_ctl(base, "-m", mode, "-w", "stop"))


def restart_cluster(base: Path, *, mode: str = "fast", timeout: int = 60) -> None:
    """Restart the cluster in ``base`` on the same port and wait until it accepts
    connections again; every open connection to it is dropped."""
    # -l as at start: without it the server would log into our pipe and keep it open
    log_file = str(base / "server.log")
    run(_pg_ctl(base, "-m", mode, "-l", log_file, "-w", "-t", str(timeout), "restart"))


def remove_cluster(base: Path) -> None:
    """Stop the cluster in ``base`` at once, if it runs, and delete its directory."""
    if (base / CLUSTER).exists() and (base / "data").exists():
        subprocess.run(_pg_ctl(base, "-m", "immediate", "-w", "stop"), capture_output=True)
    shutil.rmtree(base, ignore_errors=True)


def start() -> None:
    stop(quiet=True)
    if find_bin() is None:
        install()
    base = new_base()
    try:
        dsn = start_cluster(base)
    except ClusterError as exc:
        log(str(exc))
        remove_cluster(base)
        raise SystemExit(1) from exc
    STATE.parent.mkdir(exist_ok=True)
    cluster = _cluster(base)
    STATE.write_text(json.dumps({"base": str(base), **cluster}))
    log(f"started PostgreSQL ({cluster['bindir']}) on {dsn}, data in {base}")
    print(dsn)


def stop(quiet: bool = False) -> None:
    if not STATE.exists():
        return
    state = json.loads(STATE.read_text())
    base = Path(state["base"])
    if not (base / CLUSTER).exists() and (base / "data").exists():
        # started by an older version of this script, which kept this only in STATE
        (base / CLUSTER).write_text(json.dumps({"bindir": state["bindir"], "port": state["port"]}))
    remove_cluster(base)
    STATE.unlink(missing_ok=True)
    if not quiet:
        log("stopped")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in {"start", "stop"}:
        print("usage: scripts/postgres.py start|stop", file=sys.stderr)
        raise SystemExit(2)
    start() if sys.argv[1] == "start" else stop()
