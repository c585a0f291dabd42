"""LocalBackend against real processes: small Python programs written into tmp_path."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

from jobs.backends import (
    LocalBackend,
    MetricDefinition,
    MetricDefinitionError,
    Outcome,
    StopCause,
    TrainingRunSpec,
)
from tests.jobs.factories import descendants_spawner

LOSS = MetricDefinition("train:loss", r"train:loss=(\S+)")


class Monitor:
    """Records every callback; stops when `stop_when()` says so."""

    def __init__(self, stop_when=lambda: False, on_first_metrics=lambda: None):
        self.batches = []
        self.heartbeats = 0
        self.stop_when = stop_when
        self.on_first_metrics = on_first_metrics

    def on_metrics(self, records):
        if not self.batches:
            self.on_first_metrics()
        self.batches.append(records)

    def should_stop(self):
        return self.stop_when()

    def heartbeat(self):
        self.heartbeats += 1

    def records(self):
        return [(r.metric_name, r.epoch, r.value) for batch in self.batches for r in batch]


def run(tmp_path, source, monitor=None, **spec_fields):
    program = tmp_path / "program.py"
    program.write_text(textwrap.dedent(source))
    spec_fields.setdefault("command", [sys.executable, str(program)])
    spec_fields.setdefault("hyperparameters", {})
    spec_fields.setdefault("metric_definitions", [LOSS])
    spec_fields.setdefault("poll_interval_seconds", 0.05)
    spec = TrainingRunSpec(job_name="job-1", job_dir=tmp_path / "job", **spec_fields)
    return LocalBackend().run(spec, monitor or Monitor())


def assert_gone(pid, within=3):
    """Killed processes take a moment to die; a zombie is dead, just not yet reaped."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.02)
    pytest.fail(f"process {pid} is still running")


def with_child(child_sigterm, then=""):
    """Source of a program that starts a child with the given SIGTERM handling (a
    worker process, as data loaders start), waits until the child is ready, writes
    both pids to pids.json and then runs `then`."""
    spawn = f"""
        import json, os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c",
            "import signal, time, pathlib;"
            "signal.signal(signal.SIGTERM, signal.{child_sigterm});"
            "pathlib.Path('child-ready').touch();"
            "time.sleep(60)"])
        while not os.path.exists("child-ready"):
            time.sleep(0.01)
        with open("pids.tmp", "w") as f:
            json.dump([os.getpid(), child.pid], f)
        os.rename("pids.tmp", "pids.json")
    """
    return textwrap.dedent(spawn) + textwrap.dedent(then)


def with_descendants(then=""):
    """`descendants_spawner` writing pids.json in the job directory, then `then`."""
    return descendants_spawner('"pids.json"') + textwrap.dedent(then)


def test_hyperparameters_arrive_as_file_argv_and_env(tmp_path):
    result = run(
        tmp_path,
        """
        import json, os, sys
        with open("input/config/hyperparameters.json") as f:
            from_file = json.load(f)
        seen = {
            "file": from_file,
            "argv": sys.argv[1:],
            "env": {k: v for k, v in os.environ.items() if k.startswith("SM_") or k in
                    ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                     "PYTHONUNBUFFERED", "EXTRA")},
            "cwd": os.getcwd(),
        }
        with open("output/seen.json", "w") as f:
            json.dump(seen, f)
        """,
        hyperparameters={"mini-batch.size": "32", "learning_rate": "0.1"},
        environment={"EXTRA": "yes", "OMP_NUM_THREADS": "8"},
    )

    assert result.outcome == Outcome.COMPLETED
    job = (tmp_path / "job").resolve()
    seen = json.loads((job / "output" / "seen.json").read_text())
    assert seen["file"] == {"learning_rate": "0.1", "mini-batch.size": "32"}
    assert seen["argv"] == ["--learning_rate", "0.1", "--mini-batch.size", "32"]
    assert seen["env"] == {
        "SM_HP_LEARNING_RATE": "0.1",
        "SM_HP_MINI_BATCH_SIZE": "32",
        "SM_HPS": json.dumps({"learning_rate": "0.1", "mini-batch.size": "32"}),
        "SM_MODEL_DIR": str(job / "model"),
        "SM_OUTPUT_DATA_DIR": str(job / "output"),
        "SM_INPUT_DIR": str(job / "input"),
        "SM_INPUT_CONFIG_DIR": str(job / "input" / "config"),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
        "EXTRA": "yes",
    }
    assert seen["cwd"] == str(job)
    assert (job / "input" / "data").is_dir() and (job / "model").is_dir()


WORKER_SECRETS = {
    "SECRET_KEY": "django-secret",
    "DATABASE_URL": "postgres://tuneboard:password@db/tuneboard",
    "REDIS_URL": "redis://:password@redis:6379/0",
    "CELERY_BROKER_URL": "amqp://user:password@rabbit//",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "AWS_SESSION_TOKEN": "aws-token",
    "DJANGO_SETTINGS_MODULE": "tuning_site.settings",
}


def test_the_program_gets_the_basics_and_no_setting_of_the_worker(tmp_path, monkeypatch):
    for name, value in {**WORKER_SECRETS, "LANG": "C.UTF-8", "LC_TIME": "C", "TZ": "UTC"}.items():
        monkeypatch.setenv(name, value)

    result = run(
        tmp_path,
        "import json, os; json.dump(dict(os.environ), open('output/env.json', 'w'))",
        environment={"WANDB_API_KEY": "asked-for"},
    )

    assert result.outcome == Outcome.COMPLETED
    env = json.loads((tmp_path / "job" / "output" / "env.json").read_text())
    assert not set(WORKER_SECRETS) & set(env)
    assert not any(value in WORKER_SECRETS.values() for value in env.values())
    assert env["WANDB_API_KEY"] == "asked-for"
    assert {name: env[name] for name in ("PATH", "HOME", "LANG", "LC_TIME", "TZ")} == {
        name: os.environ[name] for name in ("PATH", "HOME", "LANG", "LC_TIME", "TZ")
    }
    assert env["SM_MODEL_DIR"] == str((tmp_path / "job" / "model").resolve())


def test_log_gets_stdout_and_stderr_and_survives_garbage(tmp_path):
    result = run(
        tmp_path,
        """
        import sys
        print("to stdout")
        print("to stderr", file=sys.stderr)
        sys.stdout.flush()
        sys.stdout.buffer.write(b"\\xff\\xfe\\x00 binary\\n")
        sys.stdout.buffer.write(b"x" * 200_000)
        sys.stdout.buffer.write(b"\\ntrain:loss=0.5\\n")
        """,
    )

    assert result.outcome == Outcome.COMPLETED
    assert result.exit_code == 0
    log = result.log_path.read_text(encoding="utf-8")
    assert "to stdout\n" in log and "to stderr\n" in log
    assert "\ufffd\ufffd\ufffd binary\n" in log
    assert max(len(line) for line in log.splitlines()) == 64 * 1024
    assert "train:loss=0.5\n" in log
    assert "[tuneboard] training process exited with code 0" in log


def test_metrics_stream_while_the_process_runs(tmp_path):
    # The program cannot print epoch 2 until the monitor has seen epoch 1, so this
    # only completes if metrics are delivered while the process is still running.
    go = tmp_path / "go"
    monitor = Monitor(on_first_metrics=go.touch)

    result = run(
        tmp_path,
        f"""
        import os, sys, time
        print("epoch=1 train:loss=0.9")
        deadline = time.monotonic() + 10
        while not os.path.exists({str(go)!r}):
            if time.monotonic() > deadline:
                sys.exit("metrics were not streamed")
            time.sleep(0.01)
        print("epoch=2 train:loss=0.4")
        """,
        monitor,
    )

    assert result.outcome == Outcome.COMPLETED
    assert monitor.batches[0][0].epoch == 1
    assert monitor.records() == [("train:loss", 1, 0.9), ("train:loss", 2, 0.4)]


def test_a_flood_of_lines_arrives_in_capped_batches_and_in_order(tmp_path):
    # A slow first delivery lets the queue fill up, so later batches hit the cap.
    monitor = Monitor(on_first_metrics=lambda: time.sleep(0.3))

    run(tmp_path, "for i in range(5000): print(f'train:loss={i}')", monitor)

    assert [value for _, _, value in monitor.records()] == list(range(5000))
    assert max(len(batch) for batch in monitor.batches) == 1000
    assert len(monitor.batches) < 500


def test_non_zero_exit_fails_with_the_last_lines(tmp_path):
    result = run(
        tmp_path,
        """
        import sys
        for i in range(1, 16):
            print(f"line {i}")
        sys.exit(3)
        """,
    )

    assert result.outcome == Outcome.FAILED
    assert result.exit_code == 3
    assert result.failure_reason.startswith("AlgorithmError: exit code 3: line 6\n")
    assert result.failure_reason.endswith("line 15")
    assert "line 5\n" not in result.failure_reason


def test_nul_and_invalid_bytes_in_the_last_lines_are_replaced_everywhere(tmp_path):
    result = run(
        tmp_path,
        """
        import sys
        sys.stdout.buffer.write(b"before\\x00after \\xc3\\x28 latin-1 caf\\xe9\\n")
        sys.exit(1)
        """,
    )

    assert result.outcome == Outcome.FAILED
    assert result.exit_code == 1
    assert result.failure_reason == "AlgorithmError: exit code 1: before\ufffdafter \ufffd( latin-1 caf\ufffd"
    assert "before\ufffdafter" in result.log_path.read_text(encoding="utf-8")


def test_failure_reason_is_trimmed(tmp_path):
    result = run(tmp_path, "print('y' * 5000); raise SystemExit(1)")

    assert len(result.failure_reason) < 1100


def test_missing_executable_fails_without_raising(tmp_path):
    missing = tmp_path / "no-such-program"

    result = run(tmp_path, "", command=[str(missing), "--flag"])

    assert result.outcome == Outcome.FAILED
    assert result.exit_code is None
    assert str(missing) in result.failure_reason
    assert "No such file or directory" in result.failure_reason
    assert result.failure_reason in result.log_path.read_text()


def test_program_without_permission_fails_without_raising(tmp_path):
    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\necho hi\n")

    result = run(tmp_path, "", command=[str(script)])

    assert result.outcome == Outcome.FAILED
    assert "Permission denied" in result.failure_reason


def test_invalid_metric_definition_raises_before_starting(tmp_path):
    with pytest.raises(MetricDefinitionError):
        run(tmp_path, "", metric_definitions=[MetricDefinition("loss", "loss=.*")])

    assert not (tmp_path / "job").exists()


def test_should_stop_stops_the_whole_process_group(tmp_path):
    pids_file = tmp_path / "job" / "pids.json"
    # Both keep the default SIGTERM handling, so SIGTERM alone ends them.
    source = with_child(
        "SIG_DFL",
        then="""
        for epoch in range(1, 1000):
            print(f"train:loss={1 / epoch}", flush=True)
            time.sleep(0.02)
        """,
    )
    monitor = Monitor(stop_when=pids_file.exists)

    started = time.monotonic()
    result = run(tmp_path, source, monitor, stop_grace_seconds=5)

    assert time.monotonic() - started < 4, "the grace period should end when the group exits"
    assert result.outcome == Outcome.STOPPED
    assert result.stop_cause == StopCause.REQUESTED
    assert result.failure_reason == ""
    for pid in json.loads(pids_file.read_text()):
        assert_gone(pid)
    assert "[tuneboard] stopping training job: stop requested" in result.log_path.read_text()


def test_child_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path):
    pids_file = tmp_path / "job" / "pids.json"
    # The leader ignores SIGTERM too, so only SIGKILL can end the job.
    source = with_child(
        "SIG_IGN",
        then="""
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(60)
        """,
    )
    monitor = Monitor(stop_when=pids_file.exists)

    started = time.monotonic()
    result = run(tmp_path, source, monitor, stop_grace_seconds=0.5)
    elapsed = time.monotonic() - started

    assert result.outcome == Outcome.STOPPED
    assert result.exit_code == -9
    assert 0.5 <= elapsed < 5
    for pid in json.loads(pids_file.read_text()):
        assert_gone(pid)
    assert "still running after 0.5 s grace period: SIGKILL" in result.log_path.read_text()


def test_leftover_children_are_killed_when_the_program_exits(tmp_path):
    # The child holds the output pipe open; the run must not wait for it to finish.
    pids_file = tmp_path / "job" / "pids.json"

    started = time.monotonic()
    result = run(tmp_path, with_child("SIG_IGN"))

    assert result.outcome == Outcome.COMPLETED
    assert time.monotonic() - started < 5
    assert_gone(json.loads(pids_file.read_text())[1])


def test_a_regex_catastrophic_for_backtracking_neither_hangs_the_job_nor_its_stop(tmp_path):
    """The issue's case: `(a+)+$` on "a" * 34 + "b" took Python's re 2**34 steps a line."""
    printed = tmp_path / "job" / "printed"
    monitor = Monitor(stop_when=printed.exists)
    outcome = {}

    def supervise():
        outcome["result"] = run(
            tmp_path,
            f"""
            import pathlib, time
            for _ in range(10_000):
                print("a" * 34 + "b")
            print("a=1")
            pathlib.Path({str(printed)!r}).touch()
            time.sleep(600)
            """,
            monitor,
            metric_definitions=[MetricDefinition("a", r"(a+)+$"), MetricDefinition("b", r"a=(\d)")],
            heartbeat_interval_seconds=0.05,
        )

    supervisor = threading.Thread(target=supervise, daemon=True)
    supervisor.start()
    supervisor.join(timeout=60)

    assert not supervisor.is_alive(), "the run never ended: a metric regex hung the worker's slot"
    assert outcome["result"].outcome == Outcome.STOPPED
    assert monitor.records() == [("b", 1, 1.0)]
    assert monitor.heartbeats >= 1


def test_no_process_of_the_job_outlives_its_end(tmp_path):
    pids_file = tmp_path / "job" / "pids.json"

    result = run(tmp_path, with_descendants())

    assert result.outcome == Outcome.COMPLETED
    for pid in json.loads(pids_file.read_text()):
        assert_gone(pid)


def test_no_process_of_the_job_outlives_its_stop(tmp_path):
    pids_file = tmp_path / "job" / "pids.json"

    result = run(tmp_path, with_descendants("time.sleep(600)"), Monitor(stop_when=pids_file.exists))

    assert result.outcome == Outcome.STOPPED
    for pid in json.loads(pids_file.read_text()):
        assert_gone(pid)


def test_max_runtime_stops_the_job(tmp_path):
    started = time.monotonic()
    result = run(
        tmp_path,
        "import time; print('train:loss=1', flush=True); time.sleep(60)",
        max_runtime_seconds=0.3,
    )

    assert result.outcome == Outcome.STOPPED
    assert result.stop_cause == StopCause.MAX_RUNTIME
    assert time.monotonic() - started < 5
    assert "max runtime of 0.3 s reached" in result.log_path.read_text()


def test_heartbeat_is_called_while_running(tmp_path):
    monitor = Monitor()

    started = time.monotonic()
    run(tmp_path, "import time; time.sleep(0.6)", monitor, heartbeat_interval_seconds=0.1)
    elapsed = time.monotonic() - started

    # Every interval, not every poll (which would be twice as often).
    assert 3 <= monitor.heartbeats <= elapsed / 0.1 + 1


def test_monitor_error_kills_the_process_and_propagates(tmp_path):
    pids_file = tmp_path / "job" / "pids.json"

    def broken_stop_check():
        if pids_file.exists():
            raise RuntimeError("database is down")
        return False

    with pytest.raises(RuntimeError, match="database is down"):
        run(tmp_path, with_child("SIG_DFL", then="time.sleep(60)"), Monitor(broken_stop_check))

    for pid in json.loads(pids_file.read_text()):
        assert_gone(pid)


SUPERVISOR = """
    import sys
    from pathlib import Path
    from jobs.backends import LocalBackend, TrainingRunSpec

    class Quiet:
        def on_metrics(self, records): pass
        def should_stop(self): return False
        def heartbeat(self): pass

    job_dir, program = Path(sys.argv[1]), sys.argv[2]
    spec = TrainingRunSpec(job_name="orphan", command=[sys.executable, program], hyperparameters={},
                           metric_definitions=[], job_dir=job_dir)
    LocalBackend().run(spec, Quiet())
"""


def test_program_dies_with_its_supervisor(tmp_path):
    """A worker killed with SIGKILL takes its silent training program with it (no orphan)."""
    pid_file = tmp_path / "pid"
    program = tmp_path / "silent.py"
    program.write_text(f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\n")
    supervisor = tmp_path / "supervisor.py"
    supervisor.write_text(textwrap.dedent(SUPERVISOR))
    process = subprocess.Popen(
        [sys.executable, str(supervisor), str(tmp_path / "job"), str(program)],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
    )
    deadline = time.monotonic() + 20
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "the program never started"
        time.sleep(0.05)
    program_pid = int(pid_file.read_text())
    process.send_signal(signal.SIGKILL)
    process.wait(5)
    deadline = time.monotonic() + 5
    while psutil.pid_exists(program_pid) and psutil.Process(program_pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the training program outlived its supervisor"
        time.sleep(0.05)


def test_no_process_of_the_job_outlives_its_supervisor_killed(tmp_path):
    """kill -9 of the worker: the program, its helper and its setsid() daemon die with it."""
    program = tmp_path / "spawner.py"
    program.write_text(with_descendants("time.sleep(600)"))
    supervisor = tmp_path / "supervisor.py"
    supervisor.write_text(textwrap.dedent(SUPERVISOR))
    process = subprocess.Popen(
        [sys.executable, str(supervisor), str(tmp_path / "job"), str(program)],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
    )
    pids_file = tmp_path / "job" / "pids.json"
    deadline = time.monotonic() + 30
    while not pids_file.exists():
        assert time.monotonic() < deadline, "the program never started its descendants"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(5)

    for pid in json.loads(pids_file.read_text()):
        assert_gone(pid, within=10)
