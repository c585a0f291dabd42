"""Servers of our own that a fault test may stop: never the shared ones on their default ports."""

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_bin() -> Path | None:
    """The directory of the newest installed PostgreSQL's server programs, if any."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parent.parent.name))
    if versions:
        return versions[-1].parent
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


class OwnPostgres:
    """A PostgreSQL cluster in a directory of the test's, on a port of its own.

    Stopped and started by the test as an operator would (`pg_ctl stop -m fast`
    ends every connection, as a restart or a failover does). PostgreSQL refuses
    to run as root, so under root it runs as the `postgres` user.
    """

    def __init__(self):
        self.bin = postgres_bin()
        # Its own directory, not under pytest's (which only root may enter).
        self.directory = Path(tempfile.mkdtemp(prefix="tuneboard-postgres-"))
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        if os.getuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync")

    def _run(self, program: str, *argv: str) -> None:
        command = [str(self.bin / program), *argv]
        if os.getuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off"
        self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60")

    def stop(self) -> None:
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "fast", "-w", "-t", "60")

    def query(self, sql: str, *params):
        with psycopg.connect(self.url, connect_timeout=5) as conn:
            return conn.execute(sql, params).fetchall()

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w", "-t", "60")
        shutil.rmtree(self.directory, ignore_errors=True)
