"""An algorithm's SageMaker settings, checked when it is registered rather than when SageMaker refuses a job.

jobs.config.validate_algorithm calls these for the parts of an algorithm
that are SageMaker's shapes: input channels, the training image or
AlgorithmName, the sagemaker_config the sagemaker backend runs with
(jobs.backends.sagemaker.SageMakerTrainingConfig), metric definition limits.
Patterns and enums come from botocore's model of CreateTrainingJob.
"""

import functools
import re

from jobs.backends.s3 import S3Error, parse_s3_uri
from jobs.models import Algorithm, Backend
from jobs.sagemaker.validation import service_model

# SageMaker's limits on an algorithm's MetricDefinitions.
SAGEMAKER_MAX_METRIC_DEFINITIONS = 40
SAGEMAKER_METRIC_REGEX_MAX_LENGTH = 500
SAGEMAKER_CONFIG_KEYS = ("RoleArn", "AlgorithmName", "InstanceType", "InstanceCount", "VolumeSizeInGB", "S3OutputPath")


@functools.cache
def _sagemaker_shape(name: str):
    """A shape of SageMaker's own service model (as botocore ships it): patterns and enums
    are then exactly what CreateTrainingJob accepts, without copying them here."""
    return service_model().shape_for(name)


def _matches(shape_name: str, value) -> bool:
    shape = _sagemaker_shape(shape_name)
    pattern = shape.metadata.get("pattern", ".*")
    return (
        isinstance(value, str)
        and shape.metadata.get("min", 0) <= len(value) <= shape.metadata.get("max", len(value))
        and re.fullmatch(pattern, value) is not None
    )


def check_input_channels(algorithm: Algorithm, errors: dict[str, list[str]]) -> None:
    channels = algorithm.input_channels
    if not channels:
        return
    if algorithm.backend == Backend.EXTERNAL:
        errors.setdefault("input_channels", []).append(
            "An external algorithm's trainers fetch their own data: it has no input channels."
        )
        return
    problems = input_channel_problems(channels)
    if problems:
        errors.setdefault("input_channels", []).extend(problems)


def input_channel_problems(channels) -> list[str]:
    """What is wrong with {channel name: s3:// URI}: an algorithm's channels, or a tuning job's InputDataConfig."""
    if not isinstance(channels, dict):
        return ['Give an object of channel name: S3 URI, e.g. {"train": "s3://bucket/prefix"}.']
    problems = []
    for channel, uri in channels.items():
        if not _matches("ChannelName", channel):
            problems.append(f"{channel!r}: a channel name is 1 to 64 letters, digits, dots, hyphens and underscores.")
        try:
            parse_s3_uri(uri)
        except S3Error as exc:
            problems.append(f"{channel}: {exc}")
    return problems


def algorithm_for_image(image: str) -> Algorithm | None:
    """The algorithm a TrainingImage names: the one whose image URI it is, else the one that has it as an alias.

    Aliases are few (a handful per algorithm, few algorithms), and a JSON
    list's membership is not portably indexable: they are read and compared here.
    """
    algorithm = Algorithm.objects.filter(image_uri=image).first()
    if algorithm is not None:
        return algorithm
    for candidate in Algorithm.objects.exclude(image_uri_aliases=[]).order_by("id"):
        if image in candidate.image_uri_aliases:
            return candidate
    return None


def check_image_uri_aliases(algorithm: Algorithm, errors: dict[str, list[str]]) -> None:
    """Each alias an image URI SageMaker accepts, named once (that no other algorithm has it is the service's check)."""
    aliases = algorithm.image_uri_aliases

    def fail(message: str) -> None:
        errors.setdefault("image_uri_aliases", []).append(message)

    if not isinstance(aliases, list) or not all(isinstance(alias, str) for alias in aliases):
        fail('Give a list of image URIs, e.g. ["123456789012.dkr.ecr.us-east-1.amazonaws.com/xgboost:1"].')
        return
    for alias in aliases:
        # SageMaker's pattern for an image is ".*": a blank or a space would still match nothing a client sends.
        if not _matches("AlgorithmImage", alias) or not re.fullmatch(r"\S+", alias):
            fail(f"{alias!r}: give a container image URI (no spaces) of at most 255 characters.")
    if len(set(aliases)) != len(aliases) or (algorithm.image_uri and algorithm.image_uri in aliases):
        fail("Name each image URI once, and not the algorithm's own image URI.")


def check_output_path_only(algorithm: Algorithm, errors: dict[str, list[str]]) -> None:
    """A job run here takes S3OutputPath alone: where its model.tar.gz is uploaded."""
    config = algorithm.sagemaker_config
    if not isinstance(config, dict) or set(config) - {"S3OutputPath"}:
        errors.setdefault("sagemaker_config", []).append(
            f"A {algorithm.backend} algorithm takes only S3OutputPath here; the rest is for the sagemaker backend."
        )
        return
    try:
        parse_s3_uri(config["S3OutputPath"])
    except S3Error:
        errors.setdefault("sagemaker_config", []).append(
            "S3OutputPath: give the s3://bucket/prefix where model artifacts go."
        )


def check_sagemaker_config(algorithm: Algorithm, errors: dict[str, list[str]]) -> None:
    """What CreateTrainingJob would refuse, said when the algorithm is registered."""
    config = algorithm.sagemaker_config

    def fail(field_name: str, message: str) -> None:
        errors.setdefault(field_name, []).append(message)

    if not isinstance(config, dict):
        fail("sagemaker_config", f"Give an object with {', '.join(SAGEMAKER_CONFIG_KEYS)}.")
        return
    for key in config:
        if key not in SAGEMAKER_CONFIG_KEYS:
            fail("sagemaker_config", f"{key}: unknown setting; use {', '.join(SAGEMAKER_CONFIG_KEYS)}.")
    if not _matches("RoleArn", config.get("RoleArn")):
        fail("sagemaker_config", "RoleArn: give an IAM role ARN, like arn:aws:iam::123456789012:role/SageMakerRole.")
    algorithm_name = config.get("AlgorithmName")
    if algorithm.image_uri and algorithm_name:
        fail("image_uri", "Give a training image or sagemaker_config.AlgorithmName, not both.")
    elif not algorithm.image_uri and not algorithm_name:
        fail("image_uri", "A sagemaker algorithm needs a training image, or sagemaker_config.AlgorithmName.")
    elif algorithm_name and not _matches("ArnOrName", algorithm_name):
        fail("sagemaker_config", "AlgorithmName: give an algorithm's name (letters, digits, hyphens) or ARN.")
    elif algorithm.image_uri and not _matches("AlgorithmImage", algorithm.image_uri):
        fail("image_uri", "Give a container image URI of at most 255 characters.")
    instance_type = config.get("InstanceType")
    if instance_type not in _sagemaker_shape("TrainingInstanceType").enum:
        fail("sagemaker_config", f"InstanceType: {instance_type!r} is not a SageMaker training instance type.")
    for key, default in (("InstanceCount", 1), ("VolumeSizeInGB", 30)):
        value = config.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            fail("sagemaker_config", f"{key}: must be a whole number of at least 1.")
    try:
        parse_s3_uri(config.get("S3OutputPath"))
    except S3Error:
        fail("sagemaker_config", "S3OutputPath: give the s3://bucket/prefix where model artifacts go.")
    definitions = algorithm.metric_definitions
    if isinstance(definitions, list):
        if len(definitions) > SAGEMAKER_MAX_METRIC_DEFINITIONS:
            fail("metric_definitions", f"SageMaker takes at most {SAGEMAKER_MAX_METRIC_DEFINITIONS} definitions.")
        for index, definition in enumerate(definitions):
            regex = definition.get("Regex") if isinstance(definition, dict) else None
            if isinstance(regex, str) and len(regex) > SAGEMAKER_METRIC_REGEX_MAX_LENGTH:
                fail(
                    "metric_definitions",
                    f"MetricDefinitions[{index}].Regex: SageMaker takes at most "
                    f"{SAGEMAKER_METRIC_REGEX_MAX_LENGTH} characters.",
                )
