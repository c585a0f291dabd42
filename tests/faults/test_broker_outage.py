"""Fault suite, broker outage: Redis killed under running and queued training jobs, back empty.

Issue 14's second row: Redis killed and back after 10 s without persistence used
to leave the queued jobs InProgress, never started, for ten minutes. Here a
Redis of the test's own (the broker and the channel layer) is killed with two
jobs running and two queued, and started again empty; real Celery workers,
beat and training processes. The running jobs must finish on their own with
every epoch stored, the lost ones be sent again and run once.
"""

import time

import pytest

from bench.stack import OwnRedis, create_tuning_job
from jobs.models import TrainingJob, TrainingJobStatus, TuningJob, TuningJobStatus
from tests.conftest import Workers
from tests.jobs.factories import CONVERGING_PROGRAM, write_program
from tests.jobs.waiting import wait_for

pytestmark = pytest.mark.integration

EPOCHS = 12
OUTAGE_SECONDS = 5


@pytest.fixture
def broker():
    server = OwnRedis()
    server.start()
    yield server
    server.close()


@pytest.fixture
def outage_workers(transactional_db, broker, jobs_dir, tmp_path):
    (tmp_path / "worker-logs").mkdir()
    pool = Workers(broker.url, jobs_dir, tmp_path / "worker-logs", extra_env={})
    pool.env.update(TUNEBOARD_RECONCILE_INTERVAL="1", TUNEBOARD_REDISPATCH_AFTER="2")
    yield pool
    pool.stop_all()


def test_running_jobs_outlive_a_broker_that_comes_back_empty(broker, outage_workers, tmp_path):
    workers = outage_workers
    program = write_program(tmp_path / "programs", "converging.py", CONVERGING_PROGRAM)
    create_tuning_job(workers.env, program=program, epochs=EPOCHS, jobs=4)
    workers.start_worker("control", 1)
    workers.start_worker("training", 2)
    workers.start_beat(tmp_path)
    tuning_job = TuningJob.objects.get(name="outage")
    wait_for(
        lambda: TrainingJob.objects.filter(tuning_job=tuning_job, epochs_run__gte=3).count() == 2,
        workers,
        what="two jobs running, two queued",
    )
    broker.kill()
    time.sleep(OUTAGE_SECONDS)
    broker.start()

    wait_for(
        lambda: TuningJob.objects.get(pk=tuning_job.pk).status == TuningJobStatus.COMPLETED,
        workers,
        timeout=120,
        what="the tuning job to complete",
    )
    jobs = list(TrainingJob.objects.filter(tuning_job=tuning_job))
    assert [(job.status, job.failure_reason, job.retry_count) for job in jobs] == [
        (TrainingJobStatus.COMPLETED, "", 0)
    ] * 4, workers.logs()
    for job in jobs:
        assert sorted(job.metric_samples.values_list("epoch", flat=True)) == list(range(1, EPOCHS + 1))
