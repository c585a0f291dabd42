"""End to end: a tuning job whose training jobs run "on SageMaker", through real Celery workers.

Everything is real except what no local service offers: the workers create
training jobs with boto3 over HTTP, read their metrics from CloudWatch and stop
them with StopTrainingJob, through `TrainingLifecycle` (tests/jobs/sagemaker/lifecycle.py),
which adds to the moto server what it lacks: training jobs that train for a while and stop.
"""

import boto3
import pytest

from jobs.models import (
    Algorithm,
    Backend,
    MetricSample,
    ObjectiveStatus,
    StopReason,
    TrainingJobStatus,
    TuningJob,
    TuningJobStatus,
)
from jobs.services import tuning_job_create
from tests.jobs.factories import tuning_job_config
from tests.jobs.sagemaker.lifecycle import TrainingLifecycle
from tests.jobs.waiting import wait_for

pytestmark = pytest.mark.integration

EPOCHS = 4
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


def accuracy(quality: int, epoch: int) -> float:
    """Jobs 1 to 3 learn well; job 4 (quality 4) hardly learns, so Auto should stop it."""
    if quality == 4:
        return 0.02 * epoch
    return (0.6 + 0.1 * quality) * epoch / EPOCHS


def test_early_stopping_stops_a_sagemaker_training_job_from_its_cloudwatch_metrics(
    workers, aws, aws_worker_env, tmp_path
):
    s3 = boto3.session.Session().client("s3", endpoint_url=aws, region_name="us-east-1")
    sagemaker = boto3.session.Session().client("sagemaker", endpoint_url=aws, region_name="us-east-1")
    s3.create_bucket(Bucket="data")
    s3.create_bucket(Bucket="models")
    s3.put_object(Bucket="data", Key="train/part-0.csv", Body=b"1,2\n")
    Algorithm.objects.create(
        name="quadratic",
        backend=Backend.SAGEMAKER,
        image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/quadratic:1",
        metric_definitions=[{"Name": "validation:accuracy", "Regex": r"validation:accuracy=(\S+)"}],
        static_hyperparameters={"epochs": str(EPOCHS)},
        input_channels={"train": "s3://data/train"},
        sagemaker_config={"RoleArn": ROLE, "InstanceType": "ml.m5.large", "S3OutputPath": "s3://models/runs"},
    )
    with TrainingLifecycle(
        aws, epochs=EPOCHS, value=lambda hyperparameters, epoch: accuracy(int(hyperparameters["quality"]), epoch)
    ) as lifecycle:
        workers.env.update(aws_worker_env)
        workers.env.update(TUNEBOARD_AWS_ENDPOINT_URL=lifecycle.url, TUNEBOARD_S3_ENDPOINT_URL=aws)
        # Three leaders compared at the same age: Auto's rule waits for five ended jobs and
        # compares at half the age, which four linear curves never trigger. The rule is not
        # what this test is about; the CloudWatch path to a stop is.
        workers.env.update(TUNEBOARD_EARLY_STOPPING_RULE="leader_envelope")
        workers.start_worker("control", 1)
        workers.start_worker("training", 1)
        # Grid over quality 1..4, one at a time: by job 4, three earlier jobs have full curves.
        tuning_job = tuning_job_create(
            config=tuning_job_config(
                strategy="Grid",
                parameter_ranges=[{"name": "quality", "type": "Integer", "min_value": 1, "max_value": 4}],
                max_training_jobs=4,
                max_parallel_training_jobs=1,
                early_stopping_type="Auto",
            )
        )
        wait_for(
            lambda: TuningJob.objects.get(pk=tuning_job.pk).status == TuningJobStatus.COMPLETED,
            workers,
            what="the tuning job to complete",
        )

    jobs = list(tuning_job.training_jobs.order_by("sequence"))
    assert [job.status for job in jobs] == [TrainingJobStatus.COMPLETED] * 3 + [TrainingJobStatus.STOPPED]
    stopped = jobs[3]
    assert stopped.stop_reason == StopReason.EARLY_STOPPING
    assert lifecycle.stop_requests == [stopped.remote_name]
    assert 2 <= stopped.epochs_run < EPOCHS
    assert stopped.secondary_status == "Stopped"
    for job in jobs[:3]:
        # Every epoch came from CloudWatch, in order, with the values the job "logged".
        quality = int(job.hyperparameters["quality"])
        samples = MetricSample.objects.filter(training_job=job).order_by("epoch")
        assert [(s.epoch, s.value) for s in samples] == [(e, accuracy(quality, e)) for e in range(1, EPOCHS + 1)]
        assert job.objective_status == ObjectiveStatus.SUCCEEDED
        assert job.model_artifact_uri == f"s3://models/runs/{tuning_job.name}/{job.remote_name}/output/model.tar.gz"
        remote = sagemaker.describe_training_job(TrainingJobName=job.remote_name)
        assert remote["HyperParameters"]["quality"] == str(quality)
        assert remote["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://data/train"
    tuning_job.refresh_from_db()
    assert tuning_job.best_training_job == jobs[2]
