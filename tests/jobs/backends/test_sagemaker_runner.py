"""The runner puts sagemaker training jobs on a moto server and records what comes back."""

import re

import pytest
from django.urls import reverse

from jobs import aws, runner, services
from jobs.models import Algorithm, Backend, ObjectiveStatus, TrainingJobStatus, TuningJob
from tests.jobs.factories import tuning_job_config

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("aws")]

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


def sagemaker_training_job(django_capture_on_commit_callbacks, channels=None, rename_to=None, **config):
    Algorithm.objects.create(
        name="quadratic",
        backend=Backend.SAGEMAKER,
        image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/quadratic:1",
        metric_definitions=[{"Name": "validation:accuracy", "Regex": r"validation:accuracy=(\S+)"}],
        static_hyperparameters={"epochs": "5"},
        input_channels=channels or {},
        sagemaker_config={"RoleArn": ROLE, "InstanceType": "ml.m5.large", "S3OutputPath": "s3://models/runs", **config},
    )
    with django_capture_on_commit_callbacks(execute=False):
        tuning_job = services.tuning_job_create(config=tuning_job_config(max_training_jobs=1))
        if rename_to:
            # A row SageMaker's rules never checked (written before they applied, or imported).
            TuningJob.objects.filter(pk=tuning_job.pk).update(name=rename_to)
        return services.tuning_job_advance(tuning_job_id=tuning_job.id)[0]


def execute(training_job, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        return runner.execute_training_job(training_job.id, worker_node="test@host")


def test_a_sagemaker_job_is_recorded_with_its_remote_name_and_artifact(
    jobs_dir, django_capture_on_commit_callbacks, admin_client
):
    aws.client("s3").create_bucket(Bucket="data")
    aws.client("s3").put_object(Bucket="data", Key="train/a.csv", Body=b"1\n")
    training_job = sagemaker_training_job(django_capture_on_commit_callbacks, channels={"train": "s3://data/train"})

    job = execute(training_job, django_capture_on_commit_callbacks)

    assert job.status == TrainingJobStatus.COMPLETED
    assert re.fullmatch(r"tj-1-001-[0-9a-f]{8}", job.remote_name)
    assert job.secondary_status == "Completed"
    assert job.model_artifact_uri == f"s3://models/runs/tj-1/{job.remote_name}/output/model.tar.gz"
    # moto publishes no metrics, so there is no objective: the job ran, its objective failed.
    assert job.objective_status == ObjectiveStatus.FAILED
    remote = aws.client("sagemaker").describe_training_job(TrainingJobName=job.remote_name)
    assert remote["HyperParameters"] == job.hyperparameters
    assert remote["OutputDataConfig"]["S3OutputPath"] == "s3://models/runs/tj-1"
    page = admin_client.get(reverse("training-job-detail", args=[job.name])).content.decode()
    assert f"<code>{job.remote_name}</code>" in page
    assert f"<code>{job.model_artifact_uri}</code>" in page


def test_a_tuning_job_name_sagemaker_would_reject_fails_its_training_jobs_clearly(
    jobs_dir, django_capture_on_commit_callbacks
):
    training_job = sagemaker_training_job(django_capture_on_commit_callbacks, rename_to="tj_1")

    job = execute(training_job, django_capture_on_commit_callbacks)

    assert job.status == TrainingJobStatus.FAILED
    assert job.failure_reason.startswith(f"ValidationException: '{job.remote_name}' is not a valid SageMaker")
    assert job.failure_reason.endswith("Rename the tuning job.")
    assert aws.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []


def test_an_input_channel_that_does_not_exist_fails_the_job_clearly(jobs_dir, django_capture_on_commit_callbacks):
    aws.client("s3").create_bucket(Bucket="data")
    training_job = sagemaker_training_job(django_capture_on_commit_callbacks, channels={"train": "s3://data/typo"})

    job = execute(training_job, django_capture_on_commit_callbacks)

    assert job.status == TrainingJobStatus.FAILED
    assert job.failure_reason == (
        "ClientError: input channel 'train': s3://data/typo does not exist (no object has this prefix)."
    )


def test_an_algorithm_row_sagemaker_would_refuse_fails_the_job_clearly(jobs_dir, django_capture_on_commit_callbacks):
    training_job = sagemaker_training_job(django_capture_on_commit_callbacks, RoleArn="admin")

    job = execute(training_job, django_capture_on_commit_callbacks)

    assert job.status == TrainingJobStatus.FAILED
    assert job.failure_reason == (
        "ValidationException: algorithm quadratic: sagemaker_config: "
        "RoleArn: give an IAM role ARN, like arn:aws:iam::123456789012:role/SageMakerRole."
    )
