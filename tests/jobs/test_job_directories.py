"""A training worker's disk: no job claimed when it is nearly full, ended jobs' files removed after retention."""

import os
import shutil
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs import runner, services
from jobs.job_directories import MB, WorkerDiskFull, expire_job_directories, job_directory
from jobs.models import TrainingJob, TrainingJobStatus
from tests.jobs.factories import CONVERGING_PROGRAM, register_algorithm, tuning_job_config, write_program

pytestmark = pytest.mark.django_db


def training_jobs(django_capture_on_commit_callbacks, **overrides):
    with django_capture_on_commit_callbacks(execute=False):
        tuning_job = services.tuning_job_create(config=tuning_job_config(**overrides))
        return services.tuning_job_advance(tuning_job_id=tuning_job.id)


def execute(training_job, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        return runner.execute_training_job(training_job.id, worker_node="test@host")


@pytest.fixture
def program(tmp_path):
    register_algorithm(
        program=write_program(tmp_path, "converging.py", CONVERGING_PROGRAM), static_hyperparameters={"epochs": "2"}
    )


def test_a_worker_short_of_disk_claims_no_job_and_says_why(
    program, jobs_dir, settings, django_capture_on_commit_callbacks
):
    jobs_dir.mkdir()
    settings.TUNEBOARD_MIN_FREE_DISK_MB = shutil.disk_usage(jobs_dir).free // MB + 1024
    first, _ = training_jobs(django_capture_on_commit_callbacks)

    with pytest.raises(WorkerDiskFull, match=f"MB free under {jobs_dir}, less than TUNEBOARD_MIN_FREE_DISK_MB"):
        execute(first, django_capture_on_commit_callbacks)

    first.refresh_from_db()
    assert (first.status, first.started_at, first.worker) == (TrainingJobStatus.IN_PROGRESS, None, "")
    settings.TUNEBOARD_MIN_FREE_DISK_MB = 0
    assert execute(first, django_capture_on_commit_callbacks).status == TrainingJobStatus.COMPLETED


@pytest.fixture
def small_disk(tmp_path):
    """A 1 MB filesystem of its own (tmpfs), as a nearly full disk is; root only."""
    if os.geteuid() != 0 or not sys.platform.startswith("linux"):
        pytest.skip("mounting a tmpfs needs root on Linux")
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)], check=True)
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def test_on_a_real_small_disk_the_default_minimum_refuses_the_job(
    program, small_disk, settings, django_capture_on_commit_callbacks
):
    settings.TUNEBOARD_JOBS_DIR = small_disk / "jobs"
    first, _ = training_jobs(django_capture_on_commit_callbacks)

    with pytest.raises(WorkerDiskFull, match=r"only \d MB free .* less than TUNEBOARD_MIN_FREE_DISK_MB \(512 MB\)"):
        execute(first, django_capture_on_commit_callbacks)

    first.refresh_from_db()
    assert first.started_at is None


def test_a_disk_that_fills_up_fails_the_job_for_the_worker(
    program, small_disk, settings, django_capture_on_commit_callbacks
):
    settings.TUNEBOARD_JOBS_DIR = small_disk / "jobs"
    settings.TUNEBOARD_MIN_FREE_DISK_MB = 0
    first, _ = training_jobs(django_capture_on_commit_callbacks)
    with open(small_disk / "ballast", "wb", buffering=0) as ballast, pytest.raises(OSError, match="No space left"):
        while True:
            ballast.write(b"\0" * 4096)

    job = execute(first, django_capture_on_commit_callbacks)

    assert job.status == TrainingJobStatus.FAILED
    assert job.failure_reason == (
        f"InternalServerError: No space left on device while writing the job directory {job_directory(first)}"
    )


def test_ended_jobs_keep_only_their_log_once_retention_is_over(
    program, jobs_dir, settings, django_capture_on_commit_callbacks
):
    settings.TUNEBOARD_JOB_DIR_RETENTION_HOURS = 24
    old, recent = training_jobs(django_capture_on_commit_callbacks)
    for training_job in (old, recent):
        execute(training_job, django_capture_on_commit_callbacks)
        (job_directory(training_job) / "model" / "weights.bin").write_bytes(b"\0" * 1024)
    TrainingJob.objects.filter(pk=old.pk).update(ended_at=timezone.now() - timedelta(hours=25))

    assert expire_job_directories() == [job_directory(old)]

    assert [path.name for path in job_directory(old).iterdir()] == ["training.log"]
    assert "validation:accuracy" in (job_directory(old) / "training.log").read_text()
    assert (job_directory(recent) / "model" / "weights.bin").exists()
    assert expire_job_directories() == []


def test_a_retention_of_zero_keeps_every_file(program, jobs_dir, settings, django_capture_on_commit_callbacks):
    settings.TUNEBOARD_JOB_DIR_RETENTION_HOURS = 0
    first, _ = training_jobs(django_capture_on_commit_callbacks)
    execute(first, django_capture_on_commit_callbacks)
    TrainingJob.objects.filter(pk=first.pk).update(ended_at=timezone.now() - timedelta(days=365))

    assert expire_job_directories() == []
    assert (job_directory(first) / "input" / "config" / "hyperparameters.json").exists()
