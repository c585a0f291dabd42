"""Fault suite, database outage: a running training job outlives a stopped PostgreSQL.

Issue 14's first row: PostgreSQL stopped with two jobs running used to SIGKILL
both programs within 0.2 s. Here a PostgreSQL of the test's own is stopped
mid-run and started again, with real Celery workers, beat and training
processes; the end state must be complete: every job Completed by its own
program, every epoch it printed stored once, nobody failed by the reaper.
"""

import time

import pytest
import redis

from bench.stack import OwnPostgres, create_tuning_job, manage, postgres_bin
from tests.conftest import Workers
from tests.jobs.factories import CONVERGING_PROGRAM, write_program
from tests.jobs.waiting import wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(postgres_bin() is None, reason="needs PostgreSQL's server programs (pg_ctl)"),
]

EPOCHS = 16
OUTAGE_SECONDS = 6


@pytest.fixture
def database():
    server = OwnPostgres()
    server.start()
    yield server
    server.close()


@pytest.fixture
def outage_workers(database, celery_broker, jobs_dir, tmp_path):
    redis.Redis.from_url(celery_broker).flushdb()
    (tmp_path / "worker-logs").mkdir()
    pool = Workers(celery_broker, jobs_dir, tmp_path / "worker-logs", extra_env={})
    pool.env.update(
        DATABASE_URL=database.url,
        # The reaper as eager as it can be: an outage must still fail nobody.
        TUNEBOARD_RECONCILE_INTERVAL="1",
        TUNEBOARD_HEARTBEAT_TIMEOUT="4",
        DATABASE_CONNECT_TIMEOUT="2",
    )
    yield pool
    pool.stop_all()


def test_running_jobs_outlive_a_stopped_database(database, outage_workers, tmp_path):
    workers = outage_workers
    program = write_program(tmp_path / "programs", "converging.py", CONVERGING_PROGRAM)
    manage(workers.env, "migrate", "--noinput")
    create_tuning_job(workers.env, program=program, epochs=EPOCHS, jobs=2)
    workers.start_worker("control", 1)
    workers.start_worker("training", 2)
    workers.start_beat(tmp_path)

    def samples_per_job():
        return dict(database.query(
            "SELECT t.name, count(m.id) FROM jobs_trainingjob t "
            "LEFT JOIN jobs_metricsample m ON m.training_job_id = t.id GROUP BY t.name"
        ))  # fmt: skip

    wait_for(
        lambda: len(counts := samples_per_job()) == 2 and min(counts.values()) >= 3,
        workers,
        what="two running jobs with three epochs each",
    )
    database.stop()
    time.sleep(OUTAGE_SECONDS)
    database.start()

    wait_for(
        lambda: database.query("SELECT status FROM jobs_tuningjob") == [("Completed",)],
        workers,
        timeout=120,
        what="the tuning job to complete",
    )
    jobs = database.query("SELECT name, status, failure_reason FROM jobs_trainingjob ORDER BY name")
    assert [(status, reason) for _, status, reason in jobs] == [("Completed", "")] * 2, workers.logs()
    assert set(samples_per_job().values()) == {EPOCHS}
    epochs = database.query(
        "SELECT training_job_id, count(DISTINCT epoch), min(epoch), max(epoch) FROM jobs_metricsample "
        "GROUP BY training_job_id"
    )
    assert [row[1:] for row in epochs] == [(EPOCHS, 1, EPOCHS)] * 2
