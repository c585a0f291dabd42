"""SageMaker's JSON shapes: reading CreateHyperParameterTuningJob, writing Describe and List responses."""

import copy
import dataclasses
from datetime import datetime

import pytest
from django.core.exceptions import ValidationError

from jobs import selectors, services
from jobs.backends.base import Outcome
from jobs.config import TuningJobConfig, validate_tuning_job_config
from jobs.models import MetricSample, TuningJob
from jobs.sagemaker.shapes import (
    CONFIG_FIELD_PATHS,
    DEFAULT_TRAINING_MAX_RUNTIME_SECONDS,
    ShapeError,
    describe_training_job,
    describe_tuning_job,
    list_training_jobs,
    parse_create_tuning_job,
    rename_validation_error,
    training_job_list_summary,
    tuning_job_summary,
)
from jobs.sagemaker.validation import member_path, service_model
from tests.jobs.factories import LEARNING_RATE, OPTIMIZER, register_algorithm, run, tuning_job_config

RANGES = "HyperParameterTuningJobConfig.ParameterRanges"
LIMITS = "HyperParameterTuningJobConfig.ResourceLimits"
OBJECTIVE = "HyperParameterTuningJobConfig.HyperParameterTuningJobObjective"
STATICS = "TrainingJobDefinition.StaticHyperParameters"

# The SageMaker blog's image classification tuning job, with early stopping.
BODY = {
    "HyperParameterTuningJobName": "image-classification-es",
    "HyperParameterTuningJobConfig": {
        "Strategy": "Random",
        "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "validation:accuracy"},
        "ResourceLimits": {"MaxNumberOfTrainingJobs": 20, "MaxParallelTrainingJobs": 2, "MaxRuntimeInSeconds": 3600},
        "ParameterRanges": {
            "ContinuousParameterRanges": [
                {"Name": "learning_rate", "MinValue": "0.00001", "MaxValue": "1.0", "ScalingType": "Logarithmic"}
            ],
            "IntegerParameterRanges": [{"Name": "mini_batch_size", "MinValue": "16", "MaxValue": "64"}],
            "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["sgd", "adam", "rmsprop", "nag"]}],
        },
        "TrainingJobEarlyStoppingType": "Auto",
        "RandomSeed": 42,
    },
    "TrainingJobDefinition": {
        "StaticHyperParameters": {"epochs": "30"},
        "AlgorithmSpecification": {"AlgorithmName": "image-classifier", "TrainingInputMode": "File"},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    },
}

EXPECTED = TuningJobConfig(
    name="image-classification-es",
    algorithm_name="image-classifier",
    strategy="Random",
    objective_metric_name="validation:accuracy",
    objective_type="Maximize",
    parameter_ranges=[
        {
            "name": "learning_rate",
            "type": "Continuous",
            "min_value": 1e-5,
            "max_value": 1.0,
            "scaling_type": "Logarithmic",
        },
        {"name": "mini_batch_size", "type": "Integer", "min_value": 16, "max_value": 64, "scaling_type": "Auto"},
        {"name": "optimizer", "type": "Categorical", "values": ["sgd", "adam", "rmsprop", "nag"]},
    ],  # fmt: skip
    static_hyperparameters={"epochs": "30"},
    max_training_jobs=20,
    max_parallel_training_jobs=2,
    max_runtime_seconds=3600,
    training_max_runtime_seconds=600,
    early_stopping_type="Auto",
    random_seed=42,
)


def body_with(changes: dict | None = None, removed: tuple[str, ...] = ()) -> dict:
    """A copy of BODY with dotted paths set to values (`changes`) or deleted (`removed`).

    A path step may end with [i] to index a list, as in the error paths.
    """
    body = copy.deepcopy(BODY)
    for path, value in (changes or {}).items():
        parent, key = _locate(body, path)
        parent[key] = value
    for path in removed:
        parent, key = _locate(body, path)
        del parent[key]
    return body


def _locate(body: dict, path: str):
    node = body
    steps = path.split(".")
    for step in steps[:-1]:
        node = _step(node, step)
    return node, steps[-1]


def _step(node, step: str):
    if step.endswith("]"):
        key, index = step[:-1].split("[")
        return node[key][int(index)]
    return node[step]


def shape_errors(body) -> dict[str, list[str]]:
    with pytest.raises(ShapeError) as error:
        parse_create_tuning_job(body)
    return error.value.errors


# --- parse_create_tuning_job ----------------------------------------------------


def test_the_blog_example_parses_to_its_config():
    assert parse_create_tuning_job(copy.deepcopy(BODY)) == EXPECTED


@pytest.mark.django_db
def test_the_parsed_example_passes_validation():
    register_algorithm(name="image-classifier", metrics=("train:loss", "validation:accuracy"))
    validated = validate_tuning_job_config(parse_create_tuning_job(copy.deepcopy(BODY)), user=None)
    assert validated.space.names == ("learning_rate", "mini_batch_size", "optimizer")


def test_defaults_for_the_optional_members():
    body = body_with(
        removed=(
            "HyperParameterTuningJobConfig.TrainingJobEarlyStoppingType",
            "HyperParameterTuningJobConfig.RandomSeed",
            f"{LIMITS}.MaxRuntimeInSeconds",
            "TrainingJobDefinition.StoppingCondition",
            STATICS,
        )
    )
    config = parse_create_tuning_job(body)
    assert config == dataclasses.replace(
        EXPECTED,
        early_stopping_type="Off",
        random_seed=None,
        max_runtime_seconds=None,
        training_max_runtime_seconds=None,
        static_hyperparameters={},
    )


def test_training_image_names_the_algorithm_when_algorithm_name_is_absent():
    body = body_with({"TrainingJobDefinition.AlgorithmSpecification": {"TrainingImage": "image-classifier"}})
    assert parse_create_tuning_job(body).algorithm_name == "image-classifier"


def test_aws_infrastructure_members_are_accepted_and_the_data_members_read():
    body = body_with(
        {
            "TrainingJobDefinition.RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
            "TrainingJobDefinition.ResourceConfig": {"InstanceType": "ml.p3.2xlarge", "InstanceCount": 1,
                                                     "VolumeSizeInGB": 50},
            "TrainingJobDefinition.OutputDataConfig": {"S3OutputPath": "s3://bucket/output"},
            "TrainingJobDefinition.InputDataConfig": [
                {"ChannelName": "train",
                 "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://bucket/train"}}}
            ],
            "TrainingJobDefinition.VpcConfig": {"Subnets": ["subnet-1"], "SecurityGroupIds": ["sg-1"]},
            "TrainingJobDefinition.EnableManagedSpotTraining": True,
            "TrainingJobDefinition.StoppingCondition.MaxWaitTimeInSeconds": 1200,
            "TrainingJobDefinition.AlgorithmSpecification.MetricDefinitions": [{"Name": "x", "Regex": "x=(.*)"}],
        }
    )  # fmt: skip
    assert parse_create_tuning_job(body) == dataclasses.replace(
        EXPECTED, input_channels={"train": "s3://bucket/train"}, s3_output_path="s3://bucket/output"
    )


@pytest.mark.parametrize(
    ("source", "path", "reason"),
    [
        (
            {"S3DataSource": {"S3DataType": "ManifestFile", "S3Uri": "s3://bucket/train.manifest"}},
            "trainingJobDefinition.inputDataConfig.1.member.dataSource.s3DataSource.s3DataType",
            "Member must be S3Prefix: Tuneboard downloads the objects under a prefix, not manifests",
        ),
        (
            {"FileSystemDataSource": {"FileSystemId": "fs-0123456789abcdef0", "FileSystemAccessMode": "ro",
                                      "FileSystemType": "EFS", "DirectoryPath": "/train"}},
            "trainingJobDefinition.inputDataConfig.1.member.dataSource.s3DataSource",
            "Member must not be null: Tuneboard reads S3 only",
        ),
    ],
)  # fmt: skip
def test_a_channel_tuneboard_cannot_download_is_refused(source, path, reason):
    body = body_with({"TrainingJobDefinition.InputDataConfig": [{"ChannelName": "train", "DataSource": source}]})
    with pytest.raises(ShapeError) as caught:
        parse_create_tuning_job(body)
    assert caught.value.errors == {path: [reason]}


def test_tags_are_read_in_order_and_a_key_given_twice_is_refused():
    body = body_with({"Tags": [{"Key": "team", "Value": "vision"}, {"Key": "stage", "Value": ""}]})
    assert parse_create_tuning_job(body).tags == {"team": "vision", "stage": ""}
    body = body_with({"Tags": [{"Key": "team", "Value": "vision"}, {"Key": "team", "Value": "audio"}]})
    with pytest.raises(ShapeError) as caught:
        parse_create_tuning_job(body)
    assert caught.value.errors == {"tags.2.member.key": ["Member must be unique among the keys"]}


# Member paths as AWS writes them in a ValidationException.
A_CONFIG = "hyperParameterTuningJobConfig"
A_RANGES = f"{A_CONFIG}.parameterRanges"
A_LIMITS = f"{A_CONFIG}.resourceLimits"
A_OBJECTIVE = f"{A_CONFIG}.hyperParameterTuningJobObjective"
A_DEFINITION = "trainingJobDefinition"
A_ALGORITHM = f"{A_DEFINITION}.algorithmSpecification"


@pytest.mark.parametrize(
    ("path", "member"),
    [
        ("HyperParameterTuningJobNmae", "hyperParameterTuningJobNmae"),
        ("HyperParameterTuningJobConfig.Stratgy", f"{A_CONFIG}.stratgy"),
        (f"{OBJECTIVE}.Direction", f"{A_OBJECTIVE}.direction"),
        (f"{LIMITS}.MaxTrainingJobs", f"{A_LIMITS}.maxTrainingJobs"),
        ("TrainingJobDefinition.AlgorithmSpecification.Image", f"{A_ALGORITHM}.image"),
        ("TrainingJobDefinition.StoppingCondition.MaxRuntime", f"{A_DEFINITION}.stoppingCondition.maxRuntime"),
        (f"{RANGES}.FloatParameterRanges", f"{A_RANGES}.floatParameterRanges"),
        (f"{RANGES}.ContinuousParameterRanges[0].Scaling", f"{A_RANGES}.continuousParameterRanges.1.member.scaling"),
        (f"{RANGES}.CategoricalParameterRanges[0].MinValue",
         f"{A_RANGES}.categoricalParameterRanges.1.member.minValue"),
    ],
)  # fmt: skip
def test_an_unknown_field_at_any_depth_is_named_by_its_full_path(path, member):
    assert shape_errors(body_with({path: "x"})) == {member: ["Member is not part of the SageMaker API"]}


@pytest.mark.parametrize(
    ("path", "value", "member", "message"),
    [
        ("HyperParameterTuningJobName", 5, "hyperParameterTuningJobName", "Member must be a string"),
        ("HyperParameterTuningJobConfig", "Random", A_CONFIG, "Member must be a structure"),
        ("HyperParameterTuningJobConfig.Strategy", None, f"{A_CONFIG}.strategy", "Member must not be null"),
        (f"{OBJECTIVE}.Type", ["Maximize"], f"{A_OBJECTIVE}.type", "Member must be a string"),
        (f"{LIMITS}.MaxParallelTrainingJobs", "2", f"{A_LIMITS}.maxParallelTrainingJobs", "Member must be an integer"),
        (f"{LIMITS}.MaxNumberOfTrainingJobs", True, f"{A_LIMITS}.maxNumberOfTrainingJobs", "Member must be an integer"),
        (f"{LIMITS}.MaxNumberOfTrainingJobs", 20.0, f"{A_LIMITS}.maxNumberOfTrainingJobs", "Member must be an integer"),
        ("HyperParameterTuningJobConfig.RandomSeed", "42", f"{A_CONFIG}.randomSeed", "Member must be an integer"),
        (f"{RANGES}.IntegerParameterRanges", {"Name": "x"}, f"{A_RANGES}.integerParameterRanges",
         "Member must be a list"),
        (STATICS, [["epochs", "30"]], f"{A_DEFINITION}.staticHyperParameters", "Member must be a map"),
        ("TrainingJobDefinition.AlgorithmSpecification", "image-classifier", A_ALGORITHM, "Member must be a structure"),
    ],
)  # fmt: skip
def test_wrong_types_are_named_by_path(path, value, member, message):
    assert shape_errors(body_with({path: value})) == {member: [message]}


def test_a_range_item_that_is_not_an_object():
    path = f"{RANGES}.CategoricalParameterRanges"
    assert shape_errors(body_with({path: ["sgd"]})) == {
        f"{A_RANGES}.categoricalParameterRanges.1.member": ["Member must be a structure"]
    }


@pytest.mark.parametrize("body", [[], "{}", None, 3])
def test_a_body_that_is_not_an_object(body):
    assert shape_errors(body) == {"(body)": ["Member must be a structure"]}


@pytest.mark.parametrize(
    ("path", "member"),
    [
        ("HyperParameterTuningJobName", "hyperParameterTuningJobName"),
        ("HyperParameterTuningJobConfig", A_CONFIG),
        ("TrainingJobDefinition", A_DEFINITION),
        ("HyperParameterTuningJobConfig.Strategy", f"{A_CONFIG}.strategy"),
        ("HyperParameterTuningJobConfig.ResourceLimits", A_LIMITS),
        (f"{LIMITS}.MaxParallelTrainingJobs", f"{A_LIMITS}.maxParallelTrainingJobs"),
        (f"{LIMITS}.MaxNumberOfTrainingJobs", f"{A_LIMITS}.maxNumberOfTrainingJobs"),
        (OBJECTIVE, A_OBJECTIVE),
        (f"{OBJECTIVE}.MetricName", f"{A_OBJECTIVE}.metricName"),
        (f"{OBJECTIVE}.Type", f"{A_OBJECTIVE}.type"),
        ("TrainingJobDefinition.AlgorithmSpecification", A_ALGORITHM),
        (f"{RANGES}.ContinuousParameterRanges[0].Name", f"{A_RANGES}.continuousParameterRanges.1.member.name"),
        (f"{RANGES}.IntegerParameterRanges[0].MinValue", f"{A_RANGES}.integerParameterRanges.1.member.minValue"),
        (f"{RANGES}.IntegerParameterRanges[0].MaxValue", f"{A_RANGES}.integerParameterRanges.1.member.maxValue"),
        (f"{RANGES}.CategoricalParameterRanges[0].Values", f"{A_RANGES}.categoricalParameterRanges.1.member.values"),
    ],
)
def test_a_missing_required_member_is_named_by_path(path, member):
    errors = shape_errors(body_with(removed=(path,)))
    assert list(errors) == [member]
    assert errors[member][0].startswith("Member must not be null")


@pytest.mark.parametrize(
    "member", ["RoleArn", "OutputDataConfig", "StoppingCondition", "AlgorithmSpecification.TrainingInputMode"]
)
def test_members_only_sagemaker_needs_to_run_a_job_may_be_left_out(member):
    body = body_with(
        {
            "TrainingJobDefinition.RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
            "TrainingJobDefinition.OutputDataConfig": {"S3OutputPath": "s3://bucket/output"},
        },
        removed=(f"TrainingJobDefinition.{member}",),
    )
    assert parse_create_tuning_job(body).name == "image-classification-es"


def test_an_algorithm_specification_without_a_name():
    body = body_with({"TrainingJobDefinition.AlgorithmSpecification": {"TrainingInputMode": "File"}})
    assert shape_errors(body) == {
        f"{A_ALGORITHM}.algorithmName": ["Member must not be null: name a registered algorithm (AlgorithmName)"]
    }


@pytest.mark.parametrize(
    ("path", "value", "member", "message"),
    [
        (f"{RANGES}.ContinuousParameterRanges[0].MinValue", "abc", "continuousParameterRanges.1.member.minValue",
         "Member must be a number written as a string"),
        (f"{RANGES}.ContinuousParameterRanges[0].MaxValue", None, "continuousParameterRanges.1.member.maxValue",
         "Member must not be null"),
        (f"{RANGES}.ContinuousParameterRanges[0].MaxValue", True, "continuousParameterRanges.1.member.maxValue",
         "Member must be a string"),
        (f"{RANGES}.IntegerParameterRanges[0].MinValue", "3.5", "integerParameterRanges.1.member.minValue",
         "Member must be an integer written as a string"),
        (f"{RANGES}.IntegerParameterRanges[0].MaxValue", "1e400", "integerParameterRanges.1.member.maxValue",
         "Member must be an integer written as a string"),
        (f"{RANGES}.IntegerParameterRanges[0].MaxValue", "", "integerParameterRanges.1.member.maxValue",
         "Member must be an integer written as a string"),
    ],
)  # fmt: skip
def test_bounds_that_are_not_numbers(path, value, member, message):
    assert shape_errors(body_with({path: value})) == {f"{A_RANGES}.{member}": [message]}


def test_integer_bounds_written_as_whole_floats_are_integers():
    config = parse_create_tuning_job(body_with({f"{RANGES}.IntegerParameterRanges[0].MinValue": "16.0"}))
    integer = next(r for r in config.parameter_ranges if r["type"] == "Integer")
    assert integer["min_value"] == 16 and isinstance(integer["min_value"], int)


@pytest.mark.parametrize(
    ("path", "value", "member", "reason"),
    [
        ("TrainingJobDefinitions", [{"DefinitionName": "a"}], "trainingJobDefinitions",
         "Several training job definitions are not supported"),
        ("Autotune", {"Mode": "Enabled"}, "autotune", "Autotune is not supported"),
        (f"{RANGES}.AutoParameters", [{"Name": "x", "ValueHint": "1"}], f"{A_RANGES}.autoParameters",
         "AutoParameters are not supported."),
    ],
)  # fmt: skip
def test_unsupported_members_are_refused_with_a_reason(path, value, member, reason):
    errors = shape_errors(body_with({path: value}))
    assert list(errors) == [member]
    assert len(errors[member]) == 1 and errors[member][0].startswith(reason)


def test_static_hyperparameter_values_must_be_strings():
    errors = shape_errors(body_with({STATICS: {"epochs": 30, "seed": "1", "augment": True}}))
    assert errors == {
        f"{A_DEFINITION}.staticHyperParameters": ["Map value must satisfy constraint: [Member must be a string]"] * 2
    }


def test_every_shape_error_is_reported_at_once():
    body = body_with(
        {
            "HyperParameterTuningJobName": 5,
            "Unknown": 1,
            f"{LIMITS}.MaxParallelTrainingJobs": "2",
            "WarmStartConfig": {},
        },
        removed=("HyperParameterTuningJobConfig.Strategy",),
    )
    assert set(shape_errors(body)) == {
        "hyperParameterTuningJobName",
        "unknown",
        f"{A_LIMITS}.maxParallelTrainingJobs",
        "warmStartConfig.parentHyperParameterTuningJobs",
        "warmStartConfig.warmStartType",
        f"{A_CONFIG}.strategy",
    }


def test_the_endpoints_message_shows_each_value_and_member():
    with pytest.raises(ShapeError) as error:
        parse_create_tuning_job(body_with({f"{LIMITS}.MaxParallelTrainingJobs": "2"}))
    assert error.value.message() == (
        f"1 validation error detected: Value '2' at '{A_LIMITS}.maxParallelTrainingJobs' failed to satisfy "
        "constraint: Member must be an integer"
    )


# --- rename_validation_error ------------------------------------------------------


def _resolves(path: str) -> bool:
    """Whether `path` names a member of botocore's CreateHyperParameterTuningJob input."""
    shape = service_model().operation_model("CreateHyperParameterTuningJob").input_shape
    for step in path.split("."):
        members = {member_path("", name): member for name, member in getattr(shape, "members", {}).items()}
        if step not in members:
            return False
        shape = members[step]
    return True


def test_every_config_field_has_a_sagemaker_path_that_exists():
    # A team is Tuneboard's own notion: the command takes it as --team, not in the body.
    fields = {f.name for f in dataclasses.fields(TuningJobConfig)} - {"team_name"}
    assert set(CONFIG_FIELD_PATHS) == fields
    unresolved = [path for path in CONFIG_FIELD_PATHS.values() if not _resolves(path)]
    assert unresolved == []


def test_rename_maps_config_fields_to_sagemaker_paths_and_keeps_the_messages():
    error = ValidationError(
        {
            "name": ["Use 1 to 32 letters."],
            "max_parallel_training_jobs": ["Must be between 1 and 100 (got 0)."],
            "parameter_ranges": ["lr: bad", "too many"],
            "something_else": ["kept as is"],
        }
    )
    renamed = rename_validation_error(error, BODY)
    assert renamed.errors == {
        "hyperParameterTuningJobName": ["Use 1 to 32 letters."],
        f"{A_LIMITS}.maxParallelTrainingJobs": ["Must be between 1 and 100 (got 0)."],
        A_RANGES: ["lr: bad", "too many"],
        "something_else": ["kept as is"],
    }
    assert [found.value for found in renamed.violations][:2] == ["image-classification-es", 2]


@pytest.mark.django_db
def test_a_validation_error_of_a_parsed_body_names_sagemaker_members():
    register_algorithm(name="image-classifier", metrics=("validation:accuracy",))
    body = body_with(
        {
            f"{LIMITS}.MaxNumberOfTrainingJobs": 20_000,
            f"{OBJECTIVE}.MetricName": "validation:f1",
        }
    )
    with pytest.raises(ValidationError) as error:
        validate_tuning_job_config(parse_create_tuning_job(body), user=None)
    renamed = rename_validation_error(error.value, body)
    assert set(renamed.errors) == {f"{A_LIMITS}.maxNumberOfTrainingJobs", f"{A_OBJECTIVE}.metricName"}
    assert f"Value 'validation:f1' at '{A_OBJECTIVE}.metricName' failed to satisfy constraint: " in renamed.message()


# --- responses ---------------------------------------------------------------------

MINI_BATCH_SIZE = {"name": "mini_batch_size", "type": "Integer", "min_value": 16, "max_value": 64,
                   "scaling_type": "Auto"}  # fmt: skip


@pytest.fixture
def tuning_job(django_capture_on_commit_callbacks):
    """tj-1 with a Completed training job (0.8) and one still InProgress."""
    register_algorithm()
    config = tuning_job_config(parameter_ranges=[LEARNING_RATE, MINI_BATCH_SIZE, OPTIMIZER])
    with django_capture_on_commit_callbacks(execute=False):
        tuning_job = services.tuning_job_create(config=config)
        first, _ = services.tuning_job_advance(tuning_job_id=tuning_job.id)
        run(first, [0.3, 0.8])
    return selectors.tuning_job_get(name=tuning_job.name)


@pytest.mark.django_db
def test_describe_has_sagemakers_members(tuning_job):
    described = describe_tuning_job(tuning_job)
    assert described["HyperParameterTuningJobName"] == "tj-1"
    assert (
        described["HyperParameterTuningJobArn"]
        == "arn:aws:sagemaker:local:000000000000:hyper-parameter-tuning-job/tj-1"
    )
    assert described["HyperParameterTuningJobStatus"] == "InProgress"
    assert isinstance(described["CreationTime"], datetime)
    assert isinstance(described["LastModifiedTime"], datetime)
    assert "HyperParameterTuningEndTime" not in described
    assert described["TrainingJobStatusCounters"] == {
        "Completed": 1,
        "InProgress": 1,
        "RetryableError": 0,
        "NonRetryableError": 0,
        "Stopped": 0,
    }
    assert described["ObjectiveStatusCounters"] == {"Succeeded": 1, "Pending": 1, "Failed": 0}
    assert isinstance(described["ConsumedResources"]["RuntimeInSeconds"], int)
    config = described["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Random"
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Maximize", "MetricName": "validation:accuracy"}
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2}
    assert config["TrainingJobEarlyStoppingType"] == "Off"
    assert config["RandomSeed"] == 7
    definition = described["TrainingJobDefinition"]
    assert definition["AlgorithmSpecification"]["AlgorithmName"] == "quadratic"
    assert definition["AlgorithmSpecification"]["MetricDefinitions"] == [
        {"Name": "validation:accuracy", "Regex": r"validation:accuracy=(\S+)"}
    ]


@pytest.mark.django_db
def test_describe_writes_parameter_ranges_with_string_bounds(tuning_job):
    ranges = describe_tuning_job(tuning_job)["HyperParameterTuningJobConfig"]["ParameterRanges"]
    assert ranges == {
        "ContinuousParameterRanges": [
            {"Name": "learning_rate", "MinValue": "0.0001", "MaxValue": "1.0", "ScalingType": "Logarithmic"}
        ],
        "IntegerParameterRanges": [
            {"Name": "mini_batch_size", "MinValue": "16", "MaxValue": "64", "ScalingType": "Auto"}
        ],
        "CategoricalParameterRanges": [{"Name": "optimizer", "Values": ["sgd", "adam"]}],
    }


@pytest.mark.django_db
def test_describe_names_the_best_training_job_with_its_final_objective(tuning_job):
    best = describe_tuning_job(tuning_job)["BestTrainingJob"]
    first = tuning_job.training_jobs.get(sequence=1)
    assert best["TrainingJobName"] == "tj-1-001"
    assert best["TrainingJobArn"] == "arn:aws:sagemaker:local:000000000000:training-job/tj-1-001"
    assert best["TuningJobName"] == "tj-1"
    assert best["TrainingJobStatus"] == "Completed"
    assert best["ObjectiveStatus"] == "Succeeded"
    assert best["TunedHyperParameters"] == first.tuned_hyperparameters
    assert set(best["TunedHyperParameters"]) == {"learning_rate", "mini_batch_size", "optimizer"}
    assert best["FinalHyperParameterTuningJobObjectiveMetric"] == {
        "Type": "Maximize",
        "MetricName": "validation:accuracy",
        "Value": 0.8,
    }
    assert best["TrainingStartTime"] <= best["TrainingEndTime"]


@pytest.mark.django_db
def test_describe_output_reads_back_as_the_same_configuration(tuning_job):
    described = describe_tuning_job(tuning_job)
    body = {
        "HyperParameterTuningJobName": "tj-2",
        "HyperParameterTuningJobConfig": described["HyperParameterTuningJobConfig"],
        "TrainingJobDefinition": described["TrainingJobDefinition"],
    }
    config = parse_create_tuning_job(body)
    assert config.parameter_ranges == tuning_job.parameter_ranges
    assert (config.algorithm_name, config.random_seed, config.max_training_jobs) == ("quadratic", 7, 4)


@pytest.mark.django_db
def test_describe_an_ended_tuning_job(tuning_job, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        services.tuning_job_stop(tuning_job_id=tuning_job.id)
        services.tuning_job_advance(tuning_job_id=tuning_job.id)
    tuning_job = selectors.tuning_job_get(name="tj-1")
    described = describe_tuning_job(tuning_job)
    assert described["HyperParameterTuningJobStatus"] == "Stopped"
    assert described["HyperParameterTuningEndTime"] == tuning_job.ended_at
    assert described["TrainingJobStatusCounters"]["Stopped"] == 1
    assert described["TrainingJobStatusCounters"]["InProgress"] == 0


@pytest.mark.django_db
def test_list_training_jobs_summarises_each_one(tuning_job):
    summaries = list_training_jobs(tuning_job, selectors.training_jobs_for_tuning_job(tuning_job=tuning_job))
    assert list(summaries) == ["TrainingJobSummaries"]
    done, running = summaries["TrainingJobSummaries"]
    assert (done["TrainingJobName"], running["TrainingJobName"]) == ("tj-1-001", "tj-1-002")
    assert running["TrainingJobArn"] == "arn:aws:sagemaker:local:000000000000:training-job/tj-1-002"
    assert (done["TrainingJobStatus"], running["TrainingJobStatus"]) == ("Completed", "InProgress")
    assert (done["ObjectiveStatus"], running["ObjectiveStatus"]) == ("Succeeded", "Pending")
    assert done["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == 0.8
    assert "FinalHyperParameterTuningJobObjectiveMetric" not in running
    assert "TrainingEndTime" not in running and "TrainingStartTime" not in running
    assert all(isinstance(v, str) for v in running["TunedHyperParameters"].values())
    assert isinstance(running["CreationTime"], datetime)


@pytest.mark.django_db
def test_a_failed_training_job_carries_its_failure_reason(tuning_job):
    failed = run(
        tuning_job.training_jobs.get(sequence=2), [], outcome=Outcome.FAILED, failure_reason="Traceback: out of memory"
    )
    (summary,) = list_training_jobs(tuning_job, [failed])["TrainingJobSummaries"]
    assert summary["TrainingJobStatus"] == "Failed"
    assert summary["FailureReason"] == "Traceback: out of memory"
    assert summary["ObjectiveStatus"] == "Failed"


# --- what the SageMaker-compatible endpoint echoes ------------------------------------


@pytest.mark.django_db
def test_describe_echoes_what_the_request_carried_with_tuneboards_facts_over_it(tuning_job):
    request = copy.deepcopy(BODY)
    request["TrainingJobDefinition"].update(
        RoleArn="arn:aws:iam::123456789012:role/SageMakerRole",
        ResourceConfig={"InstanceType": "ml.p3.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
        StaticHyperParameters={"epochs": "999"},
    )
    request["TrainingJobDefinition"]["AlgorithmSpecification"] = {"TrainingImage": "repo/image:1"}
    TuningJob.objects.filter(pk=tuning_job.pk).update(sagemaker_request=request)
    tuning_job.refresh_from_db()
    definition = describe_tuning_job(tuning_job)["TrainingJobDefinition"]
    assert definition["RoleArn"] == "arn:aws:iam::123456789012:role/SageMakerRole"
    assert definition["ResourceConfig"]["InstanceType"] == "ml.p3.2xlarge"
    assert definition["AlgorithmSpecification"] == {
        "TrainingImage": "repo/image:1",
        "TrainingInputMode": "File",
        "MetricDefinitions": [{"Name": "validation:accuracy", "Regex": r"validation:accuracy=(\S+)"}],
    }
    # What runs is what was stored, not what the request said.
    assert definition["StaticHyperParameters"] == {
        "_tuning_objective_metric": "validation:accuracy",
        **tuning_job.static_hyperparameters,
    }
    assert definition["StoppingCondition"] == {"MaxRuntimeInSeconds": 600}


@pytest.mark.django_db
def test_describe_training_job_and_its_summaries(tuning_job):
    first = tuning_job.training_jobs.get(sequence=1)
    running = tuning_job.training_jobs.get(sequence=2)
    last = MetricSample.objects.filter(training_job=first).order_by("-epoch")[:1]
    described = describe_training_job(first, list(last))
    assert described["TrainingJobStatus"] == described["SecondaryStatus"] == "Completed"
    assert described["FinalMetricDataList"][0]["MetricName"] == "validation:accuracy"
    assert described["FinalMetricDataList"][0]["Value"] == 0.8
    assert described["TrainingTimeInSeconds"] >= 1
    assert described["StoppingCondition"] == {"MaxRuntimeInSeconds": DEFAULT_TRAINING_MAX_RUNTIME_SECONDS}
    assert training_job_list_summary(running)["SecondaryStatus"] == "Starting"
    summary = tuning_job_summary(tuning_job, selectors.tuning_job_counters(tuning_job=tuning_job))
    assert summary["TrainingJobStatusCounters"]["Completed"] == 1
    assert summary["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2}
