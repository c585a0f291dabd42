"""A training job's life on a worker or an outside trainer: claim, heartbeat, stop, finish."""

import hashlib
import logging
import math
import secrets

from django.db import transaction
from django.utils import timezone

from jobs import realtime
from jobs.backends.base import Outcome, RunResult, StopCause, is_infrastructure_failure
from jobs.backends.text import clean_program_text
from jobs.models import (
    ACTIVE_STATUSES,
    Backend,
    MetricSample,
    ObjectiveStatus,
    StopReason,
    TrainingJob,
    TrainingJobStatus,
    TrainingJobToken,
    TuningJobStatus,
)
from jobs.services import common, dispatch

logger = logging.getLogger(__name__)


def training_job_start(*, training_job_id: int, worker: str, log_path: str) -> TrainingJob | None:
    """Claim a training job for this worker; None if it is not there to claim.

    A conditional update rather than a lock: exactly one of two deliveries of
    the same task changes the row, and the other learns it lost without
    waiting.
    """
    now = timezone.now()
    claimed = TrainingJob.objects.filter(
        pk=training_job_id, status=TrainingJobStatus.IN_PROGRESS, started_at__isnull=True
    ).update(started_at=now, heartbeat_at=now, worker=worker, log_path=log_path, updated_at=now)
    if not claimed:
        return None
    training_job = TrainingJob.objects.select_related("tuning_job__algorithm").get(pk=training_job_id)
    common.publish_training_job(realtime.TRAINING_JOB_STATUS, training_job)
    return training_job


@transaction.atomic
def training_jobs_interrupt(*, worker_node: str) -> int:
    """Ask every job run by the worker `worker_node` to stop, because that worker is shutting down.

    Its runners see Stopping within a poll interval and end their programs, so
    the worker's warm shutdown finishes in seconds instead of waiting for
    every training job to run to its end; the tuning jobs carry on when a
    worker is back.
    """
    interrupted = 0
    jobs = TrainingJob.objects.select_for_update(no_key=True).filter(
        status=TrainingJobStatus.IN_PROGRESS, worker__startswith=f"{worker_node}:"
    )
    for training_job in jobs:
        common.request_training_job_stop(training_job, StopReason.WORKER_SHUTDOWN)
        interrupted += 1
    return interrupted


@transaction.atomic
def training_job_claim_external(*, tuning_job_id: int, claimant: str) -> tuple[TrainingJob, str] | None:
    """Hand the next waiting training job of an external algorithm to an outside trainer.

    Returns the job and the key of its new per-job token (shown only now),
    or None when no job is waiting. SKIP LOCKED lets several trainers claim
    at once without taking the same job or waiting on each other.
    """
    candidate = (
        TrainingJob.objects.select_for_update(skip_locked=True, no_key=True)
        .filter(
            tuning_job_id=tuning_job_id,
            tuning_job__algorithm__backend=Backend.EXTERNAL,
            status=TrainingJobStatus.IN_PROGRESS,
            started_at__isnull=True,
        )
        .order_by("sequence")
        .first()
    )
    if candidate is None:
        return None
    training_job = training_job_start(training_job_id=candidate.id, worker=f"external:{claimant}", log_path="")
    key = secrets.token_urlsafe(32)
    TrainingJobToken.objects.create(training_job=training_job, key_hash=token_hash(key))
    return training_job, key


def token_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def training_job_heartbeat(*, training_job_id: int) -> str:
    """Record that the job's worker is alive; return the job's status.

    The caller stops its program when the answer is Stopping, so a stop asked
    for on any machine reaches the worker that runs the job.
    """
    now = timezone.now()
    TrainingJob.objects.filter(pk=training_job_id, status__in=ACTIVE_STATUSES).update(heartbeat_at=now)
    return TrainingJob.objects.values_list("status", flat=True).get(pk=training_job_id)


@transaction.atomic
def training_job_stop(*, training_job_id: int, reason: str = StopReason.USER_REQUEST) -> TrainingJob:
    """StopTrainingJob: ask the job's worker to stop it (no-op once it has ended)."""
    training_job = TrainingJob.objects.select_for_update(no_key=True).get(pk=training_job_id)
    common.refuse_imported(training_job.tuning_job, "stop")
    if training_job.status == TrainingJobStatus.IN_PROGRESS:
        common.request_training_job_stop(training_job, reason)
    return training_job


@transaction.atomic
def training_job_finish(*, training_job_id: int, result: RunResult) -> TrainingJob:
    """Record how a training job's run ended, update the best job, and advance the tuning job.

    Idempotent: a job that has already ended (the reaper was quicker, or this
    is a second delivery) keeps its first ending.
    """
    training_job = (
        TrainingJob.objects.select_for_update(no_key=True, of=("self",))
        .select_related("tuning_job")
        .get(pk=training_job_id)
    )
    if not training_job.is_active:
        return training_job
    if _retries(training_job, result):
        return _run_again(training_job, result)
    now = timezone.now()
    if result.outcome == Outcome.COMPLETED:
        training_job.status = TrainingJobStatus.COMPLETED
    elif result.outcome == Outcome.STOPPED:
        training_job.status = TrainingJobStatus.STOPPED
        if result.stop_cause == StopCause.MAX_RUNTIME:
            training_job.stop_reason = StopReason.MAX_RUNTIME
        elif not training_job.stop_reason:
            training_job.stop_reason = StopReason.USER_REQUEST
    else:
        training_job.status = TrainingJobStatus.FAILED
        training_job.failure_reason = clean_program_text(result.failure_reason)[:4000]
    if result.model_artifact_uri:
        training_job.model_artifact_uri = result.model_artifact_uri
    if result.secondary_status:
        training_job.secondary_status = result.secondary_status
    value = training_job.final_objective_value
    # A worker shutting down stopped it: its last value says nothing of its hyperparameters.
    interrupted = training_job.stop_reason == StopReason.WORKER_SHUTDOWN
    succeeded = (
        training_job.status != TrainingJobStatus.FAILED
        and not interrupted
        and value is not None
        and math.isfinite(value)
    )
    training_job.objective_status = ObjectiveStatus.SUCCEEDED if succeeded else ObjectiveStatus.FAILED
    training_job.ended_at = now
    training_job.save()
    common.publish_training_job(realtime.TRAINING_JOB_STATUS, training_job)
    if succeeded:
        common.update_best_training_job(training_job.tuning_job)
    dispatch.enqueue_advance(training_job.tuning_job_id)
    return training_job


def _retries(training_job: TrainingJob, result: RunResult) -> bool:
    """SageMaker's RetryStrategy: whether this ending is an attempt that runs again.

    Only endings that were no doing of the program are retried: an
    InternalServerError (a lost worker, a full disk) and a stop because its
    worker shut down; never a user's stop or an early stop, and nothing once
    the tuning job itself is stopping.
    """
    tuning_job = training_job.tuning_job
    if training_job.retry_count >= tuning_job.max_retry_attempts or tuning_job.status != TuningJobStatus.IN_PROGRESS:
        return False
    if result.outcome == Outcome.FAILED:
        return is_infrastructure_failure(result.failure_reason)
    return result.outcome == Outcome.STOPPED and training_job.stop_reason == StopReason.WORKER_SHUTDOWN


def _run_again(training_job: TrainingJob, result: RunResult) -> TrainingJob:
    """Put the job back in the training queue as new, from its first epoch.

    The lost attempt's samples go: the program starts again at epoch 1, and a
    value from the old run must not pass for the new run's. Its log stays on
    the worker it ran on (appended to if the job runs there again).
    """
    logger.warning(
        "training job %s: attempt %d ended (%s); retrying (RetryStrategy: %d of %d)",
        training_job.name,
        training_job.retry_count + 1,
        result.failure_reason or training_job.stop_reason,
        training_job.retry_count + 1,
        training_job.tuning_job.max_retry_attempts,
    )
    MetricSample.objects.filter(training_job=training_job).delete()
    training_job.retry_count += 1
    training_job.status = TrainingJobStatus.IN_PROGRESS
    training_job.stop_reason = ""
    training_job.failure_reason = ""
    training_job.final_objective_value = None
    training_job.objective_status = ObjectiveStatus.PENDING
    training_job.epochs_run = 0
    training_job.secondary_status = ""
    training_job.remote_name = ""
    training_job.worker = ""
    training_job.awaiting_reattach = False
    training_job.started_at = training_job.heartbeat_at = training_job.dispatched_at = None
    training_job.save()
    common.publish_training_job(realtime.TRAINING_JOB_STATUS, training_job)
    dispatch.dispatch_run(training_job.id)
    return training_job


def training_job_fail(*, training_job_id: int, reason: str) -> TrainingJob:
    """End a training job Failed for a reason outside its program (worker lost, setup error)."""
    return training_job_finish(
        training_job_id=training_job_id, result=RunResult(outcome=Outcome.FAILED, exit_code=None, failure_reason=reason)
    )


@transaction.atomic
def training_job_reattach(*, training_job_id: int, worker: str) -> TrainingJob | None:
    """Take over a SageMaker job offered for re-attach by the reaper; None if it is not on offer.

    Under the row lock, so that of two deliveries of the offer exactly one
    watches the job.
    """
    training_job = (
        TrainingJob.objects.select_for_update(no_key=True, of=("self",))
        .select_related("tuning_job__algorithm")
        .filter(pk=training_job_id, status__in=ACTIVE_STATUSES, awaiting_reattach=True)
        .first()
    )
    if training_job is None:
        return None
    training_job.awaiting_reattach = False
    training_job.worker = worker
    training_job.heartbeat_at = timezone.now()
    training_job.save(update_fields=["awaiting_reattach", "worker", "heartbeat_at", "updated_at"])
    return training_job


def training_job_set_remote_name(*, training_job_id: int, remote_name: str) -> None:
    """Record a job's name on SageMaker before creating it there, so a worker lost
    right after CreateTrainingJob still leaves the name to find the job by."""
    TrainingJob.objects.filter(pk=training_job_id).update(remote_name=remote_name, updated_at=timezone.now())


def training_job_record_secondary_status(*, training_job_id: int, secondary_status: str) -> None:
    """SageMaker's SecondaryStatus of a running job (Downloading, Training, Uploading...)."""
    TrainingJob.objects.filter(pk=training_job_id, status__in=ACTIVE_STATUSES).update(
        secondary_status=secondary_status[:32], updated_at=timezone.now()
    )
