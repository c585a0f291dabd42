"""The seed's code path end to end: boto3 and the SageMaker Python SDK v2 against a live Tuneboard.

daphne serves the site, real Celery workers run the training programs; the
test only talks to the endpoint, as a notebook written for SageMaker would.
"""

import time

import pytest

from jobs import aws
from tests.jobs.factories import CONVERGING_PROGRAM, register_algorithm, write_program
from tests.jobs.sagemaker.api.conftest import (
    IMAGE,
    create_request,
    register_image,
    sagemaker_client,
    sdk_environment,
    sdk_session,
)

pytestmark = pytest.mark.integration


def wait_for_status(client, name, statuses, workers, timeout=90.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        if described["HyperParameterTuningJobStatus"] in statuses:
            return described
        time.sleep(0.3)
    pytest.fail(f"{name} did not reach {statuses} in {timeout:.0f} s\n{workers.logs()}")


def test_boto3_and_the_sagemaker_sdk_against_a_live_tuneboard(
    workers, static_root, people, tmp_path, monkeypatch, aws_worker_env
):
    program = write_program(tmp_path / "programs", "converging.py", CONVERGING_PROGRAM)
    register_algorithm(program=program, static_hyperparameters={"epoch_seconds": "0.01"})
    register_image("quadratic")
    # The request's InputDataConfig and OutputDataConfig: the training jobs read and write there.
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="bucket")
    s3.put_object(Bucket="bucket", Key="train/part-0.csv", Body=b"1,2\n")
    workers.env.update(aws_worker_env)
    workers.start_worker("control", 1)
    workers.start_worker("training", 2)
    url = workers.start_web(static_root)
    key = people[1]["alice"]
    client = sagemaker_client(url, key)

    limits = {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 2}
    client.create_hyper_parameter_tuning_job(**create_request("live-1", ResourceLimits=limits))
    described = wait_for_status(client, "live-1", {"Completed"}, workers)
    assert described["TrainingJobStatusCounters"]["Completed"] == 6
    best = described["BestTrainingJob"]["TrainingJobName"]

    ranked = client.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="live-1", SortBy="FinalObjectiveMetricValue", SortOrder="Descending"
    )["TrainingJobSummaries"]
    values = [summary["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for summary in ranked]
    assert len(values) == 6
    assert values == sorted(values, reverse=True)
    assert ranked[0]["TrainingJobName"] == best
    training = client.describe_training_job(TrainingJobName=best)
    assert training["FinalMetricDataList"][0]["Value"] == values[0]
    assert training["HyperParameters"]["epochs"] == "3"
    model = training["ModelArtifacts"]["S3ModelArtifacts"]
    assert model == f"s3://bucket/output/live-1/{best}/output/model.tar.gz"
    assert s3.head_object(Bucket="bucket", Key=model.removeprefix("s3://bucket/"))["ContentLength"] > 0

    # The seed's analysis, unchanged but for the session's client, behind a dead proxy.
    sdk_environment(monkeypatch, url, key)
    from sagemaker.analytics import HyperparameterTuningJobAnalytics
    from sagemaker.tuner import HyperparameterTuner

    session = sdk_session(client, key)
    frame = HyperparameterTuningJobAnalytics("live-1", sagemaker_session=session).dataframe()
    assert len(frame) == 6
    assert {
        "learning_rate",
        "optimizer",
        "TrainingJobName",
        "FinalObjectiveValue",
        "TrainingElapsedTimeSeconds",
    } <= set(frame.columns)
    assert frame.sort_values("FinalObjectiveValue", ascending=False).iloc[0]["TrainingJobName"] == best
    assert (frame["TrainingElapsedTimeSeconds"] > 0).all()

    tuner = HyperparameterTuner.attach("live-1", sagemaker_session=session)
    assert tuner.best_training_job() == best
    assert (tuner.max_jobs, tuner.max_parallel_jobs, tuner.objective_metric_name) == (6, 2, "validation:accuracy")
    assert tuner.estimator.image_uri == IMAGE
    assert tuner.estimator.role == "arn:aws:iam::123456789012:role/SageMakerRole"
    tuned = {item["Name"] for items in tuner.hyperparameter_ranges().values() for item in items}
    assert tuned == {"learning_rate", "optimizer"}

    # A long one, stopped through the endpoint while its training jobs run.
    slow = create_request("live-2", ResourceLimits=limits)
    slow["TrainingJobDefinition"]["StaticHyperParameters"] = {"epochs": "1000", "epoch_seconds": "0.05"}
    client.create_hyper_parameter_tuning_job(**slow)
    deadline = time.monotonic() + 60
    while not client.list_training_jobs(NameContains="live-2", StatusEquals="InProgress")["TrainingJobSummaries"]:
        assert time.monotonic() < deadline, workers.logs()
        time.sleep(0.2)
    client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="live-2")
    stopped = wait_for_status(client, "live-2", {"Stopped"}, workers, timeout=60)
    assert stopped["TrainingJobStatusCounters"]["Stopped"] >= 1
    assert stopped["TrainingJobStatusCounters"]["InProgress"] == 0
