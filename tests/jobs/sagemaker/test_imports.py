"""Importing SageMaker tuning jobs, against moto in server mode (real boto3 over HTTP).

moto has no ListTrainingJobsForHyperParameterTuningJob, so that one operation
is answered by botocore's Stubber on a second client (see ListingStub): the
Stubber checks every request and response against SageMaker's service model,
so what the import reads has SageMaker's real shape. Everything else
(DescribeHyperParameterTuningJob, ListHyperParameterTuningJobs,
DescribeTrainingJob, CloudWatch's PutMetricData/GetMetricData) is moto's.
"""

import time
from datetime import UTC, datetime, timedelta
from io import StringIO
from types import SimpleNamespace

import boto3
import pytest
from botocore.stub import Stubber
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError

from jobs import services
from jobs.models import Algorithm, Backend, MetricSample, StopReason, TrainingJob, TuningJob, TuningJobSource
from jobs.sagemaker import imports as sagemaker_imports
from jobs.sagemaker.shapes import imported_stop_reason
from tests.jobs.factories import register_algorithm, tuning_job_config

pytestmark = pytest.mark.django_db

OBJECTIVE = "validation:accuracy"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/image-classifier:1.2"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
LISTING = "list_training_jobs_for_hyper_parameter_tuning_job"
NOW = datetime.now(UTC).replace(microsecond=0)

# One session for the tests' clients: it parses SageMaker's large service model
# once, where jobs.aws.client (a new session each, as threads need) takes ~0.7 s.
_SESSION = boto3.session.Session()


def aws_client(service_name):
    """A client configured like jobs.aws.client's (the `aws` fixture's moto server)."""
    return _SESSION.client(
        service_name, region_name=settings.TUNEBOARD_AWS_REGION, endpoint_url=settings.TUNEBOARD_AWS_ENDPOINT_URL
    )


class ListingStub:
    """moto's sagemaker client, except that a Stubber answers ListTrainingJobsForHyperParameterTuningJob.

    moto lacks that operation; the Stubber (on its own client, so that every
    other operation still reaches moto) validates each request and response
    against the real service model.
    """

    def __init__(self):
        self.real = aws_client("sagemaker")
        self.listing = aws_client("sagemaker")
        self.stubber = Stubber(self.listing)
        self.stubber.activate()

    def __getattr__(self, name):
        return getattr(self.real, name)

    def get_paginator(self, operation):
        return (self.listing if operation == LISTING else self.real).get_paginator(operation)

    def add_listing(self, tuning_job_name: str, summaries: list[dict], page_size: int = 100):
        pages = [summaries[i : i + page_size] for i in range(0, len(summaries), page_size)] or [[]]
        for index, page in enumerate(pages):
            expected = {"HyperParameterTuningJobName": tuning_job_name}
            if index:
                expected["NextToken"] = f"page-{index}"
            response = {"TrainingJobSummaries": page}
            if index + 1 < len(pages):
                response["NextToken"] = f"page-{index + 1}"
            self.stubber.add_response(LISTING, response, expected)


@pytest.fixture
def sagemaker(aws):
    return ListingStub()


@pytest.fixture
def cloudwatch(aws):
    return aws_client("cloudwatch")


@pytest.fixture
def clients(sagemaker, cloudwatch):
    return sagemaker_imports.Clients(sagemaker=sagemaker, cloudwatch=cloudwatch)


def create_tuning_job(sagemaker, name, *, early_stopping="Auto", strategy="Bayesian"):
    sagemaker.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name,
        HyperParameterTuningJobConfig={
            "Strategy": strategy,
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": OBJECTIVE},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 5, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {"Name": "learning_rate", "MinValue": "0.0001", "MaxValue": "0.1", "ScalingType": "Logarithmic"}
                ],
                "IntegerParameterRanges": [{"Name": "mini_batch_size", "MinValue": "16", "MaxValue": "256"}],
                "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["sgd", "adam"]}],
            },
            "TrainingJobEarlyStoppingType": early_stopping,
        },
        TrainingJobDefinition={
            "StaticHyperParameters": {"epochs": "5"},
            "AlgorithmSpecification": {
                "TrainingImage": IMAGE,
                "TrainingInputMode": "File",
                "MetricDefinitions": [
                    {"Name": OBJECTIVE, "Regex": r"validation:accuracy=(\S+)"},
                    {"Name": "train:loss", "Regex": r"train:loss=(\S+)"},
                ],
            },
            "RoleArn": ROLE,
            "OutputDataConfig": {"S3OutputPath": "s3://models/out"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
    )


TUNED = [
    {"learning_rate": "0.01", "mini_batch_size": "64", "optimizer": "adam"},
    {"learning_rate": "0.0005", "mini_batch_size": "32", "optimizer": "sgd"},
    {"learning_rate": "0.09", "mini_batch_size": "128", "optimizer": "sgd"},
    {"learning_rate": "0.002", "mini_batch_size": "16", "optimizer": "adam"},
]


def create_training_job(sagemaker, name, tuned):
    sagemaker.create_training_job(
        TrainingJobName=name,
        HyperParameters={"epochs": "5", **tuned},
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        RoleArn=ROLE,
        OutputDataConfig={"S3OutputPath": "s3://models/out"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
    )


def summary(tuning_job_name, index, status, *, started_minute, ended_minute=None, final=None, failure=None):
    """A HyperParameterTrainingJobSummary; times are minutes after NOW - 1 h."""
    base = NOW - timedelta(hours=1)
    item = {
        "TrainingJobName": f"{tuning_job_name}-{index:03d}-5e1f2a3b",
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{tuning_job_name}-{index:03d}",
        "TuningJobName": tuning_job_name,
        "CreationTime": base + timedelta(minutes=started_minute),
        "TrainingStartTime": base + timedelta(minutes=started_minute),
        "TrainingJobStatus": status,
        "TunedHyperParameters": TUNED[index - 1],
        "ObjectiveStatus": "Succeeded" if final is not None else ("Failed" if status == "Failed" else "Pending"),
    }
    if ended_minute is not None:
        item["TrainingEndTime"] = base + timedelta(minutes=ended_minute)
    if final is not None:
        objective = {"Type": "Maximize", "MetricName": OBJECTIVE, "Value": final}
        item["FinalHyperParameterTuningJobObjectiveMetric"] = objective
    if failure:
        item["FailureReason"] = failure
    return item


def put_epochs(cloudwatch, training_job_name, metric_name, started_minute, values):
    """One datapoint a minute, as SageMaker publishes a metric its definitions match once per epoch."""
    base = NOW - timedelta(hours=1) + timedelta(minutes=started_minute)
    cloudwatch.put_metric_data(
        Namespace="/aws/sagemaker/TrainingJobs",
        MetricData=[
            {
                "MetricName": metric_name,
                "Dimensions": [{"Name": "TrainingJobName", "Value": training_job_name}],
                "Timestamp": base + timedelta(minutes=epoch, seconds=20),
                "Value": value,
            }
            for epoch, value in enumerate(values)
        ],
    )


@pytest.fixture
def seeded(sagemaker, cloudwatch):
    """tj-review on SageMaker: 3 training jobs (Completed, Stopped early, Failed) and their CloudWatch metrics."""
    create_tuning_job(sagemaker, "tj-review")
    summaries = [
        summary("tj-review", 1, "Completed", started_minute=0, ended_minute=6, final=0.91),
        summary("tj-review", 2, "Stopped", started_minute=1, ended_minute=4),
        summary("tj-review", 3, "Failed", started_minute=7, ended_minute=8, failure="AlgorithmError: out of memory"),
    ]
    for index, item in enumerate(summaries):
        create_training_job(sagemaker.real, item["TrainingJobName"], TUNED[index])
    put_epochs(cloudwatch, summaries[0]["TrainingJobName"], OBJECTIVE, 0, [0.5, 0.7, 0.8, 0.88, 0.91])
    put_epochs(cloudwatch, summaries[0]["TrainingJobName"], "train:loss", 0, [0.9, 0.5, 0.3, 0.2, 0.1])
    put_epochs(cloudwatch, summaries[1]["TrainingJobName"], OBJECTIVE, 1, [0.2, 0.25])
    return summaries


def test_import_stores_a_read_only_tuning_job_with_its_training_jobs_and_metrics(clients, sagemaker, seeded):
    sagemaker.add_listing("tj-review", seeded, page_size=2)  # two pages

    report = sagemaker_imports.import_tuning_jobs(name="tj-review", clients=clients)

    sagemaker.stubber.assert_no_pending_responses()
    assert report.failed == []
    [outcome] = report.imported
    assert (outcome.created, outcome.training_jobs_created, outcome.training_jobs_updated) == (True, 3, 0)
    tuning_job = TuningJob.objects.get(name="tj-review")
    assert tuning_job.source == TuningJobSource.SAGEMAKER_IMPORT and tuning_job.is_imported
    assert tuning_job.source_arn == "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/tj-review"
    assert (tuning_job.status, tuning_job.strategy, tuning_job.early_stopping_type) == ("Completed", "Bayesian", "Auto")
    assert (tuning_job.objective_metric_name, tuning_job.objective_type) == (OBJECTIVE, "Maximize")
    assert (tuning_job.max_training_jobs, tuning_job.max_parallel_training_jobs) == (5, 2)
    assert [r["name"] for r in tuning_job.parameter_ranges] == ["learning_rate", "mini_batch_size", "optimizer"]
    assert tuning_job.s3_output_path == "s3://models/out"
    algorithm = tuning_job.algorithm
    assert (algorithm.name, algorithm.backend) == ("image-classifier-1-2", Backend.SAGEMAKER)
    assert algorithm.image_uri == IMAGE
    assert algorithm.metric_names == [OBJECTIVE, "train:loss"]
    assert algorithm.sagemaker_config["RoleArn"] == ROLE

    jobs = list(tuning_job.training_jobs.order_by("sequence"))
    assert [(job.sequence, job.status) for job in jobs] == [(1, "Completed"), (2, "Stopped"), (3, "Failed")]
    completed, stopped, failed = jobs
    assert completed.final_objective_value == 0.91 and completed.objective_status == "Succeeded"
    assert completed.hyperparameters == {"epochs": "5", **TUNED[0]}
    assert completed.tuned_hyperparameters == TUNED[0]
    assert completed.model_artifact_uri == f"s3://models/out/{completed.name}/output/model.tar.gz"
    assert completed.remote_name == completed.name and completed.secondary_status == "Completed"
    assert completed.started_at == seeded[0]["TrainingStartTime"] and completed.ended_at == seeded[0]["TrainingEndTime"]
    assert completed.created_at == seeded[0]["CreationTime"]
    # Early stopping Auto, and the tuning job was not stopped: the tuner stopped it.
    assert stopped.stop_reason == StopReason.EARLY_STOPPING
    assert failed.failure_reason == "AlgorithmError: out of memory" and failed.objective_status == "Failed"
    assert tuning_job.best_training_job == completed

    curve = list(
        MetricSample.objects.filter(training_job=completed, metric_name=OBJECTIVE)
        .order_by("epoch")
        .values_list("epoch", "value")
    )
    assert curve == [(1, 0.5), (2, 0.7), (3, 0.8), (4, 0.88), (5, 0.91)]
    assert MetricSample.objects.filter(training_job=completed, metric_name="train:loss").count() == 5
    assert list(stopped.metric_samples.order_by("epoch").values_list("epoch", "value")) == [(1, 0.2), (2, 0.25)]
    assert (completed.epochs_run, stopped.epochs_run, failed.epochs_run) == (5, 2, 0)
    assert outcome.metric_samples == 12


def test_importing_again_updates_and_never_duplicates(clients, sagemaker, cloudwatch, seeded):
    running = summary("tj-review", 4, "InProgress", started_minute=9)
    create_training_job(sagemaker.real, running["TrainingJobName"], TUNED[3])
    put_epochs(cloudwatch, running["TrainingJobName"], OBJECTIVE, 9, [0.4, 0.6])
    sagemaker.add_listing("tj-review", [*seeded, running])
    sagemaker_imports.import_tuning_jobs(name="tj-review", clients=clients)
    job = TrainingJob.objects.get(name=running["TrainingJobName"])
    assert (job.status, job.ended_at, job.epochs_run, job.final_objective_value) == ("InProgress", None, 2, None)

    put_epochs(cloudwatch, running["TrainingJobName"], OBJECTIVE, 11, [0.75])
    finished = {
        **running,
        "TrainingJobStatus": "Completed",
        "TrainingEndTime": NOW - timedelta(minutes=40),
        "FinalHyperParameterTuningJobObjectiveMetric": {"Type": "Maximize", "MetricName": OBJECTIVE, "Value": 0.95},
        "ObjectiveStatus": "Succeeded",
    }
    sagemaker.add_listing("tj-review", [*seeded, finished])
    report = sagemaker_imports.import_tuning_jobs(name="tj-review", clients=clients)

    [outcome] = report.imported
    # Only the job that was running is read again: the ended ones cannot have changed.
    assert (outcome.created, outcome.training_jobs_created, outcome.training_jobs_updated) == (False, 0, 1)
    assert TuningJob.objects.filter(name="tj-review").count() == 1
    assert TrainingJob.objects.filter(tuning_job__name="tj-review").count() == 4
    job.refresh_from_db()
    assert (job.status, job.sequence, job.final_objective_value, job.epochs_run) == ("Completed", 4, 0.95, 3)
    assert job.ended_at == finished["TrainingEndTime"]
    assert list(job.metric_samples.order_by("epoch").values_list("value", flat=True)) == [0.4, 0.6, 0.75]
    assert MetricSample.objects.filter(tuning_job__name="tj-review").count() == 12 + 3
    assert TuningJob.objects.get(name="tj-review").best_training_job == job
    assert Algorithm.objects.filter(image_uri=IMAGE).count() == 1


def test_an_image_aliased_to_an_algorithm_imports_into_that_algorithm(clients, sagemaker, seeded):
    register_algorithm(name="classifier", metrics=(OBJECTIVE, "train:loss"), image_uri_aliases=[IMAGE])
    sagemaker.add_listing("tj-review", seeded, page_size=2)

    sagemaker_imports.import_tuning_jobs(name="tj-review", clients=clients)

    assert TuningJob.objects.get(name="tj-review").algorithm.name == "classifier"
    assert not Algorithm.objects.filter(image_uri=IMAGE).exists()  # the alias is not taken over


def test_since_imports_every_tuning_job_created_after_the_date(clients, sagemaker):
    create_tuning_job(sagemaker, "tj-old")
    created = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="tj-old")["CreationTime"]
    since = created + timedelta(milliseconds=5)
    time.sleep(0.02)
    for name in ("tj-new-a", "tj-new-b"):
        create_tuning_job(sagemaker, name, early_stopping="Off")
        sagemaker.add_listing(name, [])

    report = sagemaker_imports.import_tuning_jobs(since=since, clients=clients)

    assert sorted(outcome.tuning_job.name for outcome in report.imported) == ["tj-new-a", "tj-new-b"]
    assert not TuningJob.objects.filter(name="tj-old").exists()
    # One algorithm for the image, shared by both.
    assert Algorithm.objects.count() == 1


@pytest.mark.parametrize(
    ("tuning_job_status", "early_stopping", "strategy", "ended", "secondary", "expected"),
    [
        ("Completed", "Auto", "Bayesian", 10, "Stopped", StopReason.EARLY_STOPPING),
        ("Completed", "Off", "Hyperband", 10, "Stopped", StopReason.HYPERBAND),
        ("Completed", "Off", "Random", -10, "Stopped", StopReason.USER_REQUEST),
        # In a stopped tuning job, only a job that ended before the last one was created ended before the stop.
        ("Stopped", "Auto", "Bayesian", -10, "Stopped", StopReason.EARLY_STOPPING),
        ("Stopped", "Auto", "Bayesian", 10, "Stopped", StopReason.USER_REQUEST),
        ("Completed", "Auto", "Bayesian", 10, "MaxRuntimeExceeded", StopReason.MAX_RUNTIME),
    ],
)
def test_why_a_training_job_was_stopped(tuning_job_status, early_stopping, strategy, ended, secondary, expected):
    config = SimpleNamespace(strategy=strategy, early_stopping_type=early_stopping)
    reason = imported_stop_reason(
        status="Stopped",
        secondary_status=secondary,
        ended_at=NOW + timedelta(minutes=ended),
        tuning_job=SimpleNamespace(status=tuning_job_status, config=config),
        last_created_at=NOW,
    )
    assert reason == expected


def test_a_tuning_job_with_the_name_of_a_native_one_is_refused(clients, sagemaker, seeded):
    register_algorithm()
    services.tuning_job_create(config=tuning_job_config(name="tj-review"))
    sagemaker.add_listing("tj-review", seeded)

    report = sagemaker_imports.import_tuning_jobs(name="tj-review", clients=clients)

    assert report.imported == []
    [(name, reason)] = report.failed
    assert name == "tj-review"
    assert reason == (
        "tj-review cannot be imported: "
        "A tuning job named 'tj-review' was created in Tuneboard; a SageMaker job cannot replace it."
    )
    assert TuningJob.objects.get(name="tj-review").source == TuningJobSource.NATIVE


def test_access_denied_is_a_clear_error(aws):
    """moto does not enforce IAM, so the Stubber plays SageMaker's AccessDeniedException."""
    client = aws_client("sagemaker")
    stubber = Stubber(client)
    stubber.add_client_error(
        "describe_hyper_parameter_tuning_job",
        service_error_code="AccessDeniedException",
        service_message="User: arn:aws:iam::123456789012:user/ann is not authorized",
        http_status_code=400,
        expected_params={"HyperParameterTuningJobName": "tj-review"},
    )
    clients = sagemaker_imports.Clients(sagemaker=client, cloudwatch=aws_client("cloudwatch"))
    with stubber, pytest.raises(sagemaker_imports.AccessError) as caught:
        sagemaker_imports.import_tuning_jobs(name="tj-review", clients=clients)
    assert "AWS denied DescribeHyperParameterTuningJob (AccessDeniedException)" in str(caught.value)
    assert "sagemaker:ListTrainingJobsForHyperParameterTuningJob" in str(caught.value)


# --- the command ----------------------------------------------------------------------


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("import_sagemaker_tuning_jobs", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_command_imports_by_name_into_a_team(monkeypatch, clients, sagemaker, seeded):
    # The command builds its clients from settings; this hands it the ones with the stubbed listing.
    monkeypatch.setattr(sagemaker_imports, "default_clients", lambda: clients)
    Group.objects.create(name="vision")
    sagemaker.add_listing("tj-review", seeded)
    sagemaker.add_listing("tj-review", seeded)

    out, _ = run("--name", "tj-review", "--team", "vision")
    assert out.strip() == "imported tj-review: Completed, 3 new and 0 updated training jobs, 12 metric samples"
    assert TuningJob.objects.get(name="tj-review").team.name == "vision"

    out, _ = run("--name", "tj-review")
    assert out.strip() == "updated tj-review: Completed, 0 new and 0 updated training jobs, 0 metric samples"
    assert TuningJob.objects.get(name="tj-review").team.name == "vision"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "tj-nowhere"], "SageMaker has no tuning job tj-nowhere in region us-east-1"),
        (["--name", "bad_name!"], "'bad_name!' is not a SageMaker tuning job name"),
        (["--since", "last tuesday"], "'last tuesday' is not a date (2026-11-01) or an ISO 8601 time"),
        (["--since", "2026-02-30"], "'2026-02-30' is not a date"),
        (["--name", "tj-x", "--team", "nobody"], "No team named 'nobody'."),
        (["--name", "tj-x", "--since", "2026-01-01"], "not allowed with argument"),
        ([], "one of the arguments --name --since is required"),
    ],
)
def test_the_command_says_what_is_wrong(aws, args, message):
    with pytest.raises(CommandError) as caught:
        run(*args)
    assert message in str(caught.value)


def test_the_command_without_credentials(aws, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(CommandError, match="No AWS credentials found"):
        run("--name", "tj-review")


def test_the_command_when_aws_cannot_be_reached(aws, settings):
    settings.TUNEBOARD_AWS_ENDPOINT_URL = "http://127.0.0.1:9"
    settings.TUNEBOARD_AWS_MAX_ATTEMPTS = 1
    with pytest.raises(CommandError, match="Cannot reach AWS while reading the tuning jobs list"):
        run("--since", "2026-01-01")


def test_the_command_reports_each_tuning_job_it_could_not_import(monkeypatch, clients, sagemaker, seeded):
    monkeypatch.setattr(sagemaker_imports, "default_clients", lambda: clients)
    register_algorithm()
    services.tuning_job_create(config=tuning_job_config(name="tj-review"))
    sagemaker.add_listing("tj-review", seeded)

    err = StringIO()
    with pytest.raises(CommandError, match="1 of 1 not imported"):
        call_command("import_sagemaker_tuning_jobs", "--since", "2020-01-01", stdout=StringIO(), stderr=err)
    assert err.getvalue().strip() == (
        "not imported tj-review: tj-review cannot be imported: "
        "A tuning job named 'tj-review' was created in Tuneboard; a SageMaker job cannot replace it."
    )


def test_since_with_nothing_new_says_so(aws):
    out, _ = run("--since", "2999-01-01")
    assert out.strip() == "No SageMaker tuning job was created after 2999-01-01T00:00:00+00:00."


# --- CloudWatch -------------------------------------------------------------------------------


def test_a_series_split_over_pages_is_one_curve(aws):
    """moto answers GetMetricData in one page; the Stubber plays CloudWatch's NextToken pages."""
    cloudwatch = aws_client("cloudwatch")
    start, end = NOW - timedelta(minutes=10), NOW - timedelta(minutes=5)
    times = [start + timedelta(minutes=minute) for minute in range(4)]
    values = [0.1, 0.2, 0.3, 0.4]
    stubber = Stubber(cloudwatch)
    for page in (0, 1):
        result = {"Id": "m0", "Timestamps": times[2 * page : 2 * page + 2], "Values": values[2 * page : 2 * page + 2]}
        response = {"MetricDataResults": [{**result, "StatusCode": "Complete"}]}
        if page == 0:
            response["NextToken"] = "more"
        stubber.add_response("get_metric_data", response)
    with stubber:
        records = sagemaker_imports.epoch_metrics(cloudwatch, {"job-1": (start, end)}, [OBJECTIVE])
    stubber.assert_no_pending_responses()
    assert [(r.metric_name, r.epoch, r.value, r.timestamp) for r in records["job-1"]] == [
        (OBJECTIVE, epoch, value, moment) for epoch, (value, moment) in enumerate(zip(values, times, strict=True), 1)
    ]


@pytest.mark.parametrize(
    ("age", "period"), [(timedelta(hours=1), 60), (timedelta(days=20), 300), (timedelta(days=90), 3600)]
)
def test_the_metric_period_is_the_finest_cloudwatch_still_keeps(age, period):
    assert sagemaker_imports.metric_period(NOW - age, now=NOW) == period
