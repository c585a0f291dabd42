"""A training job's claim, ending and interruption, without workers."""

import pytest

from jobs import services
from jobs.backends.base import Outcome, RunResult, StopCause
from jobs.models import ObjectiveStatus, StopReason, TrainingJobStatus
from tests.jobs.factories import run
from tests.jobs.services.helpers import advance, create

pytestmark = pytest.mark.django_db


def test_a_training_job_is_claimed_once(algorithm, django_capture_on_commit_callbacks):
    tuning_job = create(django_capture_on_commit_callbacks)
    job = advance(tuning_job, django_capture_on_commit_callbacks)[0]
    assert services.training_job_start(training_job_id=job.id, worker="a@h:1", log_path="") is not None
    assert services.training_job_start(training_job_id=job.id, worker="b@h:2", log_path="") is None


def test_finish_is_idempotent(algorithm, django_capture_on_commit_callbacks):
    tuning_job = create(django_capture_on_commit_callbacks)
    job = run(advance(tuning_job, django_capture_on_commit_callbacks)[0], [0.5])
    again = services.training_job_finish(
        training_job_id=job.id, result=RunResult(outcome=Outcome.FAILED, exit_code=1, failure_reason="late")
    )
    assert again.status == TrainingJobStatus.COMPLETED
    assert again.failure_reason == ""


def test_failed_run_keeps_the_reason(algorithm, django_capture_on_commit_callbacks):
    tuning_job = create(django_capture_on_commit_callbacks)
    job = run(
        advance(tuning_job, django_capture_on_commit_callbacks)[0],
        [],
        outcome=Outcome.FAILED,
        failure_reason="AlgorithmError: exit code 3: boom",
    )
    assert job.status == TrainingJobStatus.FAILED
    assert job.objective_status == ObjectiveStatus.FAILED
    assert "boom" in job.failure_reason


def test_training_max_runtime_ends_stopped_with_its_reason(algorithm, django_capture_on_commit_callbacks):
    tuning_job = create(django_capture_on_commit_callbacks)
    job = run(
        advance(tuning_job, django_capture_on_commit_callbacks)[0],
        [0.4],
        outcome=Outcome.STOPPED,
        stop_cause=StopCause.MAX_RUNTIME,
    )
    assert (job.status, job.stop_reason) == (TrainingJobStatus.STOPPED, StopReason.MAX_RUNTIME)
    assert job.objective_status == ObjectiveStatus.SUCCEEDED


def test_interrupt_stops_only_the_jobs_of_that_worker(algorithm, django_capture_on_commit_callbacks):
    tuning_job = create(django_capture_on_commit_callbacks)
    mine, other = advance(tuning_job, django_capture_on_commit_callbacks)
    services.training_job_start(training_job_id=mine.id, worker="training@a:1", log_path="")
    services.training_job_start(training_job_id=other.id, worker="training@ab:2", log_path="")
    with django_capture_on_commit_callbacks(execute=False):
        assert services.training_jobs_interrupt(worker_node="training@a") == 1
    mine.refresh_from_db()
    other.refresh_from_db()
    assert (mine.status, mine.stop_reason) == (TrainingJobStatus.STOPPING, StopReason.WORKER_SHUTDOWN)
    assert other.status == TrainingJobStatus.IN_PROGRESS
