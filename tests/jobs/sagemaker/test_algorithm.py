"""A sagemaker algorithm is checked against SageMaker's own rules when it is registered."""

import pytest
from django.core.exceptions import ValidationError

from jobs.config import validate_algorithm, validate_tuning_job_config
from jobs.models import Algorithm, Backend
from tests.jobs.factories import register_algorithm, tuning_job_config

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
GOOD_CONFIG = {"RoleArn": ROLE, "InstanceType": "ml.m5.large", "S3OutputPath": "s3://models/xgb"}


def sagemaker_algorithm(**overrides) -> Algorithm:
    values = {
        "name": "xgb",
        "backend": Backend.SAGEMAKER,
        "command": [],
        "image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/xgb:1",
        "metric_definitions": [{"Name": "validation:auc", "Regex": r"validation-auc:(\S+)"}],
        "input_channels": {"train": "s3://data/train"},
        "sagemaker_config": dict(GOOD_CONFIG),
    }
    values.update(overrides)
    return Algorithm(**values)


def errors_of(algorithm) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as error:
        validate_algorithm(algorithm)
    return error.value.message_dict


def test_a_valid_sagemaker_algorithm_passes():
    assert validate_algorithm(sagemaker_algorithm()) is None
    algorithm = sagemaker_algorithm(image_uri=None, sagemaker_config={**GOOD_CONFIG, "AlgorithmName": "my-algo"})
    assert validate_algorithm(algorithm) is None


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        (
            {"sagemaker_config": {**GOOD_CONFIG, "RoleArn": "SageMakerRole"}},
            "sagemaker_config",
            "RoleArn: give an IAM role ARN, like arn:aws:iam::123456789012:role/SageMakerRole.",
        ),
        (
            {"sagemaker_config": {k: v for k, v in GOOD_CONFIG.items() if k != "RoleArn"}},
            "sagemaker_config",
            "RoleArn: give an IAM role ARN, like arn:aws:iam::123456789012:role/SageMakerRole.",
        ),
        (
            {"image_uri": None},
            "image_uri",
            "A sagemaker algorithm needs a training image, or sagemaker_config.AlgorithmName.",
        ),
        (
            {"sagemaker_config": {**GOOD_CONFIG, "AlgorithmName": "my-algo"}},
            "image_uri",
            "Give a training image or sagemaker_config.AlgorithmName, not both.",
        ),
        (
            {"image_uri": None, "sagemaker_config": {**GOOD_CONFIG, "AlgorithmName": "my_algo!"}},
            "sagemaker_config",
            "AlgorithmName: give an algorithm's name (letters, digits, hyphens) or ARN.",
        ),
        (
            {"sagemaker_config": {**GOOD_CONFIG, "InstanceType": "m5.large"}},
            "sagemaker_config",
            "InstanceType: 'm5.large' is not a SageMaker training instance type.",
        ),
        (
            {"sagemaker_config": {**GOOD_CONFIG, "InstanceCount": 0}},
            "sagemaker_config",
            "InstanceCount: must be a whole number of at least 1.",
        ),
        (
            {"sagemaker_config": {**GOOD_CONFIG, "VolumeSizeInGB": "30"}},
            "sagemaker_config",
            "VolumeSizeInGB: must be a whole number of at least 1.",
        ),
        (
            {"sagemaker_config": {**GOOD_CONFIG, "S3OutputPath": "/models"}},
            "sagemaker_config",
            "S3OutputPath: give the s3://bucket/prefix where model artifacts go.",
        ),
        (
            {"sagemaker_config": {**GOOD_CONFIG, "InstanceTyp": "ml.m5.large"}},
            "sagemaker_config",
            "InstanceTyp: unknown setting; use RoleArn, AlgorithmName, InstanceType, InstanceCount, VolumeSizeInGB, "
            "S3OutputPath.",
        ),
        (
            {"input_channels": {"train": "data/train"}},
            "input_channels",
            "train: 'data/train' is not an S3 URI: use s3://bucket/prefix.",
        ),
        (
            {"input_channels": {"train data": "s3://data/train"}},
            "input_channels",
            "'train data': a channel name is 1 to 64 letters, digits, dots, hyphens and underscores.",
        ),
        (
            {"command": ["python", "train.py"]},
            "command",
            "A sagemaker algorithm has no command: SageMaker runs its training image.",
        ),
        (
            {"metric_definitions": [{"Name": "m", "Regex": "(x)" + "y" * 500}]},
            "metric_definitions",
            "MetricDefinitions[0].Regex: SageMaker takes at most 500 characters.",
        ),
    ],
)
def test_what_sagemaker_would_refuse_is_a_field_error(overrides, field, message):
    assert errors_of(sagemaker_algorithm(**overrides))[field] == [message]


def test_a_local_algorithm_takes_s3_channels_and_an_output_path_only():
    local = {"backend": Backend.LOCAL, "command": ["python", "train.py"], "image_uri": None}
    assert validate_algorithm(sagemaker_algorithm(**local, sagemaker_config={"S3OutputPath": "s3://models/x"})) is None
    assert errors_of(sagemaker_algorithm(**local))["sagemaker_config"] == [
        "A local algorithm takes only S3OutputPath here; the rest is for the sagemaker backend."
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["tuning_job", "job.1", "-job", "x" * 33])
def test_a_tuning_job_name_sagemaker_would_reject_is_a_field_error(name):
    register_algorithm()
    with pytest.raises(ValidationError) as error:
        validate_tuning_job_config(tuning_job_config(name=name), user=None)
    assert error.value.message_dict["name"] == [
        "Use 1 to 32 letters, digits and hyphens, starting and ending with a letter or digit."
    ]
