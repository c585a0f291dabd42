"""Describe and List responses that every client can read, whoever created the job and wherever.

botocore's output model and sagemaker-core's pydantic resources (what the
SageMaker SDK v3 is built on) both require members that Tuneboard has no use
for (RoleArn, OutputDataConfig, StoppingCondition, ResourceConfig); a job made
in the browser, the REST API or the CLI never had them, so the endpoint fills
them from settings. The jobs here are made through the service layer, as
those entry points make them, and read only through boto3.
"""

import boto3
import pytest
from sagemaker_core.main.resources import HyperParameterTuningJob, TrainingJob
from sagemaker_core.main.shapes import HyperParameterTrainingJobSummary, HyperParameterTuningJobSummary
from sagemaker_core.main.utils import SageMakerClient, SingletonMeta, transform

from jobs import services
from jobs.models import Algorithm, TuningJob, TuningJobSource
from tests.jobs.factories import register_algorithm, tuning_job_config
from tests.jobs.sagemaker.api.conftest import (
    create_request,
    register_image,
    sagemaker_client,
    sdk_environment,
    sdk_session,
)
from tests.jobs.sagemaker.api.test_endpoint import assert_fits_output, play


@pytest.fixture
def alice(live_server, people):
    register_algorithm()
    register_image("quadratic")
    return sagemaker_client(live_server.url, people[1]["alice"])


def as_sagemaker_core(response: dict, shape: str) -> dict:
    """What sagemaker-core's resources do with a boto3 response before building their model."""
    return transform({key: value for key, value in response.items() if key != "ResponseMetadata"}, shape)


def test_a_job_made_without_sagemaker_members_reads_as_sagemaker_core_needs(alice, settings):
    settings.TUNEBOARD_SAGEMAKER_ROLE_ARN = "arn:aws:iam::111122223333:role/tuning"
    settings.TUNEBOARD_SAGEMAKER_OUTPUT_PATH = "s3://models/tuneboard"
    tuning_job = services.tuning_job_create(config=tuning_job_config(name="from-rest", team_name="vision"))
    first, _ = services.tuning_job_advance(tuning_job_id=tuning_job.id)
    play(first.id, [0.3, 0.6])

    described = alice.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="from-rest")
    assert_fits_output("DescribeHyperParameterTuningJob", described)
    definition = described["TrainingJobDefinition"]
    assert definition["RoleArn"] == "arn:aws:iam::111122223333:role/tuning"
    assert definition["OutputDataConfig"] == {"S3OutputPath": "s3://models/tuneboard", "KmsKeyId": ""}
    assert definition["StoppingCondition"] == {"MaxRuntimeInSeconds": 86_400}
    assert definition["ResourceConfig"]["InstanceCount"] == 1
    resource = HyperParameterTuningJob(**as_sagemaker_core(described, "DescribeHyperParameterTuningJobResponse"))
    assert resource.training_job_definition.role_arn == "arn:aws:iam::111122223333:role/tuning"
    assert resource.best_training_job.training_job_name == first.name

    training = alice.describe_training_job(TrainingJobName=first.name)
    assert_fits_output("DescribeTrainingJob", training)
    # The SDK v2's Estimator.attach and best_estimator() read OutputDataConfig["KmsKeyId"].
    assert training["OutputDataConfig"] == {"S3OutputPath": "s3://models/tuneboard", "KmsKeyId": ""}
    assert training["RoleArn"] == "arn:aws:iam::111122223333:role/tuning"
    assert training["ResourceConfig"] == definition["ResourceConfig"]
    job = TrainingJob(**as_sagemaker_core(training, "DescribeTrainingJobResponse"))
    assert job.output_data_config.kms_key_id == ""

    listed = alice.list_hyper_parameter_tuning_jobs()
    assert_fits_output("ListHyperParameterTuningJobs", listed)
    for summary in listed["HyperParameterTuningJobSummaries"]:
        HyperParameterTuningJobSummary(**transform(summary, "HyperParameterTuningJobSummary"))
    ranked = alice.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName="from-rest")
    assert_fits_output("ListTrainingJobsForHyperParameterTuningJob", ranked)
    for summary in ranked["TrainingJobSummaries"]:
        HyperParameterTrainingJobSummary(**transform(summary, "HyperParameterTrainingJobSummary"))
    assert_fits_output("ListTrainingJobs", alice.list_training_jobs())


def test_what_the_client_sent_wins_and_a_kms_key_id_is_always_there(alice):
    alice.create_hyper_parameter_tuning_job(**create_request("from-boto3"))
    definition = alice.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="from-boto3")[
        "TrainingJobDefinition"
    ]
    assert definition["RoleArn"] == "arn:aws:iam::123456789012:role/SageMakerRole"
    assert definition["OutputDataConfig"] == {"S3OutputPath": "s3://bucket/output", "KmsKeyId": ""}
    assert definition["StoppingCondition"] == {"MaxRuntimeInSeconds": 600}
    assert definition["ResourceConfig"] == {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10}
    first = services.tuning_job_advance(tuning_job_id=TuningJob.objects.get(name="from-boto3").id)[0]
    training = alice.describe_training_job(TrainingJobName=first.name)
    assert training["OutputDataConfig"] == {"S3OutputPath": "s3://bucket/output", "KmsKeyId": ""}
    TrainingJob(**as_sagemaker_core(training, "DescribeTrainingJobResponse"))


def test_an_imported_job_reads_its_algorithms_sagemaker_settings_first(alice):
    # What an import stores (jobs/services/imports.py): no request body, the SageMaker job's
    # output path on the tuning job and its RoleArn and instances on the algorithm it registers.
    tuning_job = services.tuning_job_create(config=tuning_job_config(name="imported", team_name="vision"))
    Algorithm.objects.filter(name="quadratic").update(
        sagemaker_config={"RoleArn": "arn:aws:iam::444455556666:role/Trainer", "InstanceType": "ml.g5.xlarge"}
    )
    TuningJob.objects.filter(id=tuning_job.id).update(
        s3_output_path="s3://team-bucket/runs", source=TuningJobSource.SAGEMAKER_IMPORT, status="Completed"
    )
    described = alice.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="imported")
    assert_fits_output("DescribeHyperParameterTuningJob", described)
    definition = described["TrainingJobDefinition"]
    assert definition["RoleArn"] == "arn:aws:iam::444455556666:role/Trainer"
    assert definition["OutputDataConfig"] == {"S3OutputPath": "s3://team-bucket/runs", "KmsKeyId": ""}
    assert definition["ResourceConfig"] == {"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30}
    HyperParameterTuningJob(**as_sagemaker_core(described, "DescribeHyperParameterTuningJobResponse"))


def test_the_sdk_v2_attaches_estimators_to_a_job_made_without_sagemaker_members(
    live_server, alice, people, monkeypatch
):
    # Estimator.attach and tuner.best_estimator() read OutputDataConfig["KmsKeyId"], then ListTags.
    key = people[1]["alice"]
    tuning_job = services.tuning_job_create(
        config=tuning_job_config(name="from-form", team_name="vision", tags={"project": "seed"})
    )
    first, second = services.tuning_job_advance(tuning_job_id=tuning_job.id)
    play(first.id, [0.3, 0.9])
    play(second.id, [0.2, 0.4])
    sdk_environment(monkeypatch, live_server.url, key)
    from sagemaker.estimator import Estimator
    from sagemaker.tuner import HyperparameterTuner

    session = sdk_session(alice, key)
    estimator = Estimator.attach(first.name, sagemaker_session=session)
    assert (estimator.role, estimator.output_path) == (
        "arn:aws:iam::000000000000:role/tuneboard",
        "s3://tuneboard/output",
    )
    assert (estimator.instance_type, estimator.instance_count, estimator.output_kms_key) == ("ml.m5.large", 1, "")
    assert estimator.tags == [{"Key": "project", "Value": "seed"}]
    tuner = HyperparameterTuner.attach("from-form", sagemaker_session=session)
    assert tuner.best_estimator().latest_training_job.name == first.name


@pytest.fixture
def sagemaker_core_client():
    """sagemaker-core keeps one client per process (a singleton): made afresh here, and forgotten after."""
    SingletonMeta._instances.pop(SageMakerClient, None)
    yield
    SingletonMeta._instances.pop(SageMakerClient, None)


def test_sagemaker_core_resources_get_and_list_jobs_made_anywhere(
    live_server, alice, people, monkeypatch, sagemaker_core_client
):
    key = people[1]["alice"]
    alice.create_hyper_parameter_tuning_job(**create_request("from-boto3"))
    made_here = services.tuning_job_create(config=tuning_job_config(name="from-rest", team_name="vision"))
    first, _ = services.tuning_job_advance(tuning_job_id=made_here.id)
    play(first.id, [0.3, 0.6])
    sdk_environment(monkeypatch, live_server.url, key)
    session = boto3.Session(
        aws_access_key_id=key.access_key_id, aws_secret_access_key=key.secret, region_name="us-east-1"
    )

    everything = list(HyperParameterTuningJob.get_all(session=session, region="us-east-1"))
    assert sorted(job.hyper_parameter_tuning_job_name for job in everything) == ["from-boto3", "from-rest"]
    got = HyperParameterTuningJob.get("from-rest", session=session, region="us-east-1")
    assert got.training_job_definition.output_data_config.s3_output_path == "s3://tuneboard/output"
    assert got.best_training_job.training_job_name == first.name
    training = TrainingJob.get(first.name, session=session, region="us-east-1")
    assert (training.training_job_status, training.role_arn) == (
        "Completed",
        "arn:aws:iam::000000000000:role/tuneboard",
    )
