"""The runner glues a real training process to the service layer, here without Celery."""

import io
import json
import tarfile

import pytest
from django.urls import reverse

from jobs import runner, services
from jobs.models import MetricSample, ObjectiveStatus, TrainingJob, TrainingJobStatus, TuningJobStatus
from tests.jobs.factories import CONVERGING_PROGRAM, register_algorithm, tuning_job_config, write_program

pytestmark = pytest.mark.django_db


def first_training_job(django_capture_on_commit_callbacks, **overrides):
    with django_capture_on_commit_callbacks(execute=False):
        tuning_job = services.tuning_job_create(config=tuning_job_config(**overrides))
        return services.tuning_job_advance(tuning_job_id=tuning_job.id)[0]


def execute(training_job, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        return runner.execute_training_job(training_job.id, worker_node="test@host")


def test_a_real_run_stores_every_epoch_and_the_log(tmp_path, jobs_dir, django_capture_on_commit_callbacks):
    program = write_program(tmp_path, "converging.py", CONVERGING_PROGRAM)
    register_algorithm(program=program, static_hyperparameters={"epochs": "3"})
    job = execute(first_training_job(django_capture_on_commit_callbacks), django_capture_on_commit_callbacks)
    assert job.status == TrainingJobStatus.COMPLETED
    assert job.objective_status == ObjectiveStatus.SUCCEEDED
    assert job.worker.startswith("test@host:")
    assert list(MetricSample.objects.filter(training_job=job).values_list("epoch", flat=True)) == [1, 2, 3]
    assert job.log_path.startswith(str(jobs_dir))
    assert (jobs_dir / job.tuning_job.name / job.name / "input/config/hyperparameters.json").exists()


def test_a_crashing_program_fails_with_its_last_lines(tmp_path, jobs_dir, django_capture_on_commit_callbacks):
    program = write_program(
        tmp_path,
        "crash.py",
        """
        import sys
        print("validation:accuracy=0.3", flush=True)
        raise RuntimeError("CUDA out of memory (pretend)")
        """,
    )
    register_algorithm(program=program)
    job = execute(first_training_job(django_capture_on_commit_callbacks), django_capture_on_commit_callbacks)
    assert job.status == TrainingJobStatus.FAILED
    assert job.objective_status == ObjectiveStatus.FAILED
    assert "exit code 1" in job.failure_reason
    assert "CUDA out of memory (pretend)" in job.failure_reason
    # What it reported before crashing is kept.
    assert MetricSample.objects.get(training_job=job).value == 0.3


@pytest.mark.database_vendor
def test_nul_and_invalid_bytes_in_a_crashing_programs_last_lines_are_stored_replaced(
    tmp_path, jobs_dir, django_capture_on_commit_callbacks
):
    """On PostgreSQL a NUL in the failure reason was a DataError that lost the job's ending."""
    program = write_program(
        tmp_path,
        "nul.py",
        """
        import sys
        print("validation:accuracy=0.3", flush=True)
        sys.stdout.buffer.write(b"loss is \\x00\\xff\\xfe nan\\n")
        sys.exit(1)
        """,
    )
    register_algorithm(program=program)
    job = execute(first_training_job(django_capture_on_commit_callbacks), django_capture_on_commit_callbacks)
    job.refresh_from_db()
    assert job.status == TrainingJobStatus.FAILED
    assert job.failure_reason == "AlgorithmError: exit code 1: validation:accuracy=0.3\nloss is \ufffd\ufffd\ufffd nan"
    assert MetricSample.objects.get(training_job=job).value == 0.3


def test_the_program_gets_only_the_variables_its_algorithm_names(
    tmp_path, jobs_dir, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setenv("SECRET_KEY", "worker-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "worker-aws-secret")
    monkeypatch.setenv("WANDB_API_KEY", "wandb-key")
    program = write_program(
        tmp_path,
        "env.py",
        """
        import json, os
        json.dump(dict(os.environ), open(os.path.join(os.environ["SM_OUTPUT_DATA_DIR"], "env.json"), "w"))
        print("validation:accuracy=0.5")
        """,
    )
    register_algorithm(program=program, environment_passthrough=["WANDB_API_KEY", "NOT_SET_ON_THIS_WORKER"])
    job = execute(first_training_job(django_capture_on_commit_callbacks), django_capture_on_commit_callbacks)
    assert job.status == TrainingJobStatus.COMPLETED
    env = json.loads((jobs_dir / job.tuning_job.name / job.name / "output" / "env.json").read_text())
    assert env["WANDB_API_KEY"] == "wandb-key"
    assert not {"SECRET_KEY", "AWS_SECRET_ACCESS_KEY", "DATABASE_URL", "NOT_SET_ON_THIS_WORKER"} & set(env)


def test_a_full_disk_fails_the_job_for_the_worker_not_the_program(
    tmp_path, jobs_dir, django_capture_on_commit_callbacks
):
    """/dev/full answers every write with ENOSPC, as a full disk does."""
    program = write_program(tmp_path, "converging.py", CONVERGING_PROGRAM)
    register_algorithm(program=program, static_hyperparameters={"epochs": "2"})
    with django_capture_on_commit_callbacks(execute=False):
        tuning_job = services.tuning_job_create(
            config=tuning_job_config(max_training_jobs=10, max_parallel_training_jobs=3)
        )
        training_jobs = services.tuning_job_advance(tuning_job_id=tuning_job.id)
    assert len(training_jobs) == 3
    for training_job in training_jobs:
        job_dir = runner.job_directory(training_job)
        job_dir.mkdir(parents=True)
        (job_dir / "training.log").symlink_to("/dev/full")
        job = execute(training_job, django_capture_on_commit_callbacks)
        assert job.status == TrainingJobStatus.FAILED
        assert job.failure_reason == (
            f"InternalServerError: No space left on device while writing the job directory {job_dir}"
        )
    # Three failures of the program would end the tuning job; three of the worker's disk do not.
    with django_capture_on_commit_callbacks(execute=False):
        assert len(services.tuning_job_advance(tuning_job_id=tuning_job.id)) == 3
    tuning_job.refresh_from_db()
    assert tuning_job.status == TuningJobStatus.IN_PROGRESS


def test_garbage_output_is_logged_and_unparsable_metrics_are_ignored(
    tmp_path, jobs_dir, django_capture_on_commit_callbacks
):
    program = write_program(
        tmp_path,
        "garbage.py",
        """
        import sys
        sys.stdout.buffer.write(bytes(range(256)) + b"\\n")
        print("validation:accuracy=not-a-number")
        print("validation:accuracy=0.75 epoch=4")
        """,
    )
    register_algorithm(program=program)
    job = execute(first_training_job(django_capture_on_commit_callbacks), django_capture_on_commit_callbacks)
    assert job.status == TrainingJobStatus.COMPLETED
    assert list(MetricSample.objects.filter(training_job=job).values_list("epoch", "value")) == [(4, 0.75)]
    assert job.final_objective_value == 0.75
    assert "not-a-number" in open(job.log_path, encoding="utf-8").read()


def test_a_missing_program_fails_cleanly(jobs_dir, django_capture_on_commit_callbacks):
    services.algorithm_register(
        name="quadratic",
        command=["/nonexistent/train"],
        metric_definitions=[{"Name": "validation:accuracy", "Regex": r"validation:accuracy=(\S+)"}],
    )
    job = execute(first_training_job(django_capture_on_commit_callbacks), django_capture_on_commit_callbacks)
    assert job.status == TrainingJobStatus.FAILED
    assert "/nonexistent/train" in job.failure_reason


def test_a_second_delivery_does_nothing(tmp_path, jobs_dir, django_capture_on_commit_callbacks):
    program = write_program(tmp_path, "converging.py", CONVERGING_PROGRAM)
    register_algorithm(program=program, static_hyperparameters={"epochs": "1"})
    job = first_training_job(django_capture_on_commit_callbacks)
    assert execute(job, django_capture_on_commit_callbacks).status == TrainingJobStatus.COMPLETED
    assert execute(job, django_capture_on_commit_callbacks) is None


MODEL_WRITING_PROGRAM = """
    import os
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "weights.txt"), "w") as f:
        f.write("w=0.5")
    print("epoch=1 validation:accuracy=0.5")
"""


def test_without_an_s3_output_path_the_model_is_kept_in_the_artifacts_directory_and_downloads(
    tmp_path, jobs_dir, settings, django_capture_on_commit_callbacks, admin_client
):
    settings.TUNEBOARD_ARTIFACTS_DIR = tmp_path / "artifacts"
    register_algorithm(program=write_program(tmp_path, "model.py", MODEL_WRITING_PROGRAM))
    job = execute(first_training_job(django_capture_on_commit_callbacks), django_capture_on_commit_callbacks)
    archive = tmp_path / "artifacts" / "tj-1" / job.name / "output" / "model.tar.gz"
    assert job.model_artifact_uri == archive.resolve().as_uri()

    response = admin_client.get(reverse("training-job-model-download", args=[job.name]))
    assert response.status_code == 200
    with tarfile.open(fileobj=io.BytesIO(b"".join(response.streaming_content))) as tar:
        assert tar.extractfile("weights.txt").read() == b"w=0.5"
    page = admin_client.get(reverse("training-job-detail", args=[job.name])).content.decode()
    assert reverse("training-job-model-download", args=[job.name]) in page


def test_a_model_uri_outside_the_artifacts_directory_is_not_served(
    tmp_path, jobs_dir, settings, django_capture_on_commit_callbacks, admin_client
):
    settings.TUNEBOARD_ARTIFACTS_DIR = tmp_path / "artifacts"
    register_algorithm()
    job = first_training_job(django_capture_on_commit_callbacks)
    secret = tmp_path / "secret.txt"
    secret.write_text("not a model")
    for uri in (secret.as_uri(), (tmp_path / "artifacts" / ".." / "secret.txt").as_uri(), ""):
        TrainingJob.objects.filter(pk=job.pk).update(model_artifact_uri=uri)
        assert admin_client.get(reverse("training-job-model-download", args=[job.name])).status_code == 404
