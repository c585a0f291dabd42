"""Fault suite, broker outage: the broker killed under running and queued training jobs.

Issue 14's second row: Redis killed and back after 10 s without persistence used
to leave the queued jobs InProgress, never started, for ten minutes. Here a
broker of the test's own is killed (kill -9) with two jobs running and two
queued, and started again: a Redis (the broker and the channel layer) that comes
back empty, and a RabbitMQ that comes back with its durable queues and whatever
of them reached its disk. Real Celery workers, beat and training processes. The
running jobs must finish on their own with every epoch stored, the queued ones
run once each, whether their messages survived or are sent again.
"""

import time

import pytest

from bench.stack import OwnRabbitMQ, OwnRedis, create_tuning_job
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


@pytest.fixture
def rabbitmq():
    if not OwnRabbitMQ.available():
        pytest.skip("RabbitMQ (Debian's rabbitmq-server) is not installed")
    server = OwnRabbitMQ()
    server.start()
    yield server
    server.close()


@pytest.fixture
def rabbitmq_workers(transactional_db, rabbitmq, celery_broker, jobs_dir, tmp_path):
    """Workers with RabbitMQ as the Celery broker; Channels and the cache stay on the test Redis."""
    (tmp_path / "worker-logs").mkdir()
    pool = Workers(celery_broker, jobs_dir, tmp_path / "worker-logs", extra_env={"CELERY_BROKER_URL": rabbitmq.url})
    pool.env.update(TUNEBOARD_RECONCILE_INTERVAL="1", TUNEBOARD_REDISPATCH_AFTER="2")
    yield pool
    pool.stop_all()


def test_running_jobs_outlive_a_broker_that_comes_back_empty(broker, outage_workers, tmp_path):
    run_through_a_broker_outage(broker, outage_workers, tmp_path)


def test_running_jobs_outlive_a_rabbitmq_restart(rabbitmq, rabbitmq_workers, tmp_path):
    run_through_a_broker_outage(rabbitmq, rabbitmq_workers, tmp_path)


def run_through_a_broker_outage(broker, workers, tmp_path):
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
