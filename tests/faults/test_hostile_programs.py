"""Fault suite, hostile programs: what a user's training program does must not hurt its worker.

One test per row of issue 14's table that a program causes, on real parts (Celery
workers, the broker, PostgreSQL, training processes), each asserting the end state.
Waits are bounded and generous; nothing here is timed.
"""

import json
import os
import signal
import sys

import psutil
import pytest

from jobs import services
from jobs.models import TrainingJob, TrainingJobStatus, TuningJob, TuningJobStatus
from tests.jobs.factories import (
    CONVERGING_PROGRAM,
    descendants_spawner,
    register_algorithm,
    tuning_job_config,
    write_program,
)
from tests.jobs.waiting import wait_for

pytestmark = pytest.mark.integration

OBJECTIVE = {"Name": "validation:accuracy", "Regex": r"validation:accuracy=(\S+)"}


def status_of(model, pk):
    return model.objects.values_list("status", flat=True).get(pk=pk)


def training_job(tuning_job, sequence):
    return TrainingJob.objects.filter(tuning_job=tuning_job, sequence=sequence).first()


def alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_regex_catastrophic_for_backtracking_neither_hangs_the_slot_nor_the_shutdown(workers, tmp_path):
    """`(a+)+$` on "a" * 34 + "b": the slot never came back and warm shutdown hung until kill -9."""
    program = write_program(
        tmp_path / "programs",
        "flood.py",
        """
        import time
        for _ in range(10_000):
            print("a" * 34 + "b")
        print("validation:accuracy=0.5", flush=True)
        time.sleep(600)
        """,
    )
    services.algorithm_register(
        name="quadratic",
        command=[sys.executable, str(program)],
        metric_definitions=[OBJECTIVE, {"Name": "a", "Regex": r"(a+)+$"}],
    )
    workers.start_worker("control", 1)
    training_worker = workers.start_worker("training", 1)
    tuning_job = services.tuning_job_create(config=tuning_job_config(max_training_jobs=2, max_parallel_training_jobs=1))

    first = wait_for(
        lambda: TrainingJob.objects.filter(tuning_job=tuning_job, sequence=1, final_objective_value=0.5).first(),
        workers,
        what="the first job's metric, printed after its 10,000 lines",
    )
    services.training_job_stop(training_job_id=first.id)
    wait_for(lambda: status_of(TrainingJob, first.id) == TrainingJobStatus.STOPPED, workers, what="the stop")
    # The slot came back: the only training slot runs the second job.
    wait_for(
        lambda: TrainingJob.objects.filter(tuning_job=tuning_job, sequence=2, final_objective_value=0.5).exists(),
        workers,
        what="the second job to run on the freed slot",
    )
    services.tuning_job_stop(tuning_job_id=tuning_job.id)
    wait_for(lambda: status_of(TuningJob, tuning_job.id) == TuningJobStatus.STOPPED, workers, what="Stopped")
    os.killpg(training_worker.pid, signal.SIGTERM)
    training_worker.wait(60)  # a warm shutdown that hangs fails here
    del workers.processes["training"]


def test_a_nul_and_invalid_bytes_in_the_last_lines_keep_the_exit_code_and_the_tail(workers, tmp_path):
    """The NUL was a DataError in training_job_finish on PostgreSQL; the job was reaped with the wrong reason."""
    program = write_program(
        tmp_path / "programs",
        "nul.py",
        """
        import sys
        print("validation:accuracy=0.25", flush=True)
        sys.stdout.buffer.write(b"checkpoint \\x00 at \\xff\\xfe: corrupt\\n")
        sys.exit(3)
        """,
    )
    register_algorithm(program=program)
    workers.start_worker("control", 1)
    workers.start_worker("training", 1)
    tuning_job = services.tuning_job_create(config=tuning_job_config(max_training_jobs=1, max_parallel_training_jobs=1))

    wait_for(lambda: status_of(TuningJob, tuning_job.id) != TuningJobStatus.IN_PROGRESS, workers, what="the end")

    job = training_job(tuning_job, 1)
    assert job.status == TrainingJobStatus.FAILED
    assert job.failure_reason == (
        "AlgorithmError: exit code 3: validation:accuracy=0.25\ncheckpoint \ufffd at \ufffd\ufffd: corrupt"
    )
    assert job.final_objective_value == 0.25


def spawner(pids_dir) -> str:
    """`descendants_spawner` writing <its pid>.json into `pids_dir`, then reporting and lingering."""
    pids_path = f'os.path.join({str(pids_dir)!r}, f"{{os.getpid()}}.json")'
    linger = 'print("validation:accuracy=0.5", flush=True)\ntime.sleep(float(os.environ["SM_HP_LINGER"]))\n'
    return descendants_spawner(pids_path) + linger


def spawned_pids(pids_dir):
    return [pid for path in pids_dir.glob("*.json") for pid in json.loads(path.read_text())]


@pytest.mark.parametrize("linger", ["0", "600"], ids=["ends", "worker-killed"])
def test_no_helper_or_setsid_child_survives_its_job_or_its_killed_worker(workers, tmp_path, linger):
    pids_dir = tmp_path / "pids"
    pids_dir.mkdir()
    program = write_program(tmp_path / "programs", "spawner.py", spawner(pids_dir))
    register_algorithm(program=program, static_hyperparameters={"linger": linger})
    workers.start_worker("control", 1)
    workers.start_worker("training", 1)
    tuning_job = services.tuning_job_create(config=tuning_job_config(max_training_jobs=1, max_parallel_training_jobs=1))

    if linger == "0":
        wait_for(lambda: status_of(TuningJob, tuning_job.id) == TuningJobStatus.COMPLETED, workers, what="Completed")
    else:
        wait_for(lambda: spawned_pids(pids_dir), workers, what="the program's helper and daemon")
        workers.kill("training")

    pids = spawned_pids(pids_dir)
    assert len(pids) == 3
    wait_for(lambda: not any(alive(pid) for pid in pids), workers, timeout=15, what="every process of the job to end")


def test_a_worker_short_of_disk_leaves_its_jobs_to_another(workers, tmp_path):
    """A job directory on a full disk: each job failed in ~50 ms and the tuning job gave up after 3."""
    program = write_program(tmp_path / "programs", "converging.py", CONVERGING_PROGRAM)
    register_algorithm(program=program, static_hyperparameters={"epochs": "2"})
    workers.start_worker("control", 1)
    workers.env["TUNEBOARD_MIN_FREE_DISK_MB"] = str(2**40)  # more than any disk has
    workers.start_worker("training", 1, name="full")
    del workers.env["TUNEBOARD_MIN_FREE_DISK_MB"]
    tuning_job = services.tuning_job_create(config=tuning_job_config(max_training_jobs=3, max_parallel_training_jobs=1))

    wait_for(
        lambda: "not taking training job" in (workers.log_dir / "full.log").read_text(),
        workers,
        what="the full worker to refuse a job, saying why",
    )
    assert "less than TUNEBOARD_MIN_FREE_DISK_MB" in (workers.log_dir / "full.log").read_text()
    assert not TrainingJob.objects.filter(tuning_job=tuning_job, started_at__isnull=False).exists()
    workers.start_worker("training", 1, name="roomy")
    wait_for(lambda: status_of(TuningJob, tuning_job.id) == TuningJobStatus.COMPLETED, workers, what="Completed")

    jobs = list(tuning_job.training_jobs.all())
    assert [job.status for job in jobs] == [TrainingJobStatus.COMPLETED] * 3
    assert all(job.worker.startswith("roomy@") for job in jobs)
