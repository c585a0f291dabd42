"""SageMakerBackend against a moto server over HTTP, with botocore's Stubber where moto falls short.

moto creates training jobs that are Completed at once, publishes no CloudWatch
metrics, cannot fail a job and has no StopTrainingJob. So CloudWatch is always
the real moto server, seeded by the tests with put_metric_data; SageMaker is
moto where moto can answer, and a Stubber (which validates every request and
response against SageMaker's real service model) where a test needs a job that
stays InProgress, fails, is stopped, or an error moto never returns (throttling,
AccessDenied, ResourceLimitExceeded, bad credentials: moto's server does not
check credentials).
"""

import time
from datetime import UTC, datetime, timedelta

import pytest
from botocore.stub import ANY, Stubber

from jobs import aws
from jobs.backends import MetricDefinition, Outcome, StopCause, TrainingRunSpec
from jobs.backends.sagemaker import METRICS_NAMESPACE, SageMakerBackend, SageMakerTrainingConfig, remote_job_name

pytestmark = pytest.mark.usefixtures("aws")

ACCURACY = MetricDefinition("validation:accuracy", r"validation:accuracy=(\S+)")
LOSS = MetricDefinition("train:loss", r"train:loss=(\S+)")
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
NAME = "tj-1-001-0a1b2c3d"


class Monitor:
    def __init__(self, stop_after_epoch=None):
        self.records = []
        self.heartbeats = 0
        self.secondary_statuses = []
        self.stop_after_epoch = stop_after_epoch

    def on_metrics(self, records):
        self.records += records

    def should_stop(self):
        epochs = [r.epoch for r in self.records if r.metric_name == ACCURACY.name]
        return self.stop_after_epoch is not None and max(epochs, default=0) >= self.stop_after_epoch

    def heartbeat(self):
        self.heartbeats += 1

    def on_secondary_status(self, status):
        self.secondary_statuses.append(status)


class Sleeps:
    """The backend's sleep, for tests that count waits: it remembers them and returns at once."""

    def __init__(self):
        self.waits = []

    def __call__(self, seconds):
        self.waits.append(seconds)


def config(**overrides):
    values = {
        "remote_name": NAME,
        "role_arn": ROLE,
        "output_path": "s3://models/tj-1",
        "instance_type": "ml.m5.large",
        "training_image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgb:1",
    }
    values.update(overrides)
    return SageMakerTrainingConfig(**values)


def spec(tmp_path, **overrides):
    values = {
        "job_name": "tj-1-001",
        "command": ["train"],
        "hyperparameters": {"learning_rate": "0.1", "epochs": "5"},
        "metric_definitions": [ACCURACY, LOSS],
        "job_dir": tmp_path / "job",
        "max_runtime_seconds": 600,
        "poll_interval_seconds": 0.01,
        "heartbeat_interval_seconds": 0.01,
    }
    values.update(overrides)
    return TrainingRunSpec(**values)


CLIENTS = {}


def client(service_name):
    """One client per service for the module (each costs a few tenths of a second to build);
    the `aws` fixture points them at the same moto server, reset for every test."""
    if service_name not in CLIENTS:
        CLIENTS[service_name] = aws.client(service_name)
    return CLIENTS[service_name]


def backend(sagemaker=None, sleep=time.sleep, **overrides):
    return SageMakerBackend(
        config(**overrides),
        sagemaker=sagemaker or client("sagemaker"),
        cloudwatch=client("cloudwatch"),
        s3=client("s3"),
        retry_wait_seconds=0.01,
        sleep=sleep,
    )


def seed_metrics(job_name, name, values, start=None):
    """What SageMaker would have published from the job's log: one datapoint per epoch."""
    start = start or datetime.now(UTC) - timedelta(seconds=len(values) + 5)
    client("cloudwatch").put_metric_data(
        Namespace=METRICS_NAMESPACE,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": "TrainingJobName", "Value": job_name}],
                "Timestamp": start + timedelta(seconds=epoch),
                "Value": value,
            }
            for epoch, value in enumerate(values)
        ],
    )


def description(status, secondary, **extra):
    now = datetime.now(UTC)
    return {
        "TrainingJobName": NAME,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{NAME}",
        "ModelArtifacts": {"S3ModelArtifacts": extra.pop("artifact", "")},
        "TrainingJobStatus": status,
        "SecondaryStatus": secondary,
        "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        "CreationTime": now,
        **extra,
    }


def stubbed_sagemaker():
    sagemaker = aws.client("sagemaker")
    return sagemaker, Stubber(sagemaker)


def expect_create(stubber):
    stubber.add_response(
        "create_training_job",
        {"TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{NAME}"},
        {
            "TrainingJobName": NAME,
            "HyperParameters": ANY,
            "AlgorithmSpecification": ANY,
            "RoleArn": ROLE,
            "OutputDataConfig": ANY,
            "ResourceConfig": ANY,
            "StoppingCondition": ANY,
        },
    )


def expect_describe(stubber, status, secondary, **extra):
    stubber.add_response("describe_training_job", description(status, secondary, **extra), {"TrainingJobName": NAME})


# --- against moto alone ------------------------------------------------------------


def test_a_job_is_created_as_sagemaker_expects_and_its_cloudwatch_metrics_arrive_per_epoch(tmp_path):
    s3 = client("s3")
    s3.create_bucket(Bucket="data")
    s3.put_object(Bucket="data", Key="train/part-0.csv", Body=b"1,2\n")
    seed_metrics(NAME, ACCURACY.name, [0.5, 0.6, 0.7])
    seed_metrics(NAME, LOSS.name, [0.9, 0.8, 0.7])
    monitor = Monitor()

    result = backend(input_channels={"train": "s3://data/train"}).run(spec(tmp_path), monitor)

    assert result.outcome == Outcome.COMPLETED
    assert result.model_artifact_uri == f"s3://models/tj-1/{NAME}/output/model.tar.gz"
    assert result.secondary_status == "Completed"
    assert [(r.metric_name, r.epoch, r.value) for r in monitor.records if r.metric_name == ACCURACY.name] == [
        (ACCURACY.name, 1, 0.5),
        (ACCURACY.name, 2, 0.6),
        (ACCURACY.name, 3, 0.7),
    ]
    assert [r.epoch for r in monitor.records if r.metric_name == LOSS.name] == [1, 2, 3]
    timestamps = [r.timestamp for r in monitor.records]
    assert timestamps == sorted(timestamps)
    created = client("sagemaker").describe_training_job(TrainingJobName=NAME)
    assert created["HyperParameters"] == {"learning_rate": "0.1", "epochs": "5"}
    assert created["RoleArn"] == ROLE
    assert created["ResourceConfig"] == {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30}
    assert created["StoppingCondition"] == {"MaxRuntimeInSeconds": 600}
    assert created["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://data/train"
    assert created["AlgorithmSpecification"]["TrainingImage"].endswith("/xgb:1")


def test_remote_names_are_unique_per_run_and_valid_for_sagemaker():
    assert remote_job_name("tj-1-001", "0a1b2c3d") == "tj-1-001-0a1b2c3d"
    assert remote_job_name("tj-1-001", "00000000") != remote_job_name("tj-1-001", "ffffffff")


def test_a_name_sagemaker_would_reject_fails_the_job_before_anything_is_created(tmp_path):
    result = backend(remote_name="tuning_job-001-0a1b2c3d").run(spec(tmp_path), Monitor())

    assert result.outcome == Outcome.FAILED
    assert "ValidationException" in result.failure_reason
    assert "'tuning_job-001-0a1b2c3d' is not a valid SageMaker training job name" in result.failure_reason
    assert client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []


def test_an_input_channel_that_does_not_exist_fails_the_job_before_anything_is_created(tmp_path):
    client("s3").create_bucket(Bucket="data")

    result = backend(input_channels={"train": "s3://data/nothing-here"}).run(spec(tmp_path), Monitor())

    assert result.outcome == Outcome.FAILED
    assert result.failure_reason == (
        "ClientError: input channel 'train': s3://data/nothing-here does not exist (no object has this prefix)."
    )
    assert client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []


def test_an_input_channel_in_a_missing_bucket_fails_the_job(tmp_path):
    result = backend(input_channels={"train": "s3://no-such-bucket/x"}).run(spec(tmp_path), Monitor())

    assert result.outcome == Outcome.FAILED
    assert "input channel 'train': s3://no-such-bucket/x: NoSuchBucket" in result.failure_reason


def test_missing_credentials_fail_the_job_with_a_hint(tmp_path, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    unconfigured = SageMakerBackend(
        config(), sagemaker=aws.client("sagemaker"), cloudwatch=aws.client("cloudwatch"), s3=aws.client("s3")
    )

    result = unconfigured.run(spec(tmp_path), Monitor())

    assert result.outcome == Outcome.FAILED
    assert result.failure_reason.startswith(
        f"CreateTrainingJob {NAME}: NoCredentialsError: Unable to locate credentials"
    )
    assert "Check the AWS credentials of the training workers" in result.failure_reason


# --- a job that runs for a while: Stubber for SageMaker, moto for CloudWatch ---------


def test_metrics_arriving_while_the_job_runs_drive_a_stop(tmp_path):
    """StopTrainingJob is missing from moto, and moto's jobs never stay InProgress: both are stubbed."""
    client, stubber = stubbed_sagemaker()
    expect_create(stubber)
    expect_describe(stubber, "InProgress", "Training")
    stubber.add_response("stop_training_job", {}, {"TrainingJobName": NAME})
    expect_describe(stubber, "Stopping", "Stopping")
    expect_describe(stubber, "Stopped", "Stopped", artifact=f"s3://models/tj-1/{NAME}/output/model.tar.gz")
    monitor = Monitor(stop_after_epoch=3)
    seed_metrics(NAME, ACCURACY.name, [0.1, 0.15, 0.2])

    with stubber:
        result = backend(sagemaker=client).run(spec(tmp_path), monitor)
        stubber.assert_no_pending_responses()

    assert result.outcome == Outcome.STOPPED
    assert result.stop_cause == StopCause.REQUESTED
    assert result.model_artifact_uri.endswith("/output/model.tar.gz")
    assert monitor.secondary_statuses == ["Training", "Stopping", "Stopped"]
    assert [r.epoch for r in monitor.records if r.metric_name == ACCURACY.name] == [1, 2, 3]


def test_metrics_published_later_are_handed_over_once_and_in_epoch_order(tmp_path):
    client, stubber = stubbed_sagemaker()
    expect_create(stubber)
    expect_describe(stubber, "InProgress", "Training")
    expect_describe(stubber, "InProgress", "Training")
    expect_describe(stubber, "Completed", "Completed")
    monitor = Monitor()
    seed_metrics(NAME, ACCURACY.name, [0.1, 0.2], start=datetime.now(UTC) - timedelta(seconds=30))
    polls = {"count": 0}

    def sleep(seconds):
        # Between the first and second look, the job logs two more epochs.
        polls["count"] += 1
        time.sleep(seconds)
        if polls["count"] == 1:
            seed_metrics(NAME, ACCURACY.name, [0.3, 0.4], start=datetime.now(UTC) - timedelta(seconds=10))

    with stubber:
        result = backend(sagemaker=client, sleep=sleep).run(spec(tmp_path), monitor)

    assert result.outcome == Outcome.COMPLETED
    assert [(r.epoch, r.value) for r in monitor.records] == [(1, 0.1), (2, 0.2), (3, 0.3), (4, 0.4)]


def test_a_stop_after_the_job_ended_on_sagemaker_reports_how_it_ended(tmp_path):
    client, stubber = stubbed_sagemaker()
    expect_create(stubber)
    expect_describe(stubber, "InProgress", "Uploading")
    stubber.add_client_error(
        "stop_training_job",
        service_error_code="ValidationException",
        service_message="The training job is not in progress.",
        http_status_code=400,
    )
    expect_describe(stubber, "Completed", "Completed")

    with stubber:
        result = backend(sagemaker=client).run(spec(tmp_path), Monitor(stop_after_epoch=0))

    assert result.outcome == Outcome.COMPLETED


def test_a_job_that_reaches_its_max_runtime_ends_stopped_for_that_reason(tmp_path):
    client, stubber = stubbed_sagemaker()
    expect_create(stubber)
    expect_describe(stubber, "Stopped", "MaxRuntimeExceeded")

    with stubber:
        result = backend(sagemaker=client).run(spec(tmp_path), Monitor())

    assert result.outcome == Outcome.STOPPED
    assert result.stop_cause == StopCause.MAX_RUNTIME


def test_a_job_that_fails_on_sagemaker_fails_with_its_reason(tmp_path):
    """moto never fails a training job: the Failed description is stubbed."""
    client, stubber = stubbed_sagemaker()
    expect_create(stubber)
    expect_describe(stubber, "InProgress", "Downloading")
    expect_describe(
        stubber, "Failed", "Failed", FailureReason="AlgorithmError: ValueError: learning_rate must be positive"
    )

    with stubber:
        result = backend(sagemaker=client).run(spec(tmp_path), Monitor())

    assert result.outcome == Outcome.FAILED
    assert result.failure_reason == "SageMaker: AlgorithmError: ValueError: learning_rate must be positive"
    assert result.secondary_status == "Failed"


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        (
            "AccessDeniedException",
            "User is not authorized to perform: sagemaker:CreateTrainingJob",
            f"CreateTrainingJob {NAME}: AccessDeniedException: User is not authorized to perform: "
            "sagemaker:CreateTrainingJob",
        ),
        (
            "ResourceLimitExceeded",
            "The account-level service limit 'ml.p3.2xlarge for training job usage' is 0 Instances",
            f"CreateTrainingJob {NAME}: ResourceLimitExceeded: The account-level service limit "
            "'ml.p3.2xlarge for training job usage' is 0 Instances",
        ),
        (
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            f"CreateTrainingJob {NAME}: UnrecognizedClientException: The security token included in the request "
            "is invalid. Check the AWS credentials of the training workers (environment, shared credentials file "
            "or instance role).",
        ),
    ],
)
def test_errors_that_asking_again_will_not_fix_fail_the_job_at_once(tmp_path, code, message, expected):
    """moto returns none of these (its server checks no credentials and no limits): stubbed."""
    client, stubber = stubbed_sagemaker()
    stubber.add_client_error("create_training_job", service_error_code=code, service_message=message)
    sleeps = Sleeps()

    with stubber:
        result = backend(sagemaker=client, sleep=sleeps).run(spec(tmp_path), Monitor())
        stubber.assert_no_pending_responses()

    assert result.outcome == Outcome.FAILED
    assert result.failure_reason == expected
    assert sleeps.waits == []


def test_persistent_throttling_of_create_is_retried_a_bounded_number_of_times(tmp_path):
    """Stubbed responses skip botocore's own retries, so each one is one of our attempts."""
    client, stubber = stubbed_sagemaker()
    for _ in range(4):
        stubber.add_client_error(
            "create_training_job", service_error_code="ThrottlingException", service_message="Rate exceeded"
        )
    sleeps = Sleeps()
    monitor = Monitor()

    with stubber:
        result = backend(sagemaker=client, sleep=sleeps).run(spec(tmp_path), monitor)
        stubber.assert_no_pending_responses()

    assert result.outcome == Outcome.FAILED
    assert result.failure_reason == f"CreateTrainingJob {NAME}: ThrottlingException: Rate exceeded"
    assert sleeps.waits == [0.01, 0.02, 0.04]
    assert monitor.heartbeats >= 3


def test_throttling_that_passes_is_ridden_out(tmp_path):
    client, stubber = stubbed_sagemaker()
    expect_create(stubber)
    stubber.add_client_error("describe_training_job", service_error_code="ThrottlingException", http_status_code=400)
    stubber.add_client_error("describe_training_job", service_error_code="InternalFailure", http_status_code=500)
    expect_describe(stubber, "Completed", "Completed")

    with stubber:
        result = backend(sagemaker=client).run(spec(tmp_path), Monitor())

    assert result.outcome == Outcome.COMPLETED


def test_a_job_that_can_no_longer_be_watched_is_failed_here_and_stopped_there(tmp_path):
    client, stubber = stubbed_sagemaker()
    expect_create(stubber)
    for _ in range(4):
        stubber.add_client_error(
            "describe_training_job", service_error_code="ThrottlingException", service_message="Rate exceeded"
        )
    stubber.add_response("stop_training_job", {}, {"TrainingJobName": NAME})

    with stubber:
        result = backend(sagemaker=client).run(spec(tmp_path), Monitor())
        stubber.assert_no_pending_responses()

    assert result.outcome == Outcome.FAILED
    assert result.failure_reason == (
        f"Lost track of SageMaker training job {NAME}: ThrottlingException: Rate exceeded; it was asked to stop."
    )


def test_a_retried_create_whose_first_attempt_got_through_carries_on(tmp_path):
    client, stubber = stubbed_sagemaker()
    stubber.add_client_error("create_training_job", service_error_code="ServiceUnavailable", http_status_code=503)
    stubber.add_client_error(
        "create_training_job", service_error_code="ResourceInUse", service_message=f"{NAME} already exists"
    )
    expect_describe(stubber, "Completed", "Completed")

    with stubber:
        result = backend(sagemaker=client).run(spec(tmp_path), Monitor())

    assert result.outcome == Outcome.COMPLETED
