"""Every change of a tuning job, a training job or their metrics happens here.

Views, API views, Celery tasks, management commands and the admin call these
functions and never write a status themselves. Each function is one
transaction; events are published through jobs.realtime, which delivers them
after commit.

Concurrency: the reconcile loop and the training workers run on many
processes at once. A tuning job is advanced under its row lock, and a training
job is claimed and finished with conditional updates or its row lock, so that
running any of these twice does no harm. Row locks are FOR NO KEY UPDATE:
inserting a metric sample takes FOR KEY SHARE on its tuning job and training
job (the foreign-key checks), which a plain FOR UPDATE would block, and a
stop racing a metric batch would deadlock.
"""

import hashlib
import logging
import math
import random
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from jobs import realtime, selectors
from jobs.backends.base import Outcome, RunResult, StopCause
from jobs.backends.metrics import MetricRecord
from jobs.config import RANDOM_SEED_MAX, TuningJobConfig, validate_algorithm, validate_tuning_job_config
from jobs.models import (
    ACTIVE_STATUSES,
    Algorithm,
    Backend,
    EarlyStoppingType,
    MetricSample,
    ObjectiveStatus,
    ObjectiveType,
    StopReason,
    Strategy,
    TrainingJob,
    TrainingJobStatus,
    TrainingJobToken,
    TuningJob,
    TuningJobStatus,
)
from jobs.tuning import criteria
from jobs.tuning.early_stopping import DEFAULT_RULE
from jobs.tuning.hyperband import Hyperband, infer_max_resource
from jobs.tuning.space import SearchSpace, SearchSpaceError, format_value
from jobs.tuning.strategies import Direction, Observation, make_strategy

logger = logging.getLogger(__name__)

# Early stopping type "Auto": the rule that won the replay benchmark (docs/benchmarks.md).
AUTO_RULE = DEFAULT_RULE()

# A tuning job whose first training jobs all fail is almost surely broken
# (a bad static hyperparameter, a crashing program); SageMaker also gives up
# early rather than burning through MaxNumberOfTrainingJobs failures.
FAILED_TRAINING_JOBS_BEFORE_GIVING_UP = 3


# --- algorithms --------------------------------------------------------------


@transaction.atomic
def algorithm_register(
    *,
    name: str,
    command: list[str],
    metric_definitions: list[dict],
    static_hyperparameters=None,
    description="",
    backend: str = Backend.LOCAL,
) -> Algorithm:
    """Create or update an algorithm by name, after checking its command and metric regexes."""
    candidate = Algorithm(
        name=name,
        command=command,
        metric_definitions=metric_definitions,
        static_hyperparameters=static_hyperparameters or {},
        description=description,
        backend=backend,
    )
    candidate.full_clean(exclude=["name"])
    validate_algorithm(candidate)
    algorithm, _ = Algorithm.objects.update_or_create(
        name=name,
        defaults={
            "command": candidate.command,
            "metric_definitions": candidate.metric_definitions,
            "static_hyperparameters": candidate.static_hyperparameters,
            "description": description,
            "backend": backend,
        },
    )
    return algorithm


# --- tuning jobs -----------------------------------------------------------


@transaction.atomic
def tuning_job_create(*, config: TuningJobConfig, owner=None, check_team_role: bool = True) -> TuningJob:
    """Validate `config`, store the tuning job, and start advancing it after commit.

    The owner must be an operator of the chosen team, unless the caller is
    trusted like staff (`check_team_role=False`: management commands, run by
    whoever administers the machine).
    """
    validated = validate_tuning_job_config(config)
    if check_team_role and owner is not None and not selectors.can_create_in(user=owner, team=validated.team):
        raise ValidationError({"team_name": ["You can only create tuning jobs in a team where you are an operator."]})
    seed = config.random_seed
    if seed is None:
        seed = random.SystemRandom().randrange(RANDOM_SEED_MAX)
    try:
        with transaction.atomic():
            tuning_job = _store_tuning_job(config, validated, owner, seed)
    except IntegrityError:
        # Another request created the same name between the check and the insert.
        raise ValidationError({"name": [f"A tuning job named {config.name!r} already exists."]}) from None
    tuning_job.warm_start_parents.set(validated.parents)
    realtime.publish(realtime.Event(realtime.TUNING_JOB_CREATED, tuning_job.id, {"name": tuning_job.name}))
    _enqueue_advance(tuning_job.id)
    return tuning_job


def _store_tuning_job(config: TuningJobConfig, validated, owner, seed: int) -> TuningJob:
    return TuningJob.objects.create(
        name=config.name,
        owner=owner,
        team=validated.team,
        algorithm=validated.algorithm,
        strategy=config.strategy,
        objective_metric_name=config.objective_metric_name,
        objective_type=config.objective_type,
        parameter_ranges=validated.space.to_dicts(),
        static_hyperparameters=dict(config.static_hyperparameters),
        max_training_jobs=config.max_training_jobs,
        max_parallel_training_jobs=config.max_parallel_training_jobs,
        max_runtime_seconds=config.max_runtime_seconds,
        training_max_runtime_seconds=config.training_max_runtime_seconds,
        early_stopping_type=config.early_stopping_type,
        random_seed=seed,
        hyperband_min_resource=validated.hyperband_min_resource,
        hyperband_max_resource=validated.hyperband_max_resource,
        target_objective_value=config.target_objective_value,
        max_jobs_not_improving=config.max_jobs_not_improving,
        complete_on_convergence=config.complete_on_convergence,
        warm_start_type=config.warm_start_type,
    )


@transaction.atomic
def tuning_job_stop(*, tuning_job_id: int) -> TuningJob:
    """StopHyperParameterTuningJob: stop every running training job, then end Stopped.

    Stopping a tuning job that has already ended is a no-op, as repeating a
    stop request must be harmless.
    """
    tuning_job = TuningJob.objects.select_for_update(no_key=True).get(pk=tuning_job_id)
    if tuning_job.status != TuningJobStatus.IN_PROGRESS:
        return tuning_job
    _set_tuning_job_status(tuning_job, TuningJobStatus.STOPPING)
    for training_job in tuning_job.training_jobs.filter(status=TrainingJobStatus.IN_PROGRESS):
        _request_training_job_stop(training_job, StopReason.USER_REQUEST)
    _enqueue_advance(tuning_job.id)
    return tuning_job


@transaction.atomic
def tuning_job_advance(*, tuning_job_id: int, now: datetime | None = None) -> list[TrainingJob]:
    """The reconcile step: launch what may run, stop what must stop, end what is done.

    Holds the tuning job's row lock for the whole step, so two workers
    advancing the same tuning job at once take turns and the second sees the
    first one's training jobs: the limits can never be exceeded.
    Returns the training jobs it created.
    """
    now = now or timezone.now()
    tuning_job = TuningJob.objects.select_for_update(no_key=True).get(pk=tuning_job_id)
    if not tuning_job.is_active:
        return []
    training_jobs = list(tuning_job.training_jobs.all())
    running = [job for job in training_jobs if job.is_active]

    if tuning_job.status == TuningJobStatus.IN_PROGRESS and _runtime_exceeded(tuning_job, now):
        tuning_job.failure_reason = (
            f"Reached MaxRuntimeInSeconds ({tuning_job.max_runtime_seconds} s); running training jobs were stopped."
        )
        _set_tuning_job_status(tuning_job, TuningJobStatus.STOPPING)
        for training_job in running:
            if training_job.status == TrainingJobStatus.IN_PROGRESS:
                _request_training_job_stop(training_job, StopReason.TUNING_JOB_LIMIT)

    if tuning_job.status == TuningJobStatus.STOPPING:
        if not running:
            _end_tuning_job(tuning_job, TuningJobStatus.STOPPED, now)
        return []

    _check_completion_criteria(tuning_job, training_jobs, now)
    created = []
    if not tuning_job.completion_reason and not _should_give_up(training_jobs):
        created = _launch_training_jobs(tuning_job, training_jobs, len(running))
    if not running and not created:
        _complete_tuning_job(tuning_job, training_jobs, now)
    return created


def _check_completion_criteria(tuning_job: TuningJob, training_jobs: list[TrainingJob], now: datetime) -> None:
    """Record TuningJobCompletionDetails; once a criterion is met, stop what runs and launch no more."""
    ended = sorted((job for job in training_jobs if job.ended_at), key=lambda job: (job.ended_at, job.sequence))
    finals = [
        job.final_objective_value
        if job.objective_status == ObjectiveStatus.SUCCEEDED and job.final_objective_value is not None
        else math.nan
        for job in ended
    ]
    state = criteria.evaluate(_completion_criteria(tuning_job), finals, Direction(tuning_job.objective_type))
    changed = []
    if state.converged and tuning_job.convergence_detected_at is None:
        tuning_job.convergence_detected_at = now
        changed.append("convergence_detected_at")
    if state.reason and not tuning_job.completion_reason:
        tuning_job.completion_reason = state.reason
        changed.append("completion_reason")
        for training_job in training_jobs:
            if training_job.status == TrainingJobStatus.IN_PROGRESS:
                _request_training_job_stop(training_job, StopReason.COMPLETION_CRITERIA)
    if changed:
        tuning_job.save(update_fields=[*changed, "updated_at"])


def _completion_criteria(tuning_job: TuningJob) -> criteria.CompletionCriteria:
    return criteria.CompletionCriteria(
        target_objective_value=tuning_job.target_objective_value,
        max_jobs_not_improving=tuning_job.max_jobs_not_improving,
        complete_on_convergence=tuning_job.complete_on_convergence,
    )


def tuning_job_completion_details(tuning_job: TuningJob) -> criteria.CompletionState:
    """TuningJobCompletionDetails as of now (read-only; for Describe)."""
    ended = tuning_job.training_jobs.filter(ended_at__isnull=False).order_by("ended_at", "sequence")
    finals = [
        value if status == ObjectiveStatus.SUCCEEDED and value is not None else math.nan
        for value, status in ended.values_list("final_objective_value", "objective_status")
    ]
    return criteria.evaluate(_completion_criteria(tuning_job), finals, Direction(tuning_job.objective_type))


def _launch_training_jobs(tuning_job: TuningJob, training_jobs: list[TrainingJob], running: int) -> list[TrainingJob]:
    space = SearchSpace.from_dicts(tuning_job.parameter_ranges)
    strategy = make_strategy(tuning_job.strategy, space, Direction(tuning_job.objective_type), tuning_job.random_seed)
    limit = tuning_job.max_training_jobs
    if strategy.max_training_jobs() is not None:
        limit = min(limit, strategy.max_training_jobs())
    capacity = min(tuning_job.max_parallel_training_jobs - running, limit - len(training_jobs))
    if capacity <= 0:
        return []
    observations = _warm_start_observations(tuning_job, space) + [_observation(job, space) for job in training_jobs]
    proposals = strategy.suggest(observations, capacity)
    statics = {**tuning_job.algorithm.static_hyperparameters, **tuning_job.static_hyperparameters}
    created = []
    for offset, proposal in enumerate(proposals, start=1):
        sequence = len(training_jobs) + offset
        tuned = {name: format_value(value) for name, value in proposal.items()}
        training_job = TrainingJob.objects.create(
            name=f"{tuning_job.name}-{sequence:03d}",
            tuning_job=tuning_job,
            sequence=sequence,
            hyperparameters={**statics, **tuned},
            tuned_hyperparameters=tuned,
        )
        created.append(training_job)
        _publish_training_job(realtime.TRAINING_JOB_CREATED, training_job)
        if tuning_job.algorithm.backend != Backend.EXTERNAL:
            # An external job waits for a trainer to claim it instead.
            _dispatch_run(training_job.id, timezone.now())
    return created


def _warm_start_observations(tuning_job: TuningJob, space: SearchSpace) -> list[Observation]:
    """The parents' finished training jobs, as observations placed before this job's own.

    A parent's configuration outside this job's ranges (the ranges may have
    changed) is left out: the strategy cannot place it in its search space.
    """
    if not tuning_job.warm_start_type:
        return []
    observations = []
    parents = tuning_job.warm_start_parents.order_by("created_at", "id")
    for training_job in TrainingJob.objects.filter(tuning_job__in=parents, ended_at__isnull=False).order_by(
        "tuning_job__created_at", "sequence"
    ):
        try:
            observations.append(_observation(training_job, space))
        except SearchSpaceError:
            continue
    return observations


def _observation(training_job: TrainingJob, space: SearchSpace) -> Observation:
    value = training_job.final_objective_value
    return Observation(
        hyperparameters=space.parse(training_job.tuned_hyperparameters),
        objective=value if value is not None and math.isfinite(value) else None,
        status=training_job.status,
    )


def _should_give_up(training_jobs: Sequence[TrainingJob]) -> bool:
    failed = sum(job.status == TrainingJobStatus.FAILED for job in training_jobs)
    succeeded = any(job.objective_status == ObjectiveStatus.SUCCEEDED for job in training_jobs)
    return failed >= FAILED_TRAINING_JOBS_BEFORE_GIVING_UP and not succeeded


def _runtime_exceeded(tuning_job: TuningJob, now: datetime) -> bool:
    limit = tuning_job.max_runtime_seconds
    return limit is not None and now - tuning_job.created_at >= timedelta(seconds=limit)


def _complete_tuning_job(tuning_job: TuningJob, training_jobs: list[TrainingJob], now: datetime) -> None:
    """End a tuning job none of whose training jobs is running and that launches no more."""
    if any(job.objective_status == ObjectiveStatus.SUCCEEDED for job in training_jobs):
        _end_tuning_job(tuning_job, TuningJobStatus.COMPLETED, now)
        return
    failures = [job for job in training_jobs if job.status == TrainingJobStatus.FAILED]
    if failures:
        reason = (
            f"{len(failures)} training job(s) failed and none reported the objective metric "
            f"{tuning_job.objective_metric_name!r}. Last failure ({failures[-1].name}): {failures[-1].failure_reason}"
        )
    else:
        reason = (
            f"No training job reported a finite value of the objective metric "
            f"{tuning_job.objective_metric_name!r}; check the algorithm's metric definitions against its log."
        )
    tuning_job.failure_reason = reason[:4000]
    _end_tuning_job(tuning_job, TuningJobStatus.FAILED, now)


def _end_tuning_job(tuning_job: TuningJob, status: str, now: datetime) -> None:
    tuning_job.ended_at = now
    _set_tuning_job_status(tuning_job, status)


def _set_tuning_job_status(tuning_job: TuningJob, status: str) -> None:
    tuning_job.status = status
    tuning_job.save(update_fields=["status", "failure_reason", "ended_at", "updated_at"])
    realtime.publish(
        realtime.Event(
            realtime.TUNING_JOB_STATUS,
            tuning_job.id,
            {"status": status, "failure_reason": tuning_job.failure_reason},
        )
    )


# --- training jobs ----------------------------------------------------------


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
    _publish_training_job(realtime.TRAINING_JOB_STATUS, training_job)
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
        _request_training_job_stop(training_job, StopReason.WORKER_SHUTDOWN)
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
def training_job_record_metrics(*, training_job_id: int, records: Sequence[MetricRecord]) -> int:
    """Store a batch of metric samples of a running training job; return how many.

    One INSERT for the whole batch. A sample repeated for the same metric and
    epoch replaces the earlier one, so a retried batch never duplicates.
    """
    if not records:
        return 0
    training_job = TrainingJob.objects.select_related("tuning_job").get(pk=training_job_id)
    if not training_job.is_active:
        return 0
    tuning_job = training_job.tuning_job
    MetricSample.objects.bulk_create(
        [
            MetricSample(
                tuning_job_id=tuning_job.id,
                training_job_id=training_job.id,
                metric_name=record.metric_name,
                epoch=record.epoch,
                value=record.value,
                timestamp=record.timestamp,
            )
            for record in records
        ],
        update_conflicts=True,
        unique_fields=["training_job", "metric_name", "epoch"],
        update_fields=["value", "timestamp"],
    )
    objective = [r for r in records if r.metric_name == tuning_job.objective_metric_name]
    changes = {"epochs_run": max(training_job.epochs_run, max(r.epoch for r in records))}
    if objective:
        # SageMaker's FinalObjectiveValue is the last value the job emitted.
        changes["final_objective_value"] = objective[-1].value
    TrainingJob.objects.filter(pk=training_job.id).update(**changes, updated_at=timezone.now())
    if objective and training_job.status == TrainingJobStatus.IN_PROGRESS:
        _apply_stopping_rules(training_job, tuning_job, max(r.epoch for r in objective))
    realtime.publish(
        realtime.Event(
            realtime.METRICS_APPENDED,
            tuning_job.id,
            {"training_job": training_job.name, "count": len(records)},
        )
    )
    return len(records)


def _apply_stopping_rules(training_job: TrainingJob, tuning_job: TuningJob, latest_epoch: int) -> None:
    """Early stopping "Auto" and Hyperband's rungs, evaluated on the epoch just reported.

    Both see the job's own objective curve and the other jobs' curves as far
    as they got now, which is all a live decision can know.
    """
    if tuning_job.strategy == Strategy.HYPERBAND:
        hyperband = Hyperband(tuning_job.hyperband_min_resource or 1, tuning_job.hyperband_max_resource)
        bracket = hyperband.bracket_of(training_job.sequence)
        curves = _objective_curves(tuning_job)
        sequences = dict(tuning_job.training_jobs.values_list("id", "sequence"))
        peers = [
            curve
            for job_id, curve in curves.items()
            if job_id != training_job.id and hyperband.bracket_of(sequences[job_id]) == bracket
        ]
        current = curves.get(training_job.id, [])
        stop = hyperband.should_stop(current, peers, bracket, Direction(tuning_job.objective_type))
        own_epochs = infer_max_resource(training_job.hyperparameters)
        if stop and len(current) >= hyperband.max_resource and own_epochs and own_epochs <= hyperband.max_resource:
            # Its program ends at MaxResource by itself: signalling it now would
            # only race its normal exit and call a finished job Stopped.
            stop = False
        reason = StopReason.HYPERBAND
    elif tuning_job.early_stopping_type == EarlyStoppingType.AUTO:
        # The rules compare epochs 1..t only, so nothing later is read: the
        # cost of a decision grows with the epoch, not with the whole table.
        curves = _objective_curves(tuning_job, max_epoch=latest_epoch)
        earlier = set(tuning_job.training_jobs.filter(sequence__lt=training_job.sequence).values_list("id", flat=True))
        previous = [curve for job_id, curve in curves.items() if job_id in earlier]
        stop = AUTO_RULE.should_stop(curves.get(training_job.id, []), previous, Direction(tuning_job.objective_type))
        reason = StopReason.EARLY_STOPPING
    else:
        return
    if stop:
        locked = TrainingJob.objects.select_for_update(no_key=True).get(pk=training_job.id)
        if locked.status == TrainingJobStatus.IN_PROGRESS:
            _request_training_job_stop(locked, reason)


def _objective_curves(tuning_job: TuningJob, max_epoch: int | None = None) -> dict[int, list[float]]:
    """Each training job's objective values in epoch order (up to `max_epoch`), in one query."""
    curves: dict[int, list[float]] = {}
    samples = MetricSample.objects.filter(tuning_job=tuning_job, metric_name=tuning_job.objective_metric_name)
    if max_epoch is not None:
        samples = samples.filter(epoch__lte=max_epoch)
    samples = samples.order_by("training_job_id", "epoch").values_list("training_job_id", "value")
    for training_job_id, value in samples:
        curves.setdefault(training_job_id, []).append(value)
    return curves


@transaction.atomic
def training_job_stop(*, training_job_id: int, reason: str = StopReason.USER_REQUEST) -> TrainingJob:
    """StopTrainingJob: ask the job's worker to stop it (no-op once it has ended)."""
    training_job = TrainingJob.objects.select_for_update(no_key=True).get(pk=training_job_id)
    if training_job.status == TrainingJobStatus.IN_PROGRESS:
        _request_training_job_stop(training_job, reason)
    return training_job


def _request_training_job_stop(training_job: TrainingJob, reason: str) -> None:
    """Mark a running job Stopping; its worker sees that on its next poll.

    A job whose program has not started yet has nothing to signal, so it ends
    Stopped at once; its task then finds nothing to claim.
    """
    training_job.stop_reason = reason
    if training_job.started_at is None:
        training_job.status = TrainingJobStatus.STOPPED
        training_job.objective_status = ObjectiveStatus.FAILED
        training_job.ended_at = timezone.now()
    else:
        training_job.status = TrainingJobStatus.STOPPING
    training_job.save(update_fields=["status", "stop_reason", "objective_status", "ended_at", "updated_at"])
    _publish_training_job(realtime.TRAINING_JOB_STATUS, training_job)


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
        training_job.failure_reason = result.failure_reason[:4000]
    value = training_job.final_objective_value
    succeeded = training_job.status != TrainingJobStatus.FAILED and value is not None and math.isfinite(value)
    training_job.objective_status = ObjectiveStatus.SUCCEEDED if succeeded else ObjectiveStatus.FAILED
    training_job.ended_at = now
    training_job.save()
    _publish_training_job(realtime.TRAINING_JOB_STATUS, training_job)
    if succeeded:
        _update_best_training_job(training_job.tuning_job)
    _enqueue_advance(training_job.tuning_job_id)
    return training_job


def training_job_fail(*, training_job_id: int, reason: str) -> TrainingJob:
    """End a training job Failed for a reason outside its program (worker lost, setup error)."""
    return training_job_finish(
        training_job_id=training_job_id, result=RunResult(outcome=Outcome.FAILED, exit_code=None, failure_reason=reason)
    )


def _update_best_training_job(tuning_job: TuningJob) -> None:
    order = "-final_objective_value" if tuning_job.objective_type == ObjectiveType.MAXIMIZE else "final_objective_value"
    best = (
        tuning_job.training_jobs.filter(objective_status=ObjectiveStatus.SUCCEEDED).order_by(order, "sequence").first()
    )
    TuningJob.objects.filter(pk=tuning_job.pk).update(best_training_job=best, updated_at=timezone.now())


def _finite_or_none(value: float | None) -> float | None:
    """Events travel as JSON, which has no NaN or Infinity."""
    return value if value is not None and math.isfinite(value) else None


def _publish_training_job(event_type: str, training_job: TrainingJob) -> None:
    realtime.publish(
        realtime.Event(
            event_type,
            training_job.tuning_job_id,
            {
                "name": training_job.name,
                "status": training_job.status,
                "stop_reason": training_job.stop_reason,
                "final_objective_value": _finite_or_none(training_job.final_objective_value),
            },
        )
    )


# --- the safety net -----------------------------------------------------------


def training_jobs_reap_stale(*, now: datetime | None = None) -> list[int]:
    """Fail running training jobs whose worker stopped sending heartbeats.

    The worker died (killed, machine lost) so nothing else will ever end
    these jobs; failing them lets their tuning jobs carry on.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.TUNEBOARD_HEARTBEAT_TIMEOUT)
    stale = TrainingJob.objects.filter(
        status__in=ACTIVE_STATUSES, started_at__isnull=False, heartbeat_at__lt=cutoff
    ).values_list("id", "status", "worker", "heartbeat_at")
    reaped = []
    for training_job_id, status, worker, heartbeat_at in stale:
        if status == TrainingJobStatus.STOPPING:
            # It was being stopped anyway (an outside trainer that quit
            # without acknowledging): the stop has happened.
            training_job_finish(
                training_job_id=training_job_id,
                result=RunResult(outcome=Outcome.STOPPED, exit_code=None, stop_cause=StopCause.REQUESTED),
            )
        else:
            reason = (
                f"The worker running this job ({worker or 'unknown'}) stopped responding: "
                f"no heartbeat since {heartbeat_at.isoformat()}."
            )
            training_job_fail(training_job_id=training_job_id, reason=reason)
        reaped.append(training_job_id)
    if reaped:
        logger.warning("failed %d training job(s) whose worker was lost: %s", len(reaped), reaped)
    return reaped


@transaction.atomic
def training_jobs_redispatch(*, now: datetime | None = None) -> list[int]:
    """Send again the run tasks of training jobs that were dispatched long ago and never started.

    Their message was lost (a broker restart without persistence), or every
    training worker is busy; in the second case the extra message finds the
    job claimed and does nothing, which is why the timeout is generous.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.TUNEBOARD_START_TIMEOUT)
    waiting = list(
        TrainingJob.objects.filter(
            status=TrainingJobStatus.IN_PROGRESS, started_at__isnull=True, dispatched_at__lt=cutoff
        )
        .exclude(tuning_job__algorithm__backend=Backend.EXTERNAL)
        .values_list("id", flat=True)
    )
    for training_job_id in waiting:
        _dispatch_run(training_job_id, now)
    return waiting


def active_tuning_job_ids() -> list[int]:
    return list(
        TuningJob.objects.filter(status__in=[TuningJobStatus.IN_PROGRESS, TuningJobStatus.STOPPING]).values_list(
            "id", flat=True
        )
    )


# --- task hand-off --------------------------------------------------------------


def _send_task(task, object_id: int) -> None:
    """Send a task after commit; if the broker is down, leave it to the periodic reconcile.

    The database is the source of truth: a tuning job that was not advanced
    is advanced by the next reconcile_all, and a training job whose task was
    never sent is sent again by training_jobs_redispatch. So a broker outage
    delays work but never fails the request that caused it.
    """

    def send():
        try:
            task.delay(object_id)
        except OperationalError as exc:
            logger.warning("could not send %s(%s), the reconcile loop will: %s", task.name, object_id, exc)

    transaction.on_commit(send)


def _enqueue_advance(tuning_job_id: int) -> None:
    from jobs import tasks

    _send_task(tasks.advance_tuning_job, tuning_job_id)


def _dispatch_run(training_job_id: int, now: datetime) -> None:
    from jobs import tasks

    TrainingJob.objects.filter(pk=training_job_id).update(dispatched_at=now)
    _send_task(tasks.run_training_job, training_job_id)
