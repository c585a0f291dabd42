"""End to end on real parts: Celery worker processes, the broker, the database, training processes.

Each test creates a tuning job through the service layer and then only
watches the database while the workers do the rest.
"""

import psutil
import pytest

from jobs import services
from jobs.models import MetricSample, StopReason, TrainingJob, TrainingJobStatus, TuningJob, TuningJobStatus
from jobs.selectors import tuning_job_counters
from tests.jobs.factories import CONVERGING_PROGRAM, register_algorithm, tuning_job_config, write_program
from tests.jobs.waiting import wait_for

pytestmark = pytest.mark.integration


def status_of(tuning_job):
    return TuningJob.objects.values_list("status", flat=True).get(pk=tuning_job.pk)


def processes_running(path) -> list[psutil.Process]:
    """Live processes running the script `path` (the training programs of a test, not their job_init)."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        try:
            if process.info["status"] != psutil.STATUS_ZOMBIE and (process.info["cmdline"] or [])[1:2] == [str(path)]:
                found.append(process)
        except psutil.Error:
            continue
    return found


# On SQLite the workers' processes and this one write to one file: the embedded default's locking, live.
@pytest.mark.database_vendor
def test_tuning_job_runs_to_completed(workers, tmp_path):
    program = write_program(tmp_path / "programs", "converging.py", CONVERGING_PROGRAM)
    register_algorithm(program=program, static_hyperparameters={"epochs": "4"})
    workers.start_worker("control", 2)
    workers.start_worker("training", 2)

    tuning_job = services.tuning_job_create(config=tuning_job_config(max_training_jobs=6, max_parallel_training_jobs=2))
    wait_for(lambda: status_of(tuning_job) == TuningJobStatus.COMPLETED, workers, what="Completed")

    tuning_job.refresh_from_db()
    counters = tuning_job_counters(tuning_job=tuning_job)
    assert (counters.completed, counters.in_progress, counters.stopped, counters.non_retryable_error) == (6, 0, 0, 0)
    assert counters.objective_succeeded == 6
    jobs = list(tuning_job.training_jobs.all())
    assert len(jobs) == 6
    best = max(jobs, key=lambda j: j.final_objective_value)
    assert tuning_job.best_training_job == best
    for job in jobs:
        # The program's last line is its ceiling, so the final value follows from its learning rate.
        expected = 1.0 - abs(float(job.hyperparameters["learning_rate"]) - 0.1)
        assert job.final_objective_value == pytest.approx(expected, abs=1e-5)
        assert list(MetricSample.objects.filter(training_job=job).values_list("epoch", flat=True)) == [1, 2, 3, 4]
        assert "validation:accuracy=" in open(job.log_path).read()
    # Never more than two at once: each job started before at most one other was still running.
    for job in jobs:
        overlapping = [o for o in jobs if o.started_at <= job.started_at < o.ended_at and o != job]
        assert len(overlapping) <= 1


def test_stopping_a_tuning_job_leaves_no_training_process(workers, tmp_path):
    program = write_program(tmp_path / "programs", "slow.py", CONVERGING_PROGRAM)
    register_algorithm(program=program, static_hyperparameters={"epochs": "1000", "epoch_seconds": "0.1"})
    workers.start_worker("control", 2)
    workers.start_worker("training", 2)
    tuning_job = services.tuning_job_create(config=tuning_job_config(max_training_jobs=6, max_parallel_training_jobs=2))

    wait_for(
        lambda: MetricSample.objects.filter(tuning_job=tuning_job).values("training_job").distinct().count() == 2,
        workers,
        what="two training jobs reporting epochs",
    )
    assert len(processes_running(program)) == 2
    services.tuning_job_stop(tuning_job_id=tuning_job.id)
    wait_for(lambda: status_of(tuning_job) == TuningJobStatus.STOPPED, workers, what="Stopped")

    jobs = list(tuning_job.training_jobs.all())
    assert len(jobs) == 2
    assert {(j.status, j.stop_reason) for j in jobs} == {(TrainingJobStatus.STOPPED, StopReason.USER_REQUEST)}
    assert all(0 < j.epochs_run < 1000 for j in jobs)
    assert processes_running(program) == []


def test_a_killed_worker_is_reaped_and_the_tuning_job_carries_on(workers, tmp_path):
    program = write_program(tmp_path / "programs", "victim.py", CONVERGING_PROGRAM)
    register_algorithm(program=program, static_hyperparameters={"epochs": "20", "epoch_seconds": "0.2"})
    workers.env.update({"TUNEBOARD_RECONCILE_INTERVAL": "1", "TUNEBOARD_HEARTBEAT_TIMEOUT": "3"})
    workers.start_worker("control", 2)
    workers.start_worker("training", 1, name="doomed")
    workers.start_beat(tmp_path)
    tuning_job = services.tuning_job_create(config=tuning_job_config(max_training_jobs=3, max_parallel_training_jobs=1))

    first = wait_for(
        lambda: TrainingJob.objects.filter(tuning_job=tuning_job, epochs_run__gte=1).first(),
        workers,
        what="the first training job to report an epoch",
    )
    workers.kill("doomed")
    # The training program dies with its worker rather than running on, unsupervised.
    wait_for(lambda: processes_running(program) == [], workers, timeout=1.5, what="the orphaned program to exit")
    workers.start_worker("training", 1, name="replacement")
    wait_for(lambda: status_of(tuning_job) == TuningJobStatus.COMPLETED, workers, what="Completed")

    first.refresh_from_db()
    assert first.status == TrainingJobStatus.FAILED
    assert "stopped responding" in first.failure_reason and "doomed@" in first.failure_reason
    others = tuning_job.training_jobs.exclude(pk=first.pk)
    assert [j.status for j in others] == [TrainingJobStatus.COMPLETED, TrainingJobStatus.COMPLETED]


LEARNING_RATES = ["0.1", "0.11", "0.09", "0.12", "0.08", "0.95"]


def test_early_stopping_auto_stops_hopeless_jobs_live(workers, tmp_path):
    program = write_program(tmp_path / "programs", "converging.py", CONVERGING_PROGRAM)
    register_algorithm(program=program, static_hyperparameters={"epochs": "8", "epoch_seconds": "0.1"})
    workers.start_worker("control", 2)
    workers.start_worker("training", 2)
    # One at a time, in grid order: five good jobs end (Auto's leaders), then a hopeless one
    # (learning rate 0.95: a ceiling of 0.15) runs behind where they all were at half its age.
    tuning_job = services.tuning_job_create(
        config=tuning_job_config(
            strategy="Grid",
            parameter_ranges=[
                {
                    "name": "learning_rate",
                    "type": "Categorical",
                    "values": ["0.1", "0.11", "0.09", "0.12", "0.08", "0.95"],
                }
            ],
            max_training_jobs=6,
            max_parallel_training_jobs=1,
            early_stopping_type="Auto",
        )
    )
    wait_for(lambda: status_of(tuning_job) == TuningJobStatus.COMPLETED, workers, what="Completed")

    stopped = list(tuning_job.training_jobs.filter(status=TrainingJobStatus.STOPPED))
    assert [job.hyperparameters["learning_rate"] for job in stopped] == ["0.95"], "not the hopeless job alone: " + repr(
        list(tuning_job.training_jobs.values_list("sequence", "status", "epochs_run", "final_objective_value"))
    )
    for job in stopped:
        assert job.stop_reason == StopReason.EARLY_STOPPING
        assert 2 <= job.epochs_run < 8
        last = MetricSample.objects.filter(training_job=job).order_by("-epoch").first()
        assert job.final_objective_value == last.value
    counters = tuning_job_counters(tuning_job=tuning_job)
    assert counters.completed + counters.stopped == 6
    tuning_job.refresh_from_db()
    assert tuning_job.best_training_job.status == TrainingJobStatus.COMPLETED


def test_hyperband_and_bayesian_run_live(workers, tmp_path):
    """The other strategies through real workers: Hyperband stops at rungs, Bayesian proposes and completes."""
    program = write_program(tmp_path / "programs", "converging.py", CONVERGING_PROGRAM)
    register_algorithm(program=program, static_hyperparameters={"epochs": "9", "epoch_seconds": "0.05"})
    workers.start_worker("control", 2)
    workers.start_worker("training", 2)
    hyperband = services.tuning_job_create(
        config=tuning_job_config(name="hb", strategy="Hyperband", max_training_jobs=9, max_parallel_training_jobs=3)
    )
    bayesian = services.tuning_job_create(
        config=tuning_job_config(name="gp", strategy="Bayesian", max_training_jobs=6, max_parallel_training_jobs=2)
    )
    for tuning_job in (hyperband, bayesian):
        wait_for(lambda tj=tuning_job: status_of(tj) == TuningJobStatus.COMPLETED, workers, what=f"{tuning_job}")

    stopped = hyperband.training_jobs.filter(status=TrainingJobStatus.STOPPED)
    assert stopped.exists(), list(hyperband.training_jobs.values_list("name", "epochs_run"))
    assert set(stopped.values_list("stop_reason", flat=True)) == {StopReason.HYPERBAND}
    # Stopped at a rung (1 or 3), plus the epochs the program ran before the signal reached it.
    assert all(job.epochs_run < 9 for job in stopped)
    proposals = {tuple(sorted(j.tuned_hyperparameters.items())) for j in bayesian.training_jobs.all()}
    assert len(proposals) == 6  # no duplicates
    assert tuning_job_counters(tuning_job=bayesian).completed == 6
