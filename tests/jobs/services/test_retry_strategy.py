"""SageMaker's RetryStrategy: what runs again after a fault that was not the program's, and what never does."""

from datetime import UTC, datetime

import pytest

from jobs import selectors, services
from jobs.backends.base import Outcome, RunResult, StopCause
from jobs.backends.metrics import MetricRecord
from jobs.models import MetricSample, ObjectiveStatus, StopReason, TrainingJob, TrainingJobStatus
from tests.jobs.factories import run
from tests.jobs.services.helpers import advance, create

pytestmark = pytest.mark.django_db

LOST = "InternalServerError: The worker running this job (w@host:1) stopped responding."


def first_job(callbacks, **overrides) -> TrainingJob:
    return advance(create(callbacks, **overrides), callbacks)[0]


def run_and_capture(callbacks, job, values, **result):
    """Run, then send what the run sends after commit (to the test broker; no worker takes it)."""
    with callbacks(execute=True):
        run(job, values, **result)
    return TrainingJob.objects.get(pk=job.pk)


def test_an_internal_error_runs_the_job_again_from_scratch_until_the_attempts_are_used(
    algorithm, django_capture_on_commit_callbacks
):
    callbacks = django_capture_on_commit_callbacks
    job = first_job(callbacks, max_retry_attempts=2)
    for attempt in (1, 2):
        job = run_and_capture(callbacks, job, [0.4, 0.5], outcome=Outcome.FAILED, failure_reason=LOST)
        assert (job.status, job.retry_count, job.started_at, job.worker) == (
            TrainingJobStatus.IN_PROGRESS, attempt, None, ""
        )  # fmt: skip
        assert job.objective_status == ObjectiveStatus.PENDING and job.final_objective_value is None
        assert not MetricSample.objects.filter(training_job=job).exists()
        assert job.dispatched_at is not None  # its run task, sent again
    job = run_and_capture(callbacks, job, [0.4], outcome=Outcome.FAILED, failure_reason=LOST)
    assert (job.status, job.retry_count, job.failure_reason) == (TrainingJobStatus.FAILED, 2, LOST)
    counters = selectors.tuning_job_counters(tuning_job=job.tuning_job)
    assert (counters.retryable_error, counters.non_retryable_error) == (1, 0)


@pytest.mark.parametrize(
    "ending",
    [
        {"outcome": Outcome.FAILED, "failure_reason": "AlgorithmError: exit code 1: boom"},
        {"outcome": Outcome.STOPPED, "stop_cause": StopCause.MAX_RUNTIME},
        {"outcome": Outcome.COMPLETED},
    ],
    ids=["the program failed", "max runtime", "completed"],
)
def test_endings_of_the_program_s_own_are_never_retried(algorithm, django_capture_on_commit_callbacks, ending):
    job = first_job(django_capture_on_commit_callbacks, max_retry_attempts=3)
    ended = run_and_capture(django_capture_on_commit_callbacks, job, [0.5], **ending)
    assert ended.status != TrainingJobStatus.IN_PROGRESS and ended.retry_count == 0
    assert selectors.tuning_job_counters(tuning_job=ended.tuning_job).retryable_error == 0


@pytest.mark.parametrize("reason", [StopReason.USER_REQUEST, StopReason.EARLY_STOPPING])
def test_user_stops_and_early_stops_are_never_retried(algorithm, django_capture_on_commit_callbacks, reason):
    callbacks = django_capture_on_commit_callbacks
    job = first_job(callbacks, max_retry_attempts=3)
    assert services.training_job_start(training_job_id=job.id, worker="w@host:1", log_path="")
    with callbacks(execute=False):
        services.training_job_stop(training_job_id=job.id, reason=reason)
        ended = services.training_job_finish(
            training_job_id=job.id,
            result=RunResult(outcome=Outcome.STOPPED, exit_code=-15, stop_cause=StopCause.REQUESTED),
        )
    assert (ended.status, ended.stop_reason, ended.retry_count) == (TrainingJobStatus.STOPPED, reason, 0)


def stopped_by_shutdown(callbacks, job) -> TrainingJob:
    assert services.training_job_start(training_job_id=job.id, worker="w@host:1", log_path="")
    with callbacks(execute=False):
        services.training_job_record_metrics(training_job_id=job.id, records=[_record(0.9)])
        services.training_jobs_interrupt(worker_node="w@host")
        return services.training_job_finish(
            training_job_id=job.id,
            result=RunResult(outcome=Outcome.STOPPED, exit_code=-15, stop_cause=StopCause.REQUESTED),
        )


def _record(value):
    return MetricRecord("validation:accuracy", 1, value, datetime.now(UTC))


def test_a_stop_by_a_worker_shutting_down_is_retried(algorithm, django_capture_on_commit_callbacks):
    callbacks = django_capture_on_commit_callbacks
    job = stopped_by_shutdown(callbacks, first_job(callbacks, max_retry_attempts=1))
    assert (job.status, job.retry_count, job.stop_reason) == (TrainingJobStatus.IN_PROGRESS, 1, "")


def test_a_stop_by_a_worker_shutting_down_never_sets_the_best_job(algorithm, django_capture_on_commit_callbacks):
    job = stopped_by_shutdown(django_capture_on_commit_callbacks, first_job(django_capture_on_commit_callbacks))
    assert (job.status, job.stop_reason) == (TrainingJobStatus.STOPPED, StopReason.WORKER_SHUTDOWN)
    assert job.objective_status == ObjectiveStatus.FAILED
    job.tuning_job.refresh_from_db()
    assert job.tuning_job.best_training_job is None


def test_a_lost_pool_process_ends_only_the_job_it_ran(algorithm, django_capture_on_commit_callbacks):
    callbacks = django_capture_on_commit_callbacks
    job = first_job(callbacks)
    assert services.training_job_start(training_job_id=job.id, worker="w@host:7", log_path="")
    with callbacks(execute=False):
        assert not services.training_job_worker_lost(training_job_id=job.id, worker="w@host:8", cause="SIGKILL")
        assert TrainingJob.objects.get(pk=job.pk).status == TrainingJobStatus.IN_PROGRESS
        assert services.training_job_worker_lost(training_job_id=job.id, worker="w@host:7", cause="signal 9")
        assert not services.training_job_worker_lost(training_job_id=job.id, worker="w@host:7", cause="again")
    ended = TrainingJob.objects.get(pk=job.pk)
    assert ended.status == TrainingJobStatus.FAILED
    assert (
        ended.failure_reason == "InternalServerError: The worker process running this job (w@host:7) was lost: signal 9"
    )
