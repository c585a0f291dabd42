"""Fault suite, lost dispatch: a training job whose run task was lost is sent again from its row.

Rows of issue 14's table: the broker lost its queued messages (a Redis restart
without persistence), and the control worker died between an advance's COMMIT
and its send. On real parts (Celery workers and beat, Redis, PostgreSQL,
training processes), each asserting the end state; waits are bounded and
generous, nothing here is timed.
"""

import time

import pytest
import redis

from jobs import services
from jobs.models import TrainingJob, TrainingJobStatus, TuningJob, TuningJobStatus
from jobs.services import dispatch
from tests.jobs.factories import CONVERGING_PROGRAM, register_algorithm, tuning_job_config, write_program
from tests.jobs.waiting import wait_for

pytestmark = pytest.mark.integration

# Within the 30 s target with the default 10 s reconcile and 20 s delay; shorter here to keep the test short.
FAST_RECONCILE = {"TUNEBOARD_RECONCILE_INTERVAL": "1", "TUNEBOARD_REDISPATCH_AFTER": "2"}


def completed(tuning_job):
    return TuningJob.objects.values_list("status", flat=True).get(pk=tuning_job.pk) == TuningJobStatus.COMPLETED


def dispatch_times(tuning_job) -> dict[int, object]:
    return dict(TrainingJob.objects.filter(tuning_job=tuning_job).values_list("id", "dispatched_at"))


def assert_ran_once_each(tuning_job, count):
    jobs = list(TrainingJob.objects.filter(tuning_job=tuning_job))
    assert len(jobs) == count
    assert {job.status for job in jobs} == {TrainingJobStatus.COMPLETED}


@pytest.fixture
def program(tmp_path):
    path = write_program(tmp_path / "programs", "converging.py", CONVERGING_PROGRAM)
    register_algorithm(program=path, static_hyperparameters={"epochs": "2", "epoch_seconds": "0.1"})
    return path


def test_runs_whose_messages_the_broker_lost_are_sent_again(workers, program, tmp_path):
    broker = redis.Redis.from_url(workers.redis_url)
    workers.env.update(FAST_RECONCILE)
    workers.start_worker("control", 1)
    workers.start_beat(tmp_path)
    tuning_job = services.tuning_job_create(config=tuning_job_config(max_training_jobs=4, max_parallel_training_jobs=2))
    wait_for(lambda: broker.llen("training") == 2, workers, what="two run tasks sent")
    first = dispatch_times(tuning_job)
    assert len(first) == 2 and None not in first.values()
    # No training worker yet: the messages wait in the queue until the broker loses them.
    assert broker.llen("training") == 2
    broker.delete("training")

    wait_for(
        lambda: all(sent_at > first[job_id] for job_id, sent_at in dispatch_times(tuning_job).items()),
        workers,
        what="the lost run tasks sent again",
    )
    assert broker.llen("training") == 2
    workers.start_worker("training", 2)
    wait_for(lambda: completed(tuning_job), workers, what="Completed")
    assert_ran_once_each(tuning_job, 4)


def test_runs_waiting_for_a_busy_worker_are_not_sent_again(workers, tmp_path):
    program = write_program(tmp_path / "programs", "converging.py", CONVERGING_PROGRAM)
    register_algorithm(program=program, static_hyperparameters={"epochs": "16", "epoch_seconds": "0.5"})
    broker = redis.Redis.from_url(workers.redis_url)
    workers.env.update(FAST_RECONCILE)
    workers.start_worker("control", 1)
    workers.start_worker("training", 1)
    workers.start_beat(tmp_path)
    tuning_job = services.tuning_job_create(config=tuning_job_config(max_training_jobs=2, max_parallel_training_jobs=2))
    running = wait_for(
        lambda: TrainingJob.objects.filter(tuning_job=tuning_job, epochs_run__gte=1).first(),
        workers,
        what="the first training job to run",
    )
    waiting = TrainingJob.objects.exclude(pk=running.pk).get(tuning_job=tuning_job)
    assert waiting.dispatched_at is not None and waiting.started_at is None
    # Several reconcile passes past the delay while the only slot is busy.
    lengths = []
    for _ in range(10):
        time.sleep(0.5)
        lengths.append(broker.llen("training"))
    waiting.refresh_from_db()
    assert waiting.started_at is None, "the first job ended before the reconcile passes were watched"
    assert lengths == [1] * 10
    assert TrainingJob.objects.values_list("dispatched_at", flat=True).get(pk=waiting.pk) == waiting.dispatched_at
    wait_for(lambda: completed(tuning_job), workers, what="Completed")
    assert_ran_once_each(tuning_job, 2)


def test_runs_committed_but_never_sent_are_sent_by_the_reconcile(workers, program, tmp_path, monkeypatch):
    workers.env.update(FAST_RECONCILE)
    with monkeypatch.context() as crash:
        # The process that advanced the tuning job died after COMMIT, before its on-commit sends.
        crash.setattr(dispatch, "_send_task", lambda *args, **kwargs: None)
        tuning_job = services.tuning_job_create(
            config=tuning_job_config(max_training_jobs=3, max_parallel_training_jobs=3)
        )
        launched = services.tuning_job_advance(tuning_job_id=tuning_job.id)
    assert len(launched) == 3
    assert set(dispatch_times(tuning_job).values()) == {None}

    workers.start_worker("control", 1)
    workers.start_worker("training", 2)
    workers.start_beat(tmp_path)
    wait_for(lambda: completed(tuning_job), workers, what="Completed")
    assert_ran_once_each(tuning_job, 3)
