"""Creating, advancing and stopping tuning jobs: limits, strategies, completion, events after commit.

Tasks are not run here: on-commit hand-offs are captured and inspected, and
the training runs are played by calling the services the runner calls.
"""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import close_old_connections, connection
from django.utils import timezone

from jobs import realtime, services
from jobs.backends.base import Outcome, RunResult, StopCause
from jobs.models import StopReason, TrainingJob, TrainingJobStatus, TuningJob, TuningJobStatus
from jobs.selectors import tuning_job_counters
from tests.jobs.factories import register_algorithm, run, tuning_job_config
from tests.jobs.services.helpers import advance, create

pytestmark = pytest.mark.django_db


def test_create_stores_the_config_and_advances_after_commit(algorithm, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        tuning_job = services.tuning_job_create(config=tuning_job_config())
    assert tuning_job.status == TuningJobStatus.IN_PROGRESS
    assert tuning_job.random_seed == 7
    assert [r["name"] for r in tuning_job.parameter_ranges] == ["learning_rate", "optimizer"]
    # The publish and the advance task, both waiting for the commit.
    assert len(callbacks) == 2


def test_create_refuses_an_invalid_config_and_stores_nothing(algorithm):
    with pytest.raises(ValidationError) as error:
        services.tuning_job_create(config=tuning_job_config(name="bad_name!", max_parallel_training_jobs=0))
    assert set(error.value.message_dict) == {"name", "max_parallel_training_jobs"}
    assert not TuningJob.objects.exists()


def test_advance_launches_up_to_max_parallel(algorithm, django_capture_on_commit_callbacks):
    tuning_job = create(django_capture_on_commit_callbacks)
    created = advance(tuning_job, django_capture_on_commit_callbacks)
    assert [job.name for job in created] == ["tj-1-001", "tj-1-002"]
    assert advance(tuning_job, django_capture_on_commit_callbacks) == []
    job = created[0]
    assert set(job.tuned_hyperparameters) == {"learning_rate", "optimizer"}
    assert all(isinstance(v, str) for v in job.hyperparameters.values())


def test_static_hyperparameters_reach_every_training_job(django_capture_on_commit_callbacks):
    register_algorithm(static_hyperparameters={"epochs": "5", "seed": "1"})
    tuning_job = create(django_capture_on_commit_callbacks, static_hyperparameters={"epochs": "9"})
    job = advance(tuning_job, django_capture_on_commit_callbacks)[0]
    assert job.hyperparameters["epochs"] == "9"  # the tuning job's static value wins
    assert job.hyperparameters["seed"] == "1"


def test_runs_to_completed_with_counters_and_best(algorithm, django_capture_on_commit_callbacks):
    tuning_job = create(django_capture_on_commit_callbacks)
    finals = iter([0.5, 0.9, 0.7, 0.6])
    while True:
        created = advance(tuning_job, django_capture_on_commit_callbacks)
        if not created:
            break
        for job in created:
            run(job, [0.1, next(finals)])
    tuning_job.refresh_from_db()
    assert tuning_job.status == TuningJobStatus.COMPLETED
    assert tuning_job.best_training_job.name == "tj-1-002"
    assert tuning_job.best_training_job.final_objective_value == 0.9
    counters = tuning_job_counters(tuning_job=tuning_job)
    assert (counters.completed, counters.in_progress, counters.objective_succeeded) == (4, 0, 4)
    assert tuning_job.training_jobs.count() == 4


def test_minimize_picks_the_lowest(algorithm, django_capture_on_commit_callbacks):
    tuning_job = create(django_capture_on_commit_callbacks, objective_type="Minimize", max_training_jobs=2)
    first, second = advance(tuning_job, django_capture_on_commit_callbacks)
    run(first, [0.3])
    run(second, [0.2])
    tuning_job.refresh_from_db()
    assert tuning_job.best_training_job == second


def test_gives_up_after_three_failures_without_success(algorithm, django_capture_on_commit_callbacks):
    tuning_job = create(django_capture_on_commit_callbacks, max_training_jobs=10, max_parallel_training_jobs=3)
    for job in advance(tuning_job, django_capture_on_commit_callbacks):
        run(job, [], outcome=Outcome.FAILED, failure_reason="AlgorithmError: exit code 1: bad")
    assert advance(tuning_job, django_capture_on_commit_callbacks) == []
    tuning_job.refresh_from_db()
    assert tuning_job.status == TuningJobStatus.FAILED
    assert "3 training job(s) failed" in tuning_job.failure_reason
    assert "bad" in tuning_job.failure_reason


def test_stop_stops_running_jobs_then_ends_stopped(algorithm, django_capture_on_commit_callbacks):
    tuning_job = create(django_capture_on_commit_callbacks)
    started, waiting = advance(tuning_job, django_capture_on_commit_callbacks)
    services.training_job_start(training_job_id=started.id, worker="w@h:1", log_path="")
    with django_capture_on_commit_callbacks(execute=False):
        services.tuning_job_stop(tuning_job_id=tuning_job.id)
    started.refresh_from_db()
    waiting.refresh_from_db()
    assert started.status == TrainingJobStatus.STOPPING
    assert started.stop_reason == StopReason.USER_REQUEST
    # Never started: nothing to signal, so it is Stopped at once.
    assert waiting.status == TrainingJobStatus.STOPPED
    assert advance(tuning_job, django_capture_on_commit_callbacks) == []
    tuning_job.refresh_from_db()
    assert tuning_job.status == TuningJobStatus.STOPPING
    services.training_job_finish(
        training_job_id=started.id,
        result=RunResult(outcome=Outcome.STOPPED, exit_code=-15, stop_cause=StopCause.REQUESTED),
    )
    advance(tuning_job, django_capture_on_commit_callbacks)
    tuning_job.refresh_from_db()
    assert tuning_job.status == TuningJobStatus.STOPPED
    started.refresh_from_db()
    assert (started.status, started.stop_reason) == (TrainingJobStatus.STOPPED, StopReason.USER_REQUEST)


def test_stop_of_an_ended_tuning_job_is_a_no_op(algorithm, django_capture_on_commit_callbacks):
    tuning_job = create(django_capture_on_commit_callbacks, max_training_jobs=1)
    run(advance(tuning_job, django_capture_on_commit_callbacks)[0], [0.5])
    advance(tuning_job, django_capture_on_commit_callbacks)
    assert services.tuning_job_stop(tuning_job_id=tuning_job.id).status == TuningJobStatus.COMPLETED


def test_tuning_job_max_runtime_stops_it(algorithm, django_capture_on_commit_callbacks):
    tuning_job = create(django_capture_on_commit_callbacks, max_runtime_seconds=60)
    running = advance(tuning_job, django_capture_on_commit_callbacks)[0]
    services.training_job_start(training_job_id=running.id, worker="w@h:1", log_path="")
    advance(tuning_job, django_capture_on_commit_callbacks, now=timezone.now() + timedelta(seconds=61))
    tuning_job.refresh_from_db()
    running.refresh_from_db()
    assert tuning_job.status == TuningJobStatus.STOPPING
    assert "MaxRuntimeInSeconds" in tuning_job.failure_reason
    assert (running.status, running.stop_reason) == (TrainingJobStatus.STOPPING, StopReason.TUNING_JOB_LIMIT)


def test_grid_runs_each_combination_once(django_capture_on_commit_callbacks):
    register_algorithm()
    tuning_job = create(
        django_capture_on_commit_callbacks,
        strategy="Grid",
        max_training_jobs=100,
        max_parallel_training_jobs=10,
        parameter_ranges=[
            {"name": "optimizer", "type": "Categorical", "values": ["sgd", "adam", "nag"]},
            {"name": "layers", "type": "Integer", "min_value": 1, "max_value": 2, "scaling_type": "Linear"},
        ],
    )
    created = advance(tuning_job, django_capture_on_commit_callbacks)
    combos = {(j.tuned_hyperparameters["optimizer"], j.tuned_hyperparameters["layers"]) for j in created}
    assert len(created) == 6 and len(combos) == 6
    for job in created:
        run(job, [0.5])
    assert advance(tuning_job, django_capture_on_commit_callbacks) == []
    tuning_job.refresh_from_db()
    assert tuning_job.status == TuningJobStatus.COMPLETED


def test_random_search_is_reproducible_from_its_seed(algorithm, django_capture_on_commit_callbacks):
    first = create(django_capture_on_commit_callbacks, name="seeded-a")
    second = create(django_capture_on_commit_callbacks, name="seeded-b")
    a = [j.tuned_hyperparameters for j in advance(first, django_capture_on_commit_callbacks)]
    b = [j.tuned_hyperparameters for j in advance(second, django_capture_on_commit_callbacks)]
    assert a == b


def test_events_are_published_only_after_commit(algorithm, events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        services.tuning_job_create(config=tuning_job_config())
        assert events == []
    for callback in callbacks:
        if callback.__qualname__.endswith("deliver"):
            callback()
    assert [e.type for e in events] == [realtime.TUNING_JOB_CREATED]
    assert events[0].groups == ("tuning-jobs", f"tuning-job.{events[0].tuning_job_id}")


@pytest.mark.database_vendor
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_advances_never_exceed_the_limits(algorithm, celery_broker):
    """Four reconcilers at once, each on its own connection: they take turns.

    On PostgreSQL the tuning job's row lock serialises them; on SQLite the
    IMMEDIATE transaction's database lock does.
    """
    tuning_job = services.tuning_job_create(config=tuning_job_config(max_training_jobs=8, max_parallel_training_jobs=3))
    barrier = threading.Barrier(4)
    results, errors = [], []

    def reconcile():
        try:
            barrier.wait()
            results.append(len(services.tuning_job_advance(tuning_job_id=tuning_job.id)))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=reconcile) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == [0, 0, 0, 3]
    assert TrainingJob.objects.filter(tuning_job=tuning_job).count() == 3
