"""`manage.py runall`, what `make run` ends with, as a new user runs it: start, use, Ctrl-C."""

import os
import signal
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from bench.stack import ROOT, free_port

pytestmark = pytest.mark.integration


def manage(env, *args):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_runall_serves_runs_a_tuning_job_and_stops_everything_on_ctrl_c(tmp_path):
    web_port, redis_port = free_port(), free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "SECRET_KEY"}
    }
    env.update(
        TUNEBOARD_VAR_DIR=str(tmp_path / "var"),
        TUNEBOARD_EMBEDDED_REDIS_PORT=str(redis_port),
        TUNEBOARD_TRAINING_SLOTS="2",
        TUNEBOARD_RECONCILE_INTERVAL="2",
        STATIC_ROOT=str(tmp_path / "static"),
    )
    for command in (["migrate", "--noinput"], ["collectstatic", "--noinput"], ["register_examples"]):
        result = manage(env, *command)
        assert result.returncode == 0, result.stderr
    log = open(tmp_path / "runall.log", "w+")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "runall", "--port", str(web_port)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while "is running at" not in (tmp_path / "runall.log").read_text():
            assert process.poll() is None, (tmp_path / "runall.log").read_text()
            assert time.monotonic() < deadline, "runall did not start within 60 s"
            time.sleep(0.3)
        output = (tmp_path / "runall.log").read_text()
        assert f"http://127.0.0.1:{web_port}/" in output
        assert "login: admin / " in output
        # Quiet: what a newcomer needs is not scrolled away under the workers' banners, which went to
        # their logs, and the address comes once everything answers (the workers said they are ready).
        assert "[queues]" not in output and "celery@" not in output and len(output.splitlines()) <= 6, output
        logs = tmp_path / "var" / "logs"
        assert " ready." in (logs / "training.log").read_text() and " ready." in (logs / "control.log").read_text()

        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/accounts/login/") as response:
            assert response.status == 200
            assert b"csrfmiddlewaretoken" in response.read()
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/static/css/tuneboard.css") as response:
            assert response.status == 200

        spec = tmp_path / "spec.json"
        spec.write_text(
            (ROOT / "examples/specs/gradient-boosting.json")
            .read_text()
            .replace('"MaxNumberOfTrainingJobs": 12', '"MaxNumberOfTrainingJobs": 2')
        )
        assert manage(env, "create_tuning_job", str(spec)).returncode == 0
        deadline = time.monotonic() + 90
        completed = '"HyperParameterTuningJobStatus": "Completed"'
        while completed not in manage(env, "describe_tuning_job", "gbt-job").stdout:
            assert time.monotonic() < deadline, (tmp_path / "runall.log").read_text()[-5000:]
            time.sleep(1)

        children = psutil.Process(process.pid).children(recursive=True)
        assert len(children) >= 5  # redis, daphne, two workers, beat (and the pools)
    finally:
        os.kill(process.pid, signal.SIGINT)
        process.wait(60)
        log.close()
    assert process.returncode == 0, (tmp_path / "runall.log").read_text()[-3000:]
    assert [child for child in children if child.is_running() and child.status() != psutil.STATUS_ZOMBIE] == []


def test_the_embedded_redis_keeps_queued_messages_across_a_crash(tmp_path, settings):
    """A broker killed with run tasks queued gives them back on restart: runall's Redis keeps an append-only file."""
    import redis

    from jobs.management.commands.runall import Command

    settings.VAR_DIR = tmp_path / "var"
    settings.VAR_DIR.mkdir()
    settings.EMBEDDED_REDIS_PORT = free_port()
    argv = Command()._redis_argv()
    client = redis.Redis(port=settings.EMBEDDED_REDIS_PORT)

    def start():
        process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                return process
            except redis.ConnectionError:
                assert process.poll() is None and time.monotonic() < deadline, "the embedded Redis did not start"
                time.sleep(0.1)

    process = start()
    try:
        client.rpush("training", "run 1", "run 2")
        # Written out now rather than within the second appendfsync allows, so that the kill loses nothing.
        client.bgrewriteaof()
        while (
            client.info("persistence")["aof_rewrite_in_progress"] or client.info("persistence")["aof_rewrite_scheduled"]
        ):
            time.sleep(0.05)
        process.kill()
        process.wait(10)
        process = start()
        assert client.lrange("training", 0, -1) == [b"run 1", b"run 2"]
        assert any((settings.VAR_DIR / "redis").iterdir())
    finally:
        process.kill()
        process.wait(10)
