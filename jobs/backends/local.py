"""Run a training job as a local subprocess, the way a SageMaker container runs it.

The job directory mirrors SageMaker's /opt/ml so that training code written for
SageMaker runs unchanged; the program's output is streamed to a log file and parsed
for metrics while it runs, which is what makes live curves and early stopping work.
"""

from __future__ import annotations

import errno
import json
import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from .base import (
    Outcome,
    RunMonitor,
    RunResult,
    StopCause,
    TrainingBackend,
    TrainingRunSpec,
    infrastructure_failure,
)
from .job_init import END_SIGNAL
from .metrics import MetricParser, MetricRecord
from .text import clean_program_text

# A program that prints binary data or a progress bar without newlines must not make
# us buffer without bound: longer "lines" are cut into pieces of this size.
MAX_LINE_BYTES = 64 * 1024
# Bounded so that a program printing faster than we can parse is slowed down by the
# pipe (backpressure) instead of growing our memory.
_QUEUE_LINES = 1000
FAILURE_TAIL_LINES = 10
FAILURE_TAIL_CHARS = 1000
# Once the program has exited, its output is normally complete within milliseconds;
# this only bounds the wait when a daemon it started left the session holding the pipe.
_OUTPUT_DRAIN_SECONDS = 5.0
_NOTE_PREFIX = "[tuneboard]"
# Ending a process tree takes job_init milliseconds; this only bounds the wait on one
# that the program stopped (SIGSTOP) or otherwise kept from its work.
_END_PROCESS_TREE_SECONDS = 5.0
# A write to the job directory failing with these is the worker's disk being full.
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})

# One thread per training process, so N parallel jobs fit on N cores instead of each
# numpy/BLAS library spawning a thread per core and all of them thrashing.
_SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}


LOG_NAME = "training.log"


@dataclass(frozen=True)
class JobPaths:
    root: Path
    input: Path
    config: Path
    data: Path
    model: Path
    output: Path
    log: Path


def prepare_job_dir(spec: TrainingRunSpec) -> JobPaths:
    """Create SageMaker's /opt/ml layout under job_dir and write the hyperparameters.

    The log lives at the top, beside `output/`, so it never ends up among the
    artifacts the algorithm writes.
    """
    root = spec.job_dir.resolve()
    paths = JobPaths(
        root=root,
        input=root / "input",
        config=root / "input" / "config",
        data=root / "input" / "data",
        model=root / "model",
        output=root / "output",
        log=root / LOG_NAME,
    )
    for directory in (paths.config, paths.data, paths.model, paths.output):
        directory.mkdir(parents=True, exist_ok=True)
    (paths.config / "hyperparameters.json").write_text(
        json.dumps(dict(spec.hyperparameters), indent=2, sort_keys=True) + "\n",
        encoding="utf-8",
    )
    return paths


def build_argv(spec: TrainingRunSpec) -> list[str]:
    """The command followed by `--name value` for each hyperparameter, sorted by name
    so the same hyperparameters always give the same command line."""
    argv = list(spec.command)
    for name in sorted(spec.hyperparameters):
        argv += [f"--{name}", spec.hyperparameters[name]]
    return argv


def hyperparameter_env_name(name: str) -> str:
    return "SM_HP_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


# What a program inherits from the worker's environment without asking: what finding
# programs and libraries, the locale, the time zone and GPUs need. The rest of it
# (SECRET_KEY, DATABASE_URL, broker URLs, cloud credentials...) is the worker's,
# and reaches a program only if its algorithm names it in environment_passthrough.
INHERITED_ENVIRONMENT = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "TERM",
        "TMPDIR",
        "LANG",
        "LANGUAGE",
        "TZ",
        "LD_LIBRARY_PATH",
        "CUDA_VISIBLE_DEVICES",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "PYTHONHASHSEED",
        "PYTHONIOENCODING",
        "PYTHONUTF8",
    }
)


def inherited_environment() -> dict[str, str]:
    """The worker's variables in INHERITED_ENVIRONMENT, and its locale (LC_*)."""
    return {
        name: value for name, value in os.environ.items() if name in INHERITED_ENVIRONMENT or name.startswith("LC_")
    }


def build_env(spec: TrainingRunSpec, paths: JobPaths) -> dict[str, str]:
    """The inherited basics, then the spec's extras, then the SageMaker variables.

    Ours come last so a job can never run with directories that point elsewhere or
    with more threads than the capacity planning assumes.
    """
    env = {**inherited_environment(), **spec.environment}
    for name, value in spec.hyperparameters.items():
        env[hyperparameter_env_name(name)] = value
    env.update(
        SM_HPS=json.dumps(dict(spec.hyperparameters), sort_keys=True),
        SM_MODEL_DIR=str(paths.model),
        SM_OUTPUT_DATA_DIR=str(paths.output),
        SM_INPUT_DIR=str(paths.input),
        SM_INPUT_CONFIG_DIR=str(paths.config),
        PYTHONUNBUFFERED="1",  # metric lines must arrive when printed, not at exit
        **_SINGLE_THREAD_ENV,
    )
    return env


_JOB_INIT = Path(__file__).with_name("job_init.py")


def start_job_process(argv: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """Start `argv` under job_init, in a session of its own; OSError if it cannot run.

    The session makes a stop reach the program's whole process group; job_init makes
    the job's end, or the worker's death, reach every process the program started.
    """
    status_read, status_write = os.pipe()
    try:
        process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(_JOB_INIT), str(status_write), str(os.getpid()), "--", *argv],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            pass_fds=(status_write,),
        )
    except BaseException:
        os.close(status_read)
        raise
    finally:
        os.close(status_write)
    with open(status_read, "rb") as status:
        failure = status.read()  # empty once the program has started
    if failure:
        process.stdout.close()
        process.wait()
        errno, message = failure.decode().split("\n", 1)
        raise OSError(int(errno), message, argv[0])
    return process


class LocalBackend(TrainingBackend):
    """Runs the algorithm's argv without a shell, under job_init, in its own process group.

    The process group is what makes stopping reliable: SIGTERM goes to the whole
    group, so worker processes the program forked can save and stop too. job_init
    then ends whatever is left of the job's process tree, setsid() children included.
    """

    def run(self, spec: TrainingRunSpec, monitor: RunMonitor) -> RunResult:
        # Built first: a bad metric definition must fail before any process starts.
        parser = MetricParser(spec.metric_definitions)
        try:
            return self._run(spec, monitor, parser)
        except OSError as exc:
            if exc.errno not in _DISK_FULL:
                raise
            # The worker's disk, not the program: by then job_init has ended the job's processes.
            reason = infrastructure_failure(f"{exc.strerror} while writing the job directory {spec.job_dir}")
            return RunResult(Outcome.FAILED, None, reason)

    def _run(self, spec: TrainingRunSpec, monitor: RunMonitor, parser: MetricParser) -> RunResult:
        paths = prepare_job_dir(spec)
        argv = build_argv(spec)
        # Appending keeps an earlier attempt's log when a job is retried on the same
        # directory, which is exactly when someone needs to read it.
        with open(paths.log, "a", encoding="utf-8") as log:
            try:
                process = start_job_process(argv, cwd=paths.root, env=build_env(spec, paths))
            except (OSError, ValueError) as exc:
                # ValueError: a NUL byte in an argument or variable, i.e. in a value.
                reason = f"ClientError: cannot run {shlex.join(spec.command)}: {exc}"
                log.write(f"{_NOTE_PREFIX} {reason}\n")
                return RunResult(Outcome.FAILED, None, reason, log_path=paths.log)
            result = _Supervisor(spec, monitor, parser, process, log).supervise()
        return replace(result, log_path=paths.log)


def _read_lines(stream: IO[bytes], lines: queue.Queue) -> None:
    """Reader thread: pipe -> queue of (time read, text), then None at end of output.

    Timestamps are taken here, not when the main loop gets round to a line, so a
    backlog does not shift metric times. Lines are cleaned here too, so the log, the
    metric parser and the failure reason all see the same text, fit for the database.
    """
    try:
        with stream:
            while chunk := stream.readline(MAX_LINE_BYTES):
                text = clean_program_text(chunk).rstrip("\r\n")
                lines.put((datetime.now(UTC), text))
    finally:
        lines.put(None)


class _Supervisor:
    """Watches one started process: streams its output, polls the monitor, stops it."""

    def __init__(
        self,
        spec: TrainingRunSpec,
        monitor: RunMonitor,
        parser: MetricParser,
        process: subprocess.Popen[bytes],
        log: IO[str],
    ):
        self._spec = spec
        self._monitor = monitor
        self._process = process
        self._log = log
        self._parser = parser
        self._lines: queue.Queue[tuple[datetime, str] | None] = queue.Queue(_QUEUE_LINES)
        self._output_done = False
        self._tail: deque[str] = deque(maxlen=FAILURE_TAIL_LINES)
        self._next_heartbeat = time.monotonic() + spec.heartbeat_interval_seconds
        self._reader = threading.Thread(
            target=_read_lines,
            args=(process.stdout, self._lines),
            name=f"log-reader-{spec.job_name}",
            daemon=True,
        )

    def supervise(self) -> RunResult:
        self._reader.start()
        try:
            stop_cause = self._wait_for_exit_or_stop()
            if stop_cause is not None:
                self._stop(stop_cause)
        finally:
            # Whatever happened (normal exit, stop, or the monitor raising), nothing of
            # the job may outlive the run: SageMaker tears the whole container down
            # when the training process ends, and so do we.
            self._end_process_tree()
        self._pump_until_output_ends()
        self._note(f"training process exited with code {self._process.returncode}")
        return self._result(stop_cause)

    def _wait_for_exit_or_stop(self) -> StopCause | None:
        started = time.monotonic()
        max_runtime = self._spec.max_runtime_seconds
        while True:
            self._pump(self._spec.poll_interval_seconds)
            if self._process.poll() is not None:
                return None
            if self._monitor.should_stop():
                return StopCause.REQUESTED
            if max_runtime is not None and time.monotonic() - started >= max_runtime:
                return StopCause.MAX_RUNTIME

    def _stop(self, cause: StopCause) -> None:
        """SIGTERM, then SIGKILL once the grace period is over.

        Like SageMaker, the grace period ends early when the main process exits: the
        program has had its chance to save, and the final SIGKILL in supervise()
        removes any worker that ignored SIGTERM.
        """
        why = {
            StopCause.REQUESTED: "stop requested",
            StopCause.MAX_RUNTIME: f"max runtime of {self._spec.max_runtime_seconds} s reached",
        }[cause]
        grace = self._spec.stop_grace_seconds
        self._note(f"stopping training job: {why}; SIGTERM, SIGKILL after {grace} s")
        self._signal_group(signal.SIGTERM)
        grace_ends = time.monotonic() + grace
        while self._process.poll() is None:
            remaining = grace_ends - time.monotonic()
            if remaining <= 0:
                self._note(f"still running after {grace} s grace period: SIGKILL")
                return
            self._pump(min(remaining, self._spec.poll_interval_seconds))

    def _end_process_tree(self) -> None:
        """Have job_init SIGKILL every process of the job, and wait for it to exit.

        Once the program has exited, job_init has done so already. The group's SIGKILL
        after it is for a job_init that could not do its work (killed or stopped by
        the program, say): the program's process group at least dies.
        """
        if self._process.poll() is None:
            self._process.send_signal(END_SIGNAL)
            try:
                self._process.wait(_END_PROCESS_TREE_SECONDS)
            except subprocess.TimeoutExpired:
                self._note("job init did not end the job in time: SIGKILL to its process group")
        self._signal_group(signal.SIGKILL)
        self._process.wait()

    def _signal_group(self, signum: int) -> None:
        # Safe after the leader has been reaped: the kernel does not reuse a pid that
        # is still a live group's id, and once the group is empty only a wrap-around
        # of all pids could hand it to a new group.
        try:
            os.killpg(self._process.pid, signum)
        except ProcessLookupError:
            pass  # the whole group has already gone

    def _pump(self, timeout: float) -> None:
        """Wait up to `timeout` for output, then log, parse and report what came."""
        lines, records = self._take_lines(timeout)
        if lines:
            self._tail.extend(lines)
            self._log.write("".join(f"{text}\n" for text in lines))
            self._log.flush()
            if records:
                self._monitor.on_metrics(records)
        if time.monotonic() >= self._next_heartbeat:
            self._monitor.heartbeat()
            self._next_heartbeat = time.monotonic() + self._spec.heartbeat_interval_seconds

    def _take_lines(self, timeout: float) -> tuple[list[str], list[MetricRecord]]:
        """Block until a line arrives (or timeout), then take and parse what else is queued.

        Once output has ended the wait is on the process instead, so its exit is
        noticed at once rather than at the next poll.
        """
        if self._output_done:
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
            return [], []
        try:
            item = self._lines.get(timeout=timeout)
        except queue.Empty:
            return [], []
        lines: list[str] = []
        records: list[MetricRecord] = []
        # At most one queue's worth, parsed within one poll interval, per batch: heartbeats
        # and stop checks still run while a program floods its output, however long
        # its lines and however many metric definitions there are to match.
        parse_until = time.monotonic() + self._spec.poll_interval_seconds
        while True:
            if item is None:
                self._output_done = True
                break
            read_at, text = item
            lines.append(text)
            records += self._parser.parse_line(text, read_at)
            if len(lines) == _QUEUE_LINES or time.monotonic() >= parse_until:
                break
            try:
                item = self._lines.get_nowait()
            except queue.Empty:
                break
        return lines, records

    def _pump_until_output_ends(self) -> None:
        """Deliver the last lines, so the final epoch printed just before exit counts."""
        gives_up_at = time.monotonic() + _OUTPUT_DRAIN_SECONDS
        while not self._output_done:
            remaining = gives_up_at - time.monotonic()
            if remaining <= 0:
                self._note("output pipe still open after the process exited; not waiting")
                return
            self._pump(remaining)

    def _note(self, message: str) -> None:
        """A line of our own in the log, marked so nobody mistakes it for the program's."""
        self._log.write(f"{_NOTE_PREFIX} {message}\n")
        self._log.flush()

    def _result(self, stop_cause: StopCause | None) -> RunResult:
        code = self._process.returncode
        if stop_cause is not None:
            return RunResult(Outcome.STOPPED, code, stop_cause=stop_cause)
        if code == 0:
            return RunResult(Outcome.COMPLETED, code)
        return RunResult(Outcome.FAILED, code, failure_reason=self._failure_reason(code))

    def _failure_reason(self, code: int) -> str:
        status = _describe_exit(code)
        tail = "\n".join(self._tail)
        if len(tail) > FAILURE_TAIL_CHARS:
            tail = "…" + tail[-(FAILURE_TAIL_CHARS - 1) :]
        return f"AlgorithmError: {status}: {tail}" if tail else f"AlgorithmError: {status}"


def _describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"exit code {code} ({signal.Signals(-code).name})"
        except ValueError:
            pass  # a signal without a name, e.g. a real-time one
    return f"exit code {code}"
