"""Fault suite, lost workers: a training job whose worker dies is failed as SageMaker's
InternalServerError and retried as its RetryStrategy says.

Two ways a worker is lost, on real parts (Celery workers and beat, Redis,
PostgreSQL, training processes): its pool process is killed (the main
process hears of it at once) and the whole worker is killed (its heartbeat
lapses). Nothing here is timed; the detection times are in bench/faults.py.
"""

import os
import signal

import pytest

from jobs import services
from jobs.models import TrainingJob, TrainingJobStatus, TuningJob, TuningJobStatus
from tests.jobs.factories import CONVERGING_PROGRAM, register_algorithm, tuning_job_config, write_program
from tests.jobs.waiting import wait_for

pytestmark = pytest.mark.integration

EPOCHS = 12


@pytest.fixture
def program(tmp_path):
    path = write_program(tmp_path / "programs", "converging.py", CONVERGING_PROGRAM)
    register_algorithm(program=path, static_hyperparameters={"epochs": str(EPOCHS), "epoch_seconds": "0.25"})
    return path


def running_job(tuning_job, workers):
    return wait_for(
        lambda: TrainingJob.objects.filter(tuning_job=tuning_job, epochs_run__gte=2).first(),
        workers,
        what="a training job two epochs in",
    )


def pool_process(job) -> int:
    """The pid of the pool process that runs the job: its row names the worker as node:pid."""
    return int(job.worker.rsplit(":", 1)[1])


def assert_completed_once_each(tuning_job, count):
    jobs = list(TrainingJob.objects.filter(tuning_job=tuning_job))
    assert len(jobs) == count
    assert {job.status for job in jobs} == {TrainingJobStatus.COMPLETED}
    for job in jobs:
        assert sorted(job.metric_samples.values_list("epoch", flat=True)) == list(range(1, EPOCHS + 1))


def test_a_killed_pool_process_fails_its_job_at_once_and_the_job_is_retried(workers, program, tmp_path):
    workers.start_worker("control", 1)
    workers.start_worker("training", 1)
    # No beat: the reaper never runs, so only the worker's main process can have noticed.
    config = tuning_job_config(max_training_jobs=2, max_parallel_training_jobs=1, max_retry_attempts=1)
    tuning_job = services.tuning_job_create(config=config)
    job = running_job(tuning_job, workers)
    os.kill(pool_process(job), signal.SIGKILL)

    wait_for(lambda: TrainingJob.objects.get(pk=job.pk).retry_count == 1, workers, what="the job retried")
    wait_for(
        lambda: TuningJob.objects.get(pk=tuning_job.pk).status == TuningJobStatus.COMPLETED,
        workers,
        what="Completed",
    )
    assert_completed_once_each(tuning_job, 2)
    assert "was lost" in workers.logs()


def test_a_killed_worker_s_job_is_retried_on_another_worker(workers, program, tmp_path):
    workers.env["TUNEBOARD_HEARTBEAT_TIMEOUT"] = "3"  # shorter than the default 8 s, for a short test
    workers.start_worker("control", 1)
    workers.start_worker("training", 1, name="doomed")
    workers.start_beat(tmp_path)
    config = tuning_job_config(max_training_jobs=1, max_parallel_training_jobs=1, max_retry_attempts=2)
    tuning_job = services.tuning_job_create(config=config)
    job = running_job(tuning_job, workers)
    workers.kill("doomed")
    workers.start_worker("training", 1, name="survivor")

    wait_for(
        lambda: TuningJob.objects.get(pk=tuning_job.pk).status == TuningJobStatus.COMPLETED,
        workers,
        what="Completed",
    )
    job.refresh_from_db()
    assert job.retry_count == 1 and job.worker.startswith("survivor@")
    assert_completed_once_each(tuning_job, 1)


def test_without_retries_a_lost_worker_s_job_fails_as_an_internal_error(workers, program, tmp_path):
    workers.start_worker("control", 1)
    workers.start_worker("training", 1)
    tuning_job = services.tuning_job_create(config=tuning_job_config(max_training_jobs=1, max_parallel_training_jobs=1))
    job = running_job(tuning_job, workers)
    os.kill(pool_process(job), signal.SIGKILL)

    wait_for(lambda: not TrainingJob.objects.get(pk=job.pk).is_active, workers, what="the job ended")
    job.refresh_from_db()
    assert job.status == TrainingJobStatus.FAILED and job.retry_count == 0
    assert job.failure_reason.startswith("InternalServerError: The worker process running this job")
