"""People, teams and access keys for the SageMaker endpoint tests, and boto3 clients that sign with them."""

import functools
from dataclasses import dataclass

import boto3
import botocore.session
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from django.contrib.auth.models import Group

from jobs import services
from jobs.models import Algorithm, TeamMember, TeamRole

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/quadratic:1"


@dataclass
class Key:
    access_key_id: str
    secret: str


def sagemaker_client(base_url: str, key: Key | None, path: str = "/sagemaker", **config):
    """boto3's own SageMaker client, pointed at Tuneboard; `key=None` sends unsigned requests."""
    options = {"retries": {"max_attempts": 1, "mode": "standard"}, **config}
    if key is None:
        options["signature_version"] = UNSIGNED
    return _session().client(
        "sagemaker",
        endpoint_url=f"{base_url}{path}",
        aws_access_key_id=key.access_key_id if key else "unused",
        aws_secret_access_key=key.secret if key else "unused",
        config=Config(**options),
    )


@functools.cache
def _session() -> boto3.Session:
    """One session for every client: it parses SageMaker's 3 MB service model once, not per client."""
    return boto3.Session(botocore_session=botocore.session.get_session(), region_name="us-east-1")


def sdk_environment(monkeypatch, url: str, key: Key) -> None:
    """The environment of a notebook written for SageMaker, pointed at Tuneboard, with AWS out of reach.

    The SDK's estimator makes a default boto3 client of its own, so the key is
    in the environment too. Anything sent anywhere but Tuneboard (STS, S3 for a
    default bucket, the EC2 metadata service for credentials) hits a dead proxy.
    """
    monkeypatch.setenv("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key.secret)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", f"{url}/sagemaker")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for variable in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9")
    for variable in ("NO_PROXY", "no_proxy"):
        monkeypatch.setenv(variable, "127.0.0.1,localhost")


def sdk_session(client, key: Key):
    """A SageMaker SDK v2 session whose SageMaker client is `client`."""
    import sagemaker

    boto_session = boto3.Session(
        aws_access_key_id=key.access_key_id, aws_secret_access_key=key.secret, region_name="us-east-1"
    )
    return sagemaker.Session(boto_session=boto_session, sagemaker_client=client)


@pytest.fixture
def people(django_user_model):
    """alice operates team vision, bob only views it, carol operates team audio."""
    vision = Group.objects.create(name="vision")
    audio = Group.objects.create(name="audio")
    users = {}
    for name, team, role in (
        ("alice", vision, TeamRole.OPERATOR),
        ("bob", vision, TeamRole.VIEWER),
        ("carol", audio, TeamRole.OPERATOR),
    ):
        users[name] = django_user_model.objects.create_user(name)
        TeamMember.objects.create(team=team, user=users[name], role=role)
    keys = {}
    for name, team in (("alice", vision), ("bob", vision), ("carol", audio)):
        access_key, secret = services.access_key_create(user=users[name], team=team)
        keys[name] = Key(access_key.access_key_id, secret)
    return users, keys


def register_image(algorithm_name: str, image: str = IMAGE) -> None:
    Algorithm.objects.filter(name=algorithm_name).update(image_uri=image)


def create_request(name: str, image: str = IMAGE, **config) -> dict:
    """A CreateHyperParameterTuningJob request as the SageMaker docs write one, members Tuneboard ignores included."""
    tuning_config = {
        "Strategy": "Random",
        "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:accuracy"},
        "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
        "ParameterRanges": {
            "ContinuousParameterRanges": [
                {"Name": "learning_rate", "MinValue": "0.0001", "MaxValue": "1.0", "ScalingType": "Logarithmic"}
            ],
            "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["sgd", "adam"]}],
        },
        "TrainingJobEarlyStoppingType": "Off",
        "RandomSeed": 7,
        **config,
    }
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": tuning_config,
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"epochs": "3"},
            "AlgorithmSpecification": {
                "TrainingImage": image,
                "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": "validation:accuracy", "Regex": "validation:accuracy=(\\S+)"}],
            },
            "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
            "InputDataConfig": [
                {
                    "ChannelName": "train",
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/train"}},
                }
            ],
            "OutputDataConfig": {"S3OutputPath": "s3://bucket/output"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        },
        "Tags": [{"Key": "project", "Value": "seed"}],
    }
