"""Runs one claimed training job on its algorithm's backend, on a training worker.

This is the glue between a backend, which knows processes and knows nothing
of Django, and the service layer, which records what the backend reports.
"""

import logging
import os

from django.conf import settings

from jobs import selectors, services
from jobs.backends.base import Outcome, RunResult, TrainingBackend, TrainingRunSpec
from jobs.backends.local import LocalBackend
from jobs.backends.metrics import MetricRecord
from jobs.config import algorithm_metric_definitions
from jobs.models import Backend, TrainingJob, TrainingJobStatus

logger = logging.getLogger(__name__)

BACKENDS: dict[str, type[TrainingBackend]] = {Backend.LOCAL: LocalBackend}


class ServiceRunMonitor:
    """The backend's view of the database: it reports through the service layer."""

    def __init__(self, training_job_id: int):
        self.training_job_id = training_job_id

    def on_metrics(self, records: list[MetricRecord]) -> None:
        services.training_job_record_metrics(training_job_id=self.training_job_id, records=records)

    def should_stop(self) -> bool:
        return selectors.training_job_status(training_job_id=self.training_job_id) == TrainingJobStatus.STOPPING

    def heartbeat(self) -> None:
        services.training_job_heartbeat(training_job_id=self.training_job_id)


def job_directory(training_job: TrainingJob):
    return settings.TUNEBOARD_JOBS_DIR / training_job.tuning_job.name / training_job.name


def execute_training_job(training_job_id: int, worker_node: str) -> TrainingJob | None:
    """Claim, run and finish one training job; None if another delivery already has it.

    `worker_node` is the Celery node name, so that a worker shutting down can
    find the jobs it runs (see services.training_jobs_interrupt).
    """
    job_dir = job_directory(TrainingJob.objects.select_related("tuning_job").get(pk=training_job_id))
    training_job = services.training_job_start(
        training_job_id=training_job_id,
        worker=f"{worker_node}:{os.getpid()}",
        log_path=str(job_dir / "training.log"),
    )
    if training_job is None:
        return None
    try:
        result = _run(training_job, job_dir)
    except Exception as exc:
        # Whatever went wrong here must end the job, or it would hang until
        # the reaper gives up on its heartbeat.
        logger.exception("training job %s could not run", training_job.name)
        result = RunResult(outcome=Outcome.FAILED, exit_code=None, failure_reason=f"InternalError: {exc}")
    return services.training_job_finish(training_job_id=training_job_id, result=result)


def _run(training_job: TrainingJob, job_dir) -> RunResult:
    tuning_job = training_job.tuning_job
    algorithm = tuning_job.algorithm
    spec = TrainingRunSpec(
        job_name=training_job.name,
        command=list(algorithm.command),
        hyperparameters=dict(training_job.hyperparameters),
        metric_definitions=algorithm_metric_definitions(algorithm),
        job_dir=job_dir,
        max_runtime_seconds=tuning_job.training_max_runtime_seconds,
        stop_grace_seconds=settings.TUNEBOARD_STOP_GRACE_SECONDS,
        poll_interval_seconds=settings.TUNEBOARD_STOP_POLL_INTERVAL,
        heartbeat_interval_seconds=settings.TUNEBOARD_HEARTBEAT_INTERVAL,
    )
    backend = BACKENDS[algorithm.backend]()
    return backend.run(spec, ServiceRunMonitor(training_job.id))
