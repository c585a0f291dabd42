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
import json
import logging
import math
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Avg, Count, Max, Min
from django.utils import timezone
from kombu.exceptions import OperationalError

from jobs import realtime, selectors
from jobs.backends.base import Outcome, RunResult, StopCause
from jobs.backends.metrics import MetricRecord
from jobs.backends.s3 import describe_error
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
    TuningJobSource,
    TuningJobStatus,
)
from jobs.tuning import criteria
from jobs.tuning.early_stopping import (
    DEFAULT_RULE,
    RULES,
    EarlyStoppingRule,
    Leader,
    LeaderEnvelopeRule,
    RunningAverageRule,
    best_value,
    running_averages,
)
from jobs.tuning.hyperband import Hyperband, infer_max_resource
from jobs.tuning.space import SearchSpace, SearchSpaceError, format_value
from jobs.tuning.strategies import Direction, Observation, make_strategy

if TYPE_CHECKING:
    from jobs.sagemaker_shapes import ImportedTrainingJob, ImportedTuningJob

logger = logging.getLogger(__name__)


def auto_rule() -> EarlyStoppingRule:
    """The rule of early stopping type "Auto": settings.TUNEBOARD_EARLY_STOPPING_RULE.

    "auto" (the default) is `DEFAULT_RULE`, chosen by the replay benchmark leaving one
    workload out (docs/benchmarks.md); any name in `RULES` (e.g. "sagemaker_median",
    SageMaker's documented rule) gives that rule with its default settings. A bad name
    is reported by the system check jobs.E001 at start-up.
    """
    name = settings.TUNEBOARD_EARLY_STOPPING_RULE
    return DEFAULT_RULE if name == "auto" else RULES[name]()


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
    _refuse_imported(tuning_job, "stop")
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
    if not tuning_job.is_active or tuning_job.is_imported:
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
    epoch replaces the earlier one, in the batch or stored, so a retried batch
    never duplicates.
    """
    if not records:
        return 0
    training_job = TrainingJob.objects.select_related("tuning_job").get(pk=training_job_id)
    if not training_job.is_active:
        return 0
    tuning_job = training_job.tuning_job
    latest = list({(record.metric_name, record.epoch): record for record in records}.values())
    _upsert_metric_samples(tuning_job.id, training_job.id, latest)
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
            {"training_job": training_job.name, "count": len(latest)},
        )
    )
    return len(latest)


def _upsert_metric_samples(tuning_job_id: int, training_job_id: int, records: Sequence[MetricRecord]) -> None:
    """Insert `records` (one per metric and epoch), replacing the stored samples of the same metric and epoch.

    On PostgreSQL the batch travels as one JSON array of rows, unpacked by
    INSERT ... SELECT FROM json_array_elements(...): for hundreds of samples
    that is a fraction of the Python work of bulk_create (a parameter per
    field per sample) or of array parameters, and ingest is the API's hottest
    path. Values go as text, the only way JSON carries NaN and infinities.
    """
    if connection.vendor != "postgresql":
        MetricSample.objects.bulk_create(
            [
                MetricSample(
                    tuning_job_id=tuning_job_id,
                    training_job_id=training_job_id,
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
        return
    quote = connection.ops.quote_name
    table = quote(MetricSample._meta.db_table)
    tuning, training, metric, epoch, value, timestamp = (
        quote(MetricSample._meta.get_field(name).column)
        for name in ("tuning_job", "training_job", "metric_name", "epoch", "value", "timestamp")
    )
    rows = json.dumps(
        [[record.metric_name, record.epoch, repr(record.value), record.timestamp.isoformat()] for record in records]
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({tuning}, {training}, {metric}, {epoch}, {value}, {timestamp}) "
            "SELECT %s, %s, row->>0, (row->>1)::integer, (row->>2)::float8, (row->>3)::timestamptz "
            "FROM json_array_elements(%s::json) AS row "
            f"ON CONFLICT ({training}, {metric}, {epoch}) "
            f"DO UPDATE SET {value} = EXCLUDED.{value}, {timestamp} = EXCLUDED.{timestamp}",
            [tuning_job_id, training_job_id, rows],
        )


def _apply_stopping_rules(training_job: TrainingJob, tuning_job: TuningJob, latest_epoch: int) -> None:
    """Early stopping "Auto" and Hyperband's rungs, evaluated on the epoch just reported.

    Both see the job's own objective curve and the other jobs' curves as far
    as they got now, which is all a live decision can know. This runs for
    every batch a trainer reports, so it reads only what the rule uses: the
    job's own curve, and of the others their running averages (Auto) or, at
    a rung only, their curves (Hyperband).
    """
    direction = Direction(tuning_job.objective_type)
    if tuning_job.strategy == Strategy.HYPERBAND:
        hyperband = Hyperband(tuning_job.hyperband_min_resource or 1, tuning_job.hyperband_max_resource)
        bracket = hyperband.bracket_of(training_job.sequence)
        current = _objective_curves(tuning_job, training_job_ids=[training_job.id]).get(training_job.id, [])
        peers = []
        if len(current) in hyperband.rungs(bracket):
            # Between rungs the decision depends on the job's own curve alone.
            others = tuning_job.training_jobs.exclude(pk=training_job.id).values_list("id", "sequence")
            same_bracket = [job_id for job_id, sequence in others if hyperband.bracket_of(sequence) == bracket]
            peers = list(_objective_curves(tuning_job, training_job_ids=same_bracket).values())
        stop = hyperband.should_stop(current, peers, bracket, direction)
        own_epochs = infer_max_resource(training_job.hyperparameters)
        if stop and len(current) >= hyperband.max_resource and own_epochs and own_epochs <= hyperband.max_resource:
            # Its program ends at MaxResource by itself: signalling it now would
            # only race its normal exit and call a finished job Stopped.
            stop = False
        reason = StopReason.HYPERBAND
    elif tuning_job.early_stopping_type == EarlyStoppingType.AUTO:
        # The rules compare epochs 1..t only, so nothing later is read: the
        # cost of a decision grows with the epoch, not with the whole table.
        current = _objective_curves(tuning_job, max_epoch=latest_epoch, training_job_ids=[training_job.id]).get(
            training_job.id, []
        )
        stop = _auto_decision(training_job, tuning_job, current, latest_epoch, direction, auto_rule())
        reason = StopReason.EARLY_STOPPING
    else:
        return
    if stop:
        locked = TrainingJob.objects.select_for_update(no_key=True).get(pk=training_job.id)
        if locked.status == TrainingJobStatus.IN_PROGRESS:
            _request_training_job_stop(locked, reason)


def _auto_decision(
    training_job: TrainingJob,
    tuning_job: TuningJob,
    current: list[float],
    latest_epoch: int,
    direction: Direction,
    rule: EarlyStoppingRule,
) -> bool:
    """`rule`'s decision on the job's latest epoch, given what it reads of the earlier jobs, read as it needs it."""
    epoch = len(current)
    if isinstance(rule, LeaderEnvelopeRule):
        leaders = _leaders(training_job, tuning_job, rule.leader_epoch(epoch), rule.leaders, direction)
        return rule.should_stop_given(
            current,
            leaders,
            direction,
            lambda: _previous_running_averages(training_job, tuning_job, epoch, latest_epoch),
        )
    assert isinstance(rule, RunningAverageRule), "every rule in RULES is one of the two kinds"
    averages = _previous_running_averages(training_job, tuning_job, epoch, latest_epoch)
    return rule.should_stop_given_averages(current, averages, direction)


def _leaders(
    training_job: TrainingJob, tuning_job: TuningJob, epoch: int, count: int, direction: Direction
) -> list[Leader]:
    """`leaders_at(previous, ended, epoch, count, direction)` for the jobs started before `training_job`.

    Ended means Completed: the program ran to its own end, so its final
    objective is its last value. The database orders the candidates (a
    non-finite final value leads nothing), so a decision reads `count` rows and
    their first `epoch` values, however many jobs ran before.
    """
    order = "-final_objective_value" if direction == Direction.MAXIMIZE else "final_objective_value"
    chosen = list(
        TrainingJob.objects.filter(
            tuning_job_id=tuning_job.id,
            sequence__lt=training_job.sequence,
            status=TrainingJobStatus.COMPLETED,
            epochs_run__gte=epoch,
            final_objective_value__isnull=False,
        )
        .exclude(final_objective_value__in=[math.nan, math.inf, -math.inf])
        .order_by(order, "sequence")
        .values_list("id", "epochs_run")[:count]
    )
    curves = _objective_curves(tuning_job, max_epoch=epoch, training_job_ids=[job_id for job_id, _ in chosen])
    return [Leader(best_value(curves.get(job_id, []), direction), epochs_run) for job_id, epochs_run in chosen]


def _previous_running_averages(
    training_job: TrainingJob, tuning_job: TuningJob, epochs: int, latest_epoch: int
) -> list[float]:
    """`running_averages(previous, epochs)` of the jobs started before `training_job`, aggregated by the database.

    A previous curve is an earlier job's objective values up to `latest_epoch`.
    One with exactly `epochs` values is averaged in SQL, so a batch costs one
    row per earlier job instead of its whole curve; one with more (the current
    job skipped epochs) is averaged over its first `epochs` values, so it is
    read. Min and max tell whether all values are finite: NaN sorts above every
    number, in PostgreSQL and as SQLite's text 'NaN' (jobs.fields).
    """
    if epochs == 0:
        return []
    earlier = TrainingJob.objects.filter(tuning_job_id=tuning_job.id, sequence__lt=training_job.sequence).values("id")
    rows = (
        MetricSample.objects.filter(
            training_job_id__in=earlier, metric_name=tuning_job.objective_metric_name, epoch__lte=latest_epoch
        )
        .values("training_job_id")
        .annotate(count=Count("id"), mean=Avg("value"), low=Min("value"), high=Max("value"))
        .order_by()
    )
    averages, longer = [], []
    for row in rows:
        if row["count"] > epochs:
            longer.append(row["training_job_id"])
        elif row["count"] == epochs and math.isfinite(row["low"]) and math.isfinite(row["high"]):
            averages.append(row["mean"])
    if longer:
        curves = _objective_curves(tuning_job, max_epoch=latest_epoch, training_job_ids=longer)
        averages += running_averages(list(curves.values()), epochs)
    return averages


def _objective_curves(
    tuning_job: TuningJob, max_epoch: int | None = None, training_job_ids: Sequence[int] | None = None
) -> dict[int, list[float]]:
    """Training jobs' objective values in epoch order (up to `max_epoch`), in one query."""
    curves: dict[int, list[float]] = {}
    samples = MetricSample.objects.filter(tuning_job=tuning_job, metric_name=tuning_job.objective_metric_name)
    if training_job_ids is not None:
        samples = samples.filter(training_job_id__in=training_job_ids)
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
    _refuse_imported(training_job.tuning_job, "stop")
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
    if result.model_artifact_uri:
        training_job.model_artifact_uri = result.model_artifact_uri
    if result.secondary_status:
        training_job.secondary_status = result.secondary_status
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


# A SageMaker job outlives the worker watching it: when that worker is lost, another
# one re-attaches to it, at most this many times. A job whose watchers keep dying is
# more likely killing them (memory, a bug) than unlucky.
SAGEMAKER_REATTACH_LIMIT = 3


def training_jobs_reap_stale(*, now: datetime | None = None) -> list[int]:
    """Fail running training jobs whose worker stopped sending heartbeats.

    The worker died (killed, machine lost) so nothing else will ever end
    these jobs; failing them lets their tuning jobs carry on. A SageMaker job
    did not die with it, though: it is offered to another worker to re-attach
    (see _reap_sagemaker_training_job). Returns the jobs that were ended.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.TUNEBOARD_HEARTBEAT_TIMEOUT)
    stale = TrainingJob.objects.filter(
        status__in=ACTIVE_STATUSES, started_at__isnull=False, heartbeat_at__lt=cutoff
    ).select_related("tuning_job__algorithm")
    reaped = []
    for training_job in stale:
        if training_job.tuning_job.algorithm.backend == Backend.SAGEMAKER and training_job.remote_name:
            if not _reap_sagemaker_training_job(training_job, now):
                continue
        elif training_job.status == TrainingJobStatus.STOPPING:
            # It was being stopped anyway (an outside trainer that quit
            # without acknowledging): the stop has happened.
            training_job_finish(
                training_job_id=training_job.id,
                result=RunResult(outcome=Outcome.STOPPED, exit_code=None, stop_cause=StopCause.REQUESTED),
            )
        else:
            reason = (
                f"The worker running this job ({training_job.worker or 'unknown'}) stopped responding: "
                f"no heartbeat since {training_job.heartbeat_at.isoformat()}."
            )
            training_job_fail(training_job_id=training_job.id, reason=reason)
        reaped.append(training_job.id)
    if reaped:
        logger.warning("failed %d training job(s) whose worker was lost: %s", len(reaped), reaped)
    return reaped


def _reap_sagemaker_training_job(training_job: TrainingJob, now: datetime) -> bool:
    """Offer a SageMaker job whose watcher was lost to another worker; True if it was ended instead.

    Its run task is sent again and the worker that gets it re-attaches
    (training_job_reattach). A job still awaiting its re-attach (no training
    worker took the task) gets the task again without using up an attempt.
    Past SAGEMAKER_REATTACH_LIMIT it is ended here and asked to stop there,
    so that it does not train on, and bill, unwatched.
    """
    awaiting = training_job.awaiting_reattach
    attempt = training_job.reattach_count + (0 if awaiting else 1)
    if attempt <= SAGEMAKER_REATTACH_LIMIT:
        with transaction.atomic():
            # Conditional on the row as read, so that of two reapers only one offers it.
            offered = TrainingJob.objects.filter(
                pk=training_job.id,
                status__in=ACTIVE_STATUSES,
                worker=training_job.worker,
                heartbeat_at=training_job.heartbeat_at,
            ).update(awaiting_reattach=True, reattach_count=attempt, worker="", heartbeat_at=now)
            if offered:
                _dispatch_run(training_job.id, now)
        if offered and not awaiting:
            logger.warning(
                "the worker %s watching SageMaker training job %s was lost: re-attach %d of %d",
                training_job.worker,
                training_job.remote_name,
                attempt,
                SAGEMAKER_REATTACH_LIMIT,
            )
        return False
    training_job_id, remote_name = training_job.id, training_job.remote_name
    stopped = _stop_sagemaker_training_job(remote_name)
    if training_job.status == TrainingJobStatus.STOPPING:
        training_job_finish(
            training_job_id=training_job_id,
            result=RunResult(outcome=Outcome.STOPPED, exit_code=None, stop_cause=StopCause.REQUESTED),
        )
    else:
        reason = (
            f"The worker watching SageMaker training job {remote_name} ({training_job.worker or 'none'}) stopped "
            f"responding: no heartbeat since {training_job.heartbeat_at.isoformat()}, "
            f"after {SAGEMAKER_REATTACH_LIMIT} re-attaches; {stopped}"
        )
        training_job_fail(training_job_id=training_job_id, reason=reason)
    return True


def _stop_sagemaker_training_job(remote_name: str) -> str:
    """StopTrainingJob, best effort: says how it went, for the failure reason."""
    from jobs import aws

    try:
        aws.client("sagemaker").stop_training_job(TrainingJobName=remote_name)
    except (ClientError, BotoCoreError) as exc:
        logger.warning("could not stop SageMaker training job %s: %s", remote_name, exc)
        return f"stopping it there failed ({describe_error(exc)}): check it in the SageMaker console."
    return "it was asked to stop on SageMaker."


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
        TuningJob.objects.filter(status__in=[TuningJobStatus.IN_PROGRESS, TuningJobStatus.STOPPING])
        .filter(source=TuningJobSource.NATIVE)
        .values_list("id", flat=True)
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


# --- Access keys --------------------------------------------------------------------


def access_key_validate(*, user, team, description: str = "") -> None:
    """The rules for a new key, for forms to show before anything is created."""
    from jobs.models import TeamMember

    errors = {}
    if team is None and not user.is_staff:
        errors["team"] = ["Choose the team that tuning jobs created with this key belong to."]
    elif team is not None and not user.is_staff and not TeamMember.objects.filter(team=team, user=user).exists():
        errors["team"] = [f"{user.get_username()} is not a member of {team.name}."]
    if len(description) > 200:
        errors["description"] = ["Use at most 200 characters."]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def access_key_create(*, user, team=None, description: str = ""):
    """A new SigV4 access key for the SageMaker-compatible endpoint; returns (key, secret).

    The secret is returned here only: it is stored encrypted and never shown
    again. A key acts in one team (its tuning jobs are created there), so
    a user may pick only a team they belong to; staff may also pick none.
    """
    from jobs.models import AccessKey
    from jobs.sagemaker_api import keys

    access_key_validate(user=user, team=team, description=description)
    secret = keys.new_secret()
    access_key = AccessKey.objects.create(
        access_key_id=keys.new_access_key_id(),
        encrypted_secret=keys.encrypt_secret(secret),
        user=user,
        team=team,
        description=description,
    )
    return access_key, secret


@transaction.atomic
def tuning_job_create_from_request(*, config: TuningJobConfig, request_body: dict, owner) -> TuningJob:
    """CreateHyperParameterTuningJob through the SageMaker-compatible endpoint, with an access key's user.

    The request body is kept whole, so Describe can echo the members Tuneboard
    has no use for (RoleArn, ResourceConfig, ...), as SageMaker does.
    """
    tuning_job = tuning_job_create(config=config, owner=owner)
    tuning_job.sagemaker_request = request_body
    tuning_job.save(update_fields=["sagemaker_request", "updated_at"])
    return tuning_job


def access_key_revoke(*, access_key_id: str) -> bool:
    """Revoke a key at once; False if it was already revoked (revoking twice is harmless)."""
    from jobs.models import AccessKey

    return bool(
        AccessKey.objects.filter(access_key_id=access_key_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
    )


# last_used_at is for people ("is this key still in use?"): minute precision
# is plenty, and a write per request would double the cost of a busy client.
ACCESS_KEY_USE_RESOLUTION = timedelta(minutes=1)


def access_key_mark_used(*, access_key_id: str, now: datetime | None = None) -> None:
    from django.db.models import Q

    from jobs.models import AccessKey

    now = now or timezone.now()
    AccessKey.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - ACCESS_KEY_USE_RESOLUTION),
        access_key_id=access_key_id,
    ).update(last_used_at=now)


# --- SageMaker backend ----------------------------------------------------------


def training_job_set_remote_name(*, training_job_id: int, remote_name: str) -> None:
    """Record a job's name on SageMaker before creating it there, so a worker lost
    right after CreateTrainingJob still leaves the name to find the job by."""
    TrainingJob.objects.filter(pk=training_job_id).update(remote_name=remote_name, updated_at=timezone.now())


def training_job_record_secondary_status(*, training_job_id: int, secondary_status: str) -> None:
    """SageMaker's SecondaryStatus of a running job (Downloading, Training, Uploading...)."""
    TrainingJob.objects.filter(pk=training_job_id, status__in=ACTIVE_STATUSES).update(
        secondary_status=secondary_status[:32], updated_at=timezone.now()
    )


# --- SageMaker import -------------------------------------------------------------
#
# An imported tuning job is a record of work SageMaker did: Tuneboard shows,
# compares and reports it, but never runs, stops or advances it. Importing is
# an upsert keyed by the tuning job's name (and checked against its ARN), so
# importing again brings the record up to date and never duplicates it.


class ImportedTuningJobReadOnly(ValidationError):
    """An action that would change an imported tuning job; a ValidationError so every entry point shows it."""


def _refuse_imported(tuning_job: TuningJob, action: str) -> None:
    if tuning_job.is_imported:
        raise ImportedTuningJobReadOnly(
            {
                "tuning_job": [
                    f"{tuning_job.name} was imported from SageMaker and is read-only here: "
                    f"{action} it on SageMaker, then import it again."
                ]
            }
        )


def native_name_taken_message(name: str) -> str:
    return f"A tuning job named {name!r} was created in Tuneboard; a SageMaker job cannot replace it."


@dataclass(frozen=True)
class ImportOutcome:
    tuning_job: TuningJob
    created: bool
    training_jobs_created: int
    training_jobs_updated: int
    metric_samples: int


@transaction.atomic
def tuning_job_import(
    *,
    imported: "ImportedTuningJob",
    training_jobs: Sequence["ImportedTrainingJob"],
    metrics: dict[str, list[MetricRecord]],
    team=None,
    owner=None,
) -> ImportOutcome:
    """Store or update a SageMaker tuning job, the given training jobs and their metric samples.

    Training jobs not given are left as they are: the caller leaves out the
    ones that ended before the last import, since SageMaker never changes an
    ended job. `team` None keeps the team of an earlier import.
    """
    name = imported.config.name
    tuning_job = TuningJob.objects.select_for_update(no_key=True).filter(name=name).first()
    if tuning_job is not None and not tuning_job.is_imported:
        raise ValidationError({"name": [native_name_taken_message(name)]})
    if tuning_job is not None and tuning_job.source_arn != imported.arn:
        raise ValidationError({"name": [f"{name} was imported from {tuning_job.source_arn}, not from {imported.arn}."]})
    names = [job.name for job in training_jobs]
    taken = TrainingJob.objects.filter(name__in=names)
    if tuning_job is not None:
        taken = taken.exclude(tuning_job=tuning_job)
    taken = sorted(taken.values_list("name", flat=True))
    if taken:
        raise ValidationError({"training_jobs": [f"Training jobs of other tuning jobs have these names: {taken}."]})

    fields = _imported_tuning_job_fields(imported)
    created = tuning_job is None
    previous_status = None if created else tuning_job.status
    if created:
        try:
            with transaction.atomic():
                tuning_job = TuningJob.objects.create(
                    name=name, owner=owner, team=team, algorithm=_imported_algorithm(imported), **fields
                )
        except IntegrityError:
            raise ValidationError({"name": [f"{name} is being imported by someone else; try again."]}) from None
    else:
        for field_name, value in fields.items():
            setattr(tuning_job, field_name, value)
        if team is not None:
            tuning_job.team = team
        tuning_job.save()
    # auto_now_add ignores a given value; the record keeps SageMaker's time.
    TuningJob.objects.filter(pk=tuning_job.pk).update(created_at=imported.created_at)
    tuning_job.warm_start_parents.set(TuningJob.objects.filter(name__in=imported.config.warm_start_parents))

    stored, updated = _store_imported_training_jobs(tuning_job, training_jobs)
    samples = _store_imported_metrics(tuning_job, stored, metrics)
    _update_best_training_job(tuning_job)
    tuning_job.refresh_from_db()

    if created:
        realtime.publish(realtime.Event(realtime.TUNING_JOB_CREATED, tuning_job.id, {"name": tuning_job.name}))
    elif previous_status != tuning_job.status:
        realtime.publish(
            realtime.Event(
                realtime.TUNING_JOB_STATUS,
                tuning_job.id,
                {"status": tuning_job.status, "failure_reason": tuning_job.failure_reason},
            )
        )
    return ImportOutcome(
        tuning_job=tuning_job,
        created=created,
        training_jobs_created=len(training_jobs) - updated,
        training_jobs_updated=updated,
        metric_samples=samples,
    )


def _imported_tuning_job_fields(imported: "ImportedTuningJob") -> dict:
    config = imported.config
    return {
        "source": TuningJobSource.SAGEMAKER_IMPORT,
        "source_arn": imported.arn,
        "strategy": config.strategy,
        "objective_metric_name": config.objective_metric_name,
        "objective_type": config.objective_type,
        "parameter_ranges": config.parameter_ranges,
        "static_hyperparameters": dict(config.static_hyperparameters),
        "max_training_jobs": config.max_training_jobs,
        "max_parallel_training_jobs": config.max_parallel_training_jobs,
        "max_runtime_seconds": config.max_runtime_seconds,
        "training_max_runtime_seconds": config.training_max_runtime_seconds,
        "early_stopping_type": config.early_stopping_type,
        "random_seed": config.random_seed,
        "hyperband_min_resource": config.hyperband_min_resource,
        "hyperband_max_resource": config.hyperband_max_resource,
        "target_objective_value": config.target_objective_value,
        "max_jobs_not_improving": config.max_jobs_not_improving,
        "complete_on_convergence": config.complete_on_convergence,
        "warm_start_type": config.warm_start_type,
        "s3_output_path": imported.s3_output_path,
        "status": imported.status,
        "failure_reason": imported.failure_reason[:4000],
        "ended_at": imported.ended_at,
    }


def _imported_algorithm(imported: "ImportedTuningJob") -> Algorithm:
    """The algorithm with the job's TrainingImage (or AlgorithmName); registered for the sagemaker backend if new."""
    if imported.training_image:
        algorithm = Algorithm.objects.filter(image_uri=imported.training_image).first()
    else:
        algorithm = Algorithm.objects.filter(sagemaker_config__AlgorithmName=imported.algorithm_name).first()
    if algorithm is not None:
        return algorithm
    base = imported.algorithm_registration_name
    name, suffix = base, 1
    while Algorithm.objects.filter(name=name).exists():
        suffix += 1
        name = f"{base}-{suffix}"
    return Algorithm.objects.create(
        name=name,
        description=f"Registered by the import of SageMaker tuning job {imported.config.name}.",
        backend=Backend.SAGEMAKER,
        metric_definitions=imported.metric_definitions,
        image_uri=imported.training_image or None,
        sagemaker_config=imported.sagemaker_config,
    )


def _store_imported_training_jobs(
    tuning_job: TuningJob, training_jobs: Sequence["ImportedTrainingJob"]
) -> tuple[dict[str, TrainingJob], int]:
    """Upsert by name; new jobs are numbered after the stored ones, in SageMaker's creation order."""
    existing = {job.name: job for job in tuning_job.training_jobs.select_for_update(no_key=True)}
    sequence = max((job.sequence for job in existing.values()), default=0)
    now = timezone.now()
    stored, new, status_changed, created_times = {}, [], [], {}
    for imported in sorted(training_jobs, key=lambda job: (job.created_at, job.name)):
        job = existing.get(imported.name)
        if job is None:
            sequence += 1
            job = TrainingJob(name=imported.name, tuning_job=tuning_job, sequence=sequence)
            new.append(job)
        elif job.status != imported.status:
            status_changed.append(job)
        job.remote_name = imported.name
        job.status = imported.status
        job.secondary_status = imported.secondary_status[:32]
        job.stop_reason = imported.stop_reason
        job.failure_reason = imported.failure_reason[:4000]
        job.hyperparameters = imported.hyperparameters
        job.tuned_hyperparameters = imported.tuned_hyperparameters
        job.final_objective_value = imported.final_objective_value
        job.objective_status = imported.objective_status
        job.model_artifact_uri = imported.model_artifact_uri
        job.started_at = imported.started_at
        job.ended_at = imported.ended_at
        job.updated_at = now
        created_times[imported.name] = imported.created_at
        stored[imported.name] = job
    TrainingJob.objects.bulk_create(new)
    for job in stored.values():
        job.created_at = created_times[job.name]
    TrainingJob.objects.bulk_update(
        list(stored.values()),
        [
            "remote_name", "status", "secondary_status", "stop_reason", "failure_reason", "hyperparameters",
            "tuned_hyperparameters", "final_objective_value", "objective_status", "model_artifact_uri",
            "started_at", "ended_at", "created_at", "updated_at",
        ],
    )  # fmt: skip
    for job in new:
        _publish_training_job(realtime.TRAINING_JOB_CREATED, job)
    for job in status_changed:
        _publish_training_job(realtime.TRAINING_JOB_STATUS, job)
    return stored, len(stored) - len(new)


def _store_imported_metrics(
    tuning_job: TuningJob, training_jobs: dict[str, TrainingJob], metrics: dict[str, list[MetricRecord]]
) -> int:
    """One upsert for every sample: a sample is unique per training job, metric and epoch."""
    samples = [
        MetricSample(
            tuning_job_id=tuning_job.id,
            training_job_id=training_jobs[name].id,
            metric_name=record.metric_name,
            epoch=record.epoch,
            value=record.value,
            timestamp=record.timestamp,
        )
        for name, records in metrics.items()
        if name in training_jobs
        for record in records
    ]
    MetricSample.objects.bulk_create(
        samples,
        update_conflicts=True,
        unique_fields=["training_job", "metric_name", "epoch"],
        update_fields=["value", "timestamp"],
    )
    for name, records in metrics.items():
        if name in training_jobs and records:
            epochs = max(record.epoch for record in records)
            TrainingJob.objects.filter(pk=training_jobs[name].id).update(epochs_run=epochs)
            realtime.publish(
                realtime.Event(realtime.METRICS_APPENDED, tuning_job.id, {"training_job": name, "count": len(records)})
            )
    return len(samples)
