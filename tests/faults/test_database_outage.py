"""Fault suite, database outage: a running training job outlives a stopped PostgreSQL.

Issue 14's first row: PostgreSQL stopped with two jobs running used to SIGKILL
both programs within 0.2 s. Here a PostgreSQL of the test's own is stopped
mid-run and started again, with real Celery workers, beat and training
processes; the end state must be complete: every job Completed by its own
program, every epoch it printed stored once, nobody failed by the reaper.
"""

import subprocess
import sys
import time

import pytest
import redis

from tests.conftest import ROOT, Workers
from tests.faults.servers import OwnPostgres, postgres_bin
from tests.jobs.factories import CONVERGING_PROGRAM, write_program
from tests.jobs.waiting import wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(postgres_bin() is None, reason="needs PostgreSQL's server programs (pg_ctl)"),
]

EPOCHS = 24
OUTAGE_SECONDS = 12

# Run by `manage.py shell` against the test's own database (this suite's `tests` is not importable there).
SETUP = """
import sys
from jobs import services
from jobs.config import TuningJobConfig
services.algorithm_register(
    name="converging",
    command=[sys.executable, {program!r}],
    metric_definitions=[{{"Name": "validation:accuracy", "Regex": r"validation:accuracy=(\\S+)"}}],
    static_hyperparameters={{"epochs": "{epochs}", "epoch_seconds": "0.5"}},
)
services.tuning_job_create(config=TuningJobConfig(
    name="outage", algorithm_name="converging", objective_metric_name="validation:accuracy",
    objective_type="Maximize", max_training_jobs=2, max_parallel_training_jobs=2, random_seed=7,
    parameter_ranges=[{{"name": "learning_rate", "type": "Continuous", "min_value": 0.01, "max_value": 0.2}}],
))
"""


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


def manage(env, *argv, stdin=None):
    done = subprocess.run([sys.executable, "manage.py", *argv], cwd=ROOT, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, f"manage.py {' '.join(argv)}:\n{done.stdout}\n{done.stderr}"


def test_running_jobs_outlive_a_stopped_database(database, outage_workers, tmp_path):
    workers = outage_workers
    program = write_program(tmp_path / "programs", "converging.py", CONVERGING_PROGRAM)
    manage(workers.env, "migrate", "--noinput")
    manage(workers.env, "shell", stdin=SETUP.format(program=str(program), epochs=EPOCHS))
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
