"""Runs one claimed training job on its algorithm's backend, on a training worker.

This is the glue between a backend, which knows processes and knows nothing
of Django, and the service layer, which records what the backend reports.
"""

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import InterfaceError, OperationalError, connection

from jobs import aws, selectors, services
from jobs.backends import s3
from jobs.backends.base import Outcome, RunMonitor, RunResult, TrainingRunSpec, infrastructure_failure
from jobs.backends.local import LOG_NAME, LocalBackend
from jobs.backends.metrics import MetricRecord
from jobs.backends.sagemaker import SageMakerBackend, SageMakerTrainingConfig, remote_job_name
from jobs.config import algorithm_metric_definitions, validate_algorithm
from jobs.job_directories import check_free_space, expire_job_directories_now_and_then, job_directory
from jobs.models import Backend, TrainingJob, TrainingJobStatus, TuningJob

logger = logging.getLogger(__name__)

# SageMaker starts a training container as `docker run <image> train`; that is the
# command of a job whose program runs there.
SAGEMAKER_COMMAND = ("train",)


# What the database raises when it is away (stopped, restarting, unreachable), as
# opposed to a request of ours being wrong: worth asking again later.
DATABASE_AWAY = (OperationalError, InterfaceError)


class DatabaseAway(Exception):
    """The database did not answer; the call was not made (or not committed)."""


class DatabaseOutageBackoff:
    """When to ask a database that did not answer again: 0.25 s, doubling to at most 1 s.

    A stopped server refuses a connection at once, so asking often costs little
    (an unreachable one is bounded by DATABASE_CONNECT_TIMEOUT), and the short
    ceiling means a job's heartbeat is written within a second of the
    database's return, well inside the reaper's heartbeat timeout.
    """

    first_delay = 0.25
    max_delay = 1.0

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._delay = 0.0
        self._retry_at = 0.0

    @property
    def waiting(self) -> bool:
        return self._clock() < self._retry_at

    def call(self, function: Callable, **kwargs):
        """`function(**kwargs)`, or DatabaseAway at once while backing off, or when it fails for want of a database."""
        if self.waiting:
            raise DatabaseAway
        try:
            result = function(**kwargs)
        except DATABASE_AWAY as exc:
            # The connection is broken or half-open: drop it, so the next call connects anew.
            _close_connection()
            self._delay = min(max(self._delay * 2, self.first_delay), self.max_delay)
            self._retry_at = self._clock() + self._delay
            if self._delay == self.first_delay:
                logger.warning("database away (%s): the training job runs on, reports wait", exc)
            raise DatabaseAway from exc
        if self._delay:
            logger.warning("database back: reporting again")
        self._delay = 0.0
        return result


def _close_connection() -> None:
    try:
        connection.close()
    except DATABASE_AWAY:
        pass  # closing a connection to a server that has gone can fail too; it is closed either way


# A shipped piece of a log is at most this long (one row, one INSERT); a running job ships
# at most LOG_SHIP_CHUNKS of them per LOG_SHIP_INTERVAL, so a flood cannot hold up its stop checks.
LOG_CHUNK_BYTES = 64 * 1024
LOG_SHIP_CHUNKS = 16
LOG_SHIP_INTERVAL = 1.0


class LogShipper:
    """Ships what a run adds to its log file into the database (jobs.services.logs).

    The backend writes the log on the worker's disk; the pages read the
    database's copy, from any host. While the job runs only whole lines go
    (a line's end may still be on its way); at the end, everything. Lines an
    earlier attempt left in the file (a retried job run again on this worker)
    were that attempt's: the new ones go after the stored log's end.
    """

    def __init__(self, training_job_id: int, path: Path, clock: Callable[[], float] = time.monotonic):
        self._training_job_id = training_job_id
        self._path = path
        self._clock = clock
        self._file_offset = path.stat().st_size if path.is_file() else 0
        self._log_offset: int | None = None
        self._next_ship = 0.0

    def ship(self, backoff: DatabaseOutageBackoff, *, final: bool = False) -> bool:
        """Send what the file has gained since the last call; True once nothing is left to send.

        Between finals, at most every LOG_SHIP_INTERVAL; what the database
        does not take is sent again on a later call, from the same byte.
        """
        if not final:
            if self._clock() < self._next_ship:
                return False
            self._next_ship = self._clock() + LOG_SHIP_INTERVAL
        try:
            if self._log_offset is None:
                self._log_offset = backoff.call(services.training_job_log_end, training_job_id=self._training_job_id)
            shipped = 0
            while final or shipped < LOG_SHIP_CHUNKS:
                piece = self._next_piece(final)
                if not piece:
                    return True
                self._log_offset += backoff.call(
                    services.training_job_append_log,
                    training_job_id=self._training_job_id,
                    start=self._log_offset,
                    text=piece.decode("utf-8", errors="replace"),
                )
                self._file_offset += len(piece)
                shipped += 1
        except DatabaseAway:
            return False
        return False

    def _next_piece(self, final: bool) -> bytes:
        try:
            with open(self._path, "rb") as log:
                # Up to the file's length as it is now: nothing endless (a device where the
                # log should be) can keep the last ship going.
                size = os.fstat(log.fileno()).st_size
                log.seek(self._file_offset)
                data = log.read(min(LOG_CHUNK_BYTES, max(0, size - self._file_offset)))
        except OSError:
            return b""
        if final and self._file_offset + len(data) >= size:
            return data  # the very end, whatever it is
        if b"\n" in data:
            return data[: data.rfind(b"\n") + 1]
        if len(data) == LOG_CHUNK_BYTES:
            # A line longer than a chunk: cut it between characters, not inside one.
            return data[: len(data.decode("utf-8", errors="ignore").encode())]
        return b""  # a line whose end is still to come


class ServiceRunMonitor:
    """The backend's view of the database: it reports through the service layer.

    A training job must outlive an outage of the database (a restart, a
    failover, a cut network), as a SageMaker job outlives its console. So no
    call here raises for one: samples wait in memory, in order, until the
    database takes them; a heartbeat that cannot be written is skipped (the
    reaper does not count an outage against a job, see
    jobs.services.reaper.training_jobs_reap_stale); a stop request that cannot
    be read is taken as none (fail open: the job goes on rather than dies).
    """

    def __init__(self, training_job_id: int, log: LogShipper | None = None):
        self.training_job_id = training_job_id
        self._backoff = DatabaseOutageBackoff()
        self._log = log
        self._unsent: list[MetricRecord] = []

    def on_metrics(self, records: list[MetricRecord]) -> None:
        self._unsent += records
        self.send_metrics()

    def send_metrics(self) -> bool:
        """Store the samples waiting for the database; True once none is left."""
        if not self._unsent:
            return True
        try:
            self._backoff.call(
                services.training_job_record_metrics, training_job_id=self.training_job_id, records=self._unsent
            )
        except DatabaseAway:
            return False
        self._unsent = []
        return True

    def should_stop(self) -> bool:
        self.send_metrics()
        if self._log:
            self._log.ship(self._backoff)
        try:
            status = self._backoff.call(selectors.training_job_status, training_job_id=self.training_job_id)
        except DatabaseAway:
            return False
        return status == TrainingJobStatus.STOPPING

    def heartbeat(self) -> None:
        # The heartbeat itself is HeartbeatThread's; the backend's call is a moment to send what waits.
        self.send_metrics()

    def on_secondary_status(self, secondary_status: str) -> None:
        try:
            self._backoff.call(
                services.training_job_record_secondary_status,
                training_job_id=self.training_job_id,
                secondary_status=secondary_status,
            )
        except DatabaseAway:
            pass  # the next change, or the ending, carries it

    def wait_for_database(self, function: Callable, **kwargs):
        """Send what is unsent (samples, the log), then `function(**kwargs)`, waiting out an outage of up to
        TUNEBOARD_DATABASE_OUTAGE_TOLERANCE seconds; past it, the outage's error is raised."""
        tolerance = settings.TUNEBOARD_DATABASE_OUTAGE_TOLERANCE
        gives_up_at = time.monotonic() + tolerance
        while True:
            try:
                if self.send_metrics() and (self._log is None or self._log.ship(self._backoff, final=True)):
                    return self._backoff.call(function, **kwargs)
            except DatabaseAway:
                pass
            if time.monotonic() >= gives_up_at:
                raise DatabaseAway(f"no database for {tolerance} s: training job {self.training_job_id} not recorded")
            time.sleep(self._backoff.first_delay)


class HeartbeatThread(threading.Thread):
    """Writes a running job's heartbeat every TUNEBOARD_HEARTBEAT_INTERVAL, from a thread of its own.

    The reaper takes a job without a heartbeat for TUNEBOARD_HEARTBEAT_TIMEOUT
    (8 s) for one whose worker is gone, and fails it so that it is retried at
    once. The run loop cannot promise a heartbeat that often: an S3 download or
    a SageMaker call being retried may hold it longer. This thread only has to
    show that the worker process lives, which is all the reaper asks. Its
    database connection is its own (Django's are per thread), closed at the end.
    """

    def __init__(self, training_job_id: int, interval: float):
        super().__init__(name=f"heartbeat-{training_job_id}", daemon=True)
        self._training_job_id = training_job_id
        self._interval = interval
        self._ended = threading.Event()
        self._backoff = DatabaseOutageBackoff()

    def run(self) -> None:
        try:
            while not self._ended.wait(self._interval):
                try:
                    self._backoff.call(services.training_job_heartbeat, training_job_id=self._training_job_id)
                except DatabaseAway:
                    pass  # nor can the reaper read heartbeats meanwhile (it counts no outage against a job)
        finally:
            _close_connection()

    def end(self) -> None:
        self._ended.set()
        self.join()


def execute_training_job(training_job_id: int, worker_node: str) -> TrainingJob | None:
    """Claim, run and finish one training job; None if another delivery already has it.

    A training job already started is run again only when the reaper offered it
    for re-attach (a SageMaker job whose watcher was lost): then this worker
    watches the existing SageMaker job instead of creating one.

    `worker_node` is the Celery node name, so that a worker shutting down can
    find the jobs it runs (see services.training_jobs_interrupt).

    A local job is not claimed on a worker whose disk is nearly full: that raises
    jobs.job_directories.WorkerDiskFull and leaves the job to another worker.
    """
    training_job = TrainingJob.objects.select_related("tuning_job__algorithm").get(pk=training_job_id)
    job_dir = job_directory(training_job)
    if training_job.tuning_job.algorithm.backend == Backend.LOCAL:
        expire_job_directories_now_and_then()
        check_free_space()
    worker = f"{worker_node}:{os.getpid()}"
    training_job = services.training_job_start(
        training_job_id=training_job_id, worker=worker, log_path=str(job_dir / LOG_NAME)
    )
    reattaching = False
    if training_job is None:
        # Not new: perhaps a SageMaker job the reaper offered for re-attach after its watcher was lost.
        training_job = services.training_job_reattach(training_job_id=training_job_id, worker=worker)
        if training_job is None:
            return None
        reattaching = True
    monitor = ServiceRunMonitor(training_job.id, LogShipper(training_job.id, job_dir / LOG_NAME))
    heartbeat = HeartbeatThread(training_job.id, settings.TUNEBOARD_HEARTBEAT_INTERVAL)
    heartbeat.start()
    try:
        try:
            result = _run(training_job, job_dir, reattaching, monitor)
        except Exception as exc:
            # Whatever went wrong here must end the job, or it would hang until
            # the reaper gives up on its heartbeat.
            logger.exception("training job %s could not run", training_job.name)
            result = RunResult(outcome=Outcome.FAILED, exit_code=None, failure_reason=f"InternalError: {exc}")
        # Every sample first, so the ending sees the final objective value; both outlast an outage.
        return monitor.wait_for_database(services.training_job_finish, training_job_id=training_job_id, result=result)
    finally:
        heartbeat.end()


def _run(training_job: TrainingJob, job_dir, reattaching: bool, monitor: ServiceRunMonitor) -> RunResult:
    tuning_job = training_job.tuning_job
    algorithm = tuning_job.algorithm
    spec = TrainingRunSpec(
        job_name=training_job.name,
        command=list(algorithm.command) if algorithm.backend == Backend.LOCAL else list(SAGEMAKER_COMMAND),
        hyperparameters=dict(training_job.hyperparameters),
        metric_definitions=algorithm_metric_definitions(algorithm),
        job_dir=job_dir,
        max_runtime_seconds=tuning_job.training_max_runtime_seconds,
        stop_grace_seconds=settings.TUNEBOARD_STOP_GRACE_SECONDS,
        poll_interval_seconds=settings.TUNEBOARD_STOP_POLL_INTERVAL,
        heartbeat_interval_seconds=settings.TUNEBOARD_HEARTBEAT_INTERVAL,
        environment=passed_through_environment(algorithm),
    )
    if reattaching:
        return _reattach_on_sagemaker(training_job, spec, monitor)
    return BACKENDS[algorithm.backend](training_job, spec, monitor)


def passed_through_environment(algorithm) -> dict[str, str]:
    """The worker's variables the algorithm asked for by name; one the worker lacks is left unset."""
    return {name: os.environ[name] for name in algorithm.environment_passthrough if name in os.environ}


def _run_locally(training_job: TrainingJob, spec: TrainingRunSpec, monitor: RunMonitor) -> RunResult:
    """SageMaker's container contract, here: s3:// channels in input/data/<channel>/ before
    the program starts, model/ uploaded as model.tar.gz when it has ended."""
    tuning_job = training_job.tuning_job
    channels = input_channels(tuning_job)
    output_path = s3_output_path(tuning_job)
    client = aws.client("s3") if channels or output_path else None
    for channel, uri in channels.items():
        try:
            s3.download_channel(client, uri, spec.job_dir / "input" / "data" / channel, on_object=monitor.heartbeat)
        except s3.S3Error as exc:
            return RunResult(Outcome.FAILED, None, f"ClientError: input channel {channel!r}: {exc}")
    result = LocalBackend().run(spec, monitor)
    if result.outcome == Outcome.FAILED:
        return result
    if not output_path:
        return _keep_model_locally(training_job, spec, result)
    uri = s3.model_artifact_uri(output_path, tuning_job.name, training_job.name)
    try:
        s3.upload_model(client, spec.job_dir / "model", uri)
    except s3.S3Error as exc:
        # As on SageMaker: a job whose model could not be saved has failed.
        return replace(result, outcome=Outcome.FAILED, stop_cause=None, failure_reason=f"ClientError: {exc}")
    return replace(result, model_artifact_uri=uri)


def _keep_model_locally(training_job: TrainingJob, spec: TrainingRunSpec, result: RunResult) -> RunResult:
    """model.tar.gz under TUNEBOARD_ARTIFACTS_DIR, where no S3 output path is set: the layout SageMaker
    uses in S3, <tuning job>/<training job>/output/model.tar.gz, as a file:// URI the page links."""
    archive = (
        Path(settings.TUNEBOARD_ARTIFACTS_DIR)
        / training_job.tuning_job.name
        / training_job.name
        / "output"
        / s3.MODEL_ARCHIVE_NAME
    )
    try:
        s3.pack_model(spec.job_dir / "model", archive)
    except OSError as exc:
        reason = infrastructure_failure(f"cannot keep the model in {archive}: {exc.strerror or exc}")
        return replace(result, outcome=Outcome.FAILED, stop_cause=None, failure_reason=reason)
    return replace(result, model_artifact_uri=archive.resolve().as_uri())


def _run_on_sagemaker(training_job: TrainingJob, spec: TrainingRunSpec, monitor: RunMonitor) -> RunResult:
    tuning_job = training_job.tuning_job
    algorithm = tuning_job.algorithm
    try:
        # Registered algorithms were checked; this catches rows written around the
        # service layer before SageMaker sees them, with the same messages.
        validate_algorithm(algorithm)
    except ValidationError as exc:
        problems = "; ".join(f"{name}: {' '.join(errors)}" for name, errors in exc.message_dict.items())
        return RunResult(Outcome.FAILED, None, f"ValidationException: algorithm {algorithm.name}: {problems}")
    remote_name = remote_job_name(training_job.name, secrets.token_hex(4))
    services.training_job_set_remote_name(training_job_id=training_job.id, remote_name=remote_name)
    return _sagemaker_backend(training_job, remote_name).run(spec, monitor)


def _reattach_on_sagemaker(training_job: TrainingJob, spec: TrainingRunSpec, monitor: RunMonitor) -> RunResult:
    """Take over the watch of a SageMaker job whose worker was lost, from the last epoch stored."""
    return _sagemaker_backend(training_job, training_job.remote_name).reattach(
        spec, monitor, selectors.training_job_recorded_epochs(training_job=training_job)
    )


def _sagemaker_backend(training_job: TrainingJob, remote_name: str) -> SageMakerBackend:
    tuning_job = training_job.tuning_job
    algorithm = tuning_job.algorithm
    sagemaker_config = algorithm.sagemaker_config
    config = SageMakerTrainingConfig(
        remote_name=remote_name,
        role_arn=sagemaker_config["RoleArn"],
        # SageMaker adds <training job>/output/model.tar.gz: the layout local jobs get too.
        output_path=f"{s3_output_path(tuning_job).rstrip('/')}/{tuning_job.name}",
        instance_type=sagemaker_config["InstanceType"],
        instance_count=sagemaker_config.get("InstanceCount", 1),
        volume_size_gb=sagemaker_config.get("VolumeSizeInGB", 30),
        training_image=algorithm.image_uri or "",
        algorithm_name=sagemaker_config.get("AlgorithmName", ""),
        input_channels=input_channels(tuning_job),
    )
    return SageMakerBackend(
        config, sagemaker=aws.client("sagemaker"), cloudwatch=aws.client("cloudwatch"), s3=aws.client("s3")
    )


def input_channels(tuning_job: TuningJob) -> dict[str, str]:
    """InputDataConfig: the tuning job's own channels when it was given some, else its algorithm's."""
    return dict(tuning_job.input_channels or tuning_job.algorithm.input_channels)


def s3_output_path(tuning_job: TuningJob) -> str:
    """OutputDataConfig.S3OutputPath: the tuning job's own, else its algorithm's; "" for none."""
    return tuning_job.s3_output_path or tuning_job.algorithm.sagemaker_config.get("S3OutputPath", "")


BACKENDS: dict[str, Callable[[TrainingJob, TrainingRunSpec, RunMonitor], RunResult]] = {
    Backend.LOCAL: _run_locally,
    Backend.SAGEMAKER: _run_on_sagemaker,
}
