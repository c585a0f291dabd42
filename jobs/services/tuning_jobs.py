"""Creating, stopping and advancing tuning jobs: the reconcile step lives here."""

import math
import random
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs import realtime, selectors
from jobs.backends.base import is_infrastructure_failure
from jobs.config import RANDOM_SEED_MAX, TuningJobConfig, validate_tuning_job_config
from jobs.models import (
    Backend,
    ObjectiveStatus,
    StopReason,
    Tag,
    TrainingJob,
    TrainingJobStatus,
    TuningJob,
    TuningJobStatus,
)
from jobs.services import common, dispatch, quotas
from jobs.tuning import criteria
from jobs.tuning.space import SearchSpace, SearchSpaceError, format_value
from jobs.tuning.strategies import Direction, Observation, make_strategy

# A tuning job whose first training jobs all fail is almost surely broken
# (a bad static hyperparameter, a crashing program); SageMaker also gives up
# early rather than burning through MaxNumberOfTrainingJobs failures.
FAILED_TRAINING_JOBS_BEFORE_GIVING_UP = 3


@transaction.atomic
def tuning_job_create(*, config: TuningJobConfig, owner=None, check_team_role: bool = True) -> TuningJob:
    """Validate `config`, store the tuning job, and start advancing it after commit.

    The owner must be an operator of the chosen team, unless the caller is
    trusted like staff (`check_team_role=False`: management commands, run by
    whoever administers the machine).
    """
    validated = validate_tuning_job_config(config, user=owner if check_team_role else None)
    if check_team_role and owner is not None and not selectors.can_create_in(user=owner, team=validated.team):
        raise ValidationError({"team_name": ["You can only create tuning jobs in a team where you are an operator."]})
    if validated.team is not None:
        quotas.check_tuning_job_quotas(
            team=validated.team, max_parallel_training_jobs=config.max_parallel_training_jobs
        )
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
    Tag.objects.bulk_create(Tag(tuning_job=tuning_job, key=key, value=value) for key, value in config.tags.items())
    realtime.publish(realtime.Event(realtime.TUNING_JOB_CREATED, tuning_job.id, {"name": tuning_job.name}))
    dispatch.enqueue_advance(tuning_job.id)
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
        max_retry_attempts=config.max_retry_attempts or 0,
        early_stopping_type=config.early_stopping_type,
        random_seed=seed,
        hyperband_min_resource=validated.hyperband_min_resource,
        hyperband_max_resource=validated.hyperband_max_resource,
        target_objective_value=config.target_objective_value,
        max_jobs_not_improving=config.max_jobs_not_improving,
        complete_on_convergence=config.complete_on_convergence,
        warm_start_type=config.warm_start_type,
        input_channels=dict(config.input_channels),
        s3_output_path=config.s3_output_path,
    )


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


@transaction.atomic
def tuning_job_stop(*, tuning_job_id: int) -> TuningJob:
    """StopHyperParameterTuningJob: stop every running training job, then end Stopped.

    Stopping a tuning job that has already ended is a no-op, as repeating a
    stop request must be harmless.
    """
    tuning_job = TuningJob.objects.select_for_update(no_key=True).get(pk=tuning_job_id)
    common.refuse_imported(tuning_job, "stop")
    if tuning_job.status != TuningJobStatus.IN_PROGRESS:
        return tuning_job
    _set_tuning_job_status(tuning_job, TuningJobStatus.STOPPING)
    for training_job in tuning_job.training_jobs.filter(status=TrainingJobStatus.IN_PROGRESS):
        common.request_training_job_stop(training_job, StopReason.USER_REQUEST)
    dispatch.enqueue_advance(tuning_job.id)
    return tuning_job


@transaction.atomic
def tuning_job_delete(*, tuning_job_id: int) -> None:
    """DeleteHyperParameterTuningJob: remove an ended tuning job, and with it its training jobs and their metrics.

    SageMaker keeps the training jobs of a deleted tuning job; here a training
    job cannot outlive its tuning job, so they go too. A tuning job still
    running is refused; an imported one may go whatever its status, since
    nothing runs it here.
    """
    # FOR UPDATE, not NO KEY: the row goes, so nothing may take a key share on it meanwhile.
    tuning_job = TuningJob.objects.select_for_update().get(pk=tuning_job_id)
    if tuning_job.is_active and not tuning_job.is_imported:
        raise ValidationError({"status": [f"{tuning_job.name} is {tuning_job.status}: stop it first."]})
    tuning_job.delete()


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
                common.request_training_job_stop(training_job, StopReason.TUNING_JOB_LIMIT)

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
    state = criteria.evaluate(
        selectors.tuning_job_completion_criteria(tuning_job=tuning_job), finals, Direction(tuning_job.objective_type)
    )
    changed = []
    if state.converged and tuning_job.convergence_detected_at is None:
        tuning_job.convergence_detected_at = now
        changed.append("convergence_detected_at")
    if state.reason and not tuning_job.completion_reason:
        tuning_job.completion_reason = state.reason
        changed.append("completion_reason")
        for training_job in training_jobs:
            if training_job.status == TrainingJobStatus.IN_PROGRESS:
                common.request_training_job_stop(training_job, StopReason.COMPLETION_CRITERIA)
    if changed:
        tuning_job.save(update_fields=[*changed, "updated_at"])


def _launch_training_jobs(tuning_job: TuningJob, training_jobs: list[TrainingJob], running: int) -> list[TrainingJob]:
    space = SearchSpace.from_dicts(tuning_job.parameter_ranges)
    strategy = make_strategy(tuning_job.strategy, space, Direction(tuning_job.objective_type), tuning_job.random_seed)
    limit = tuning_job.max_training_jobs
    if strategy.max_training_jobs() is not None:
        limit = min(limit, strategy.max_training_jobs())
    capacity = min(tuning_job.max_parallel_training_jobs - running, limit - len(training_jobs))
    if capacity > 0 and tuning_job.team is not None:
        capacity = min(capacity, quotas.training_job_capacity(tuning_job.team))
    if capacity <= 0:
        return []
    observations = _warm_start_observations(tuning_job, space) + [_observation(job, space) for job in training_jobs]
    proposals = strategy.suggest(observations, capacity)
    statics = {**tuning_job.algorithm.static_hyperparameters, **tuning_job.static_hyperparameters}
    # As SageMaker: a training job gets the tags its tuning job has when it is launched.
    tags = list(tuning_job.tags.values_list("key", "value")) if proposals else []
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
        Tag.objects.bulk_create(Tag(training_job=training_job, key=key, value=value) for key, value in tags)
        common.publish_training_job(realtime.TRAINING_JOB_CREATED, training_job)
        if tuning_job.algorithm.backend != Backend.EXTERNAL:
            # An external job waits for a trainer to claim it instead.
            dispatch.dispatch_run(training_job.id)
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
    # A failure of the worker's (its disk full) says nothing about the program: only the
    # program's own failures count, or one bad worker would end every tuning job it touched.
    failed = sum(
        job.status == TrainingJobStatus.FAILED and not is_infrastructure_failure(job.failure_reason)
        for job in training_jobs
    )
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
