"""SageMaker's JSON shapes <-> Tuneboard's models, in one place.

The management commands read CreateHyperParameterTuningJob request bodies
and print DescribeHyperParameterTuningJob and
ListTrainingJobsForHyperParameterTuningJob responses; the REST API and the
SageMaker-compatible endpoint reuse the same translation, so a field is
named and checked the same way wherever it enters.

Responses carry datetime objects; each caller's JSON encoder decides how a
time is written (ISO 8601 for people, epoch seconds on the AWS wire).
"""

import copy
import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from jobs.config import TuningJobConfig
from jobs.models import MetricSample, StopReason, TrainingJob, TrainingJobStatus, TuningJob
from jobs.sagemaker.validation import Violation, error_message, member_path, service_model, value_at, violations
from jobs.selectors import StatusCounters, tuning_job_completion_details, tuning_job_counters

ARN_PREFIX = "arn:aws:sagemaker:local:000000000000"

# Where each TuningJobConfig field lives in CreateHyperParameterTuningJob, as AWS names a member.
CONFIG_FIELD_PATHS = {
    "name": "hyperParameterTuningJobName",
    "algorithm_name": "trainingJobDefinition.algorithmSpecification.algorithmName",
    "strategy": "hyperParameterTuningJobConfig.strategy",
    "objective_metric_name": "hyperParameterTuningJobConfig.hyperParameterTuningJobObjective.metricName",
    "objective_type": "hyperParameterTuningJobConfig.hyperParameterTuningJobObjective.type",
    "parameter_ranges": "hyperParameterTuningJobConfig.parameterRanges",
    "max_training_jobs": "hyperParameterTuningJobConfig.resourceLimits.maxNumberOfTrainingJobs",
    "max_parallel_training_jobs": "hyperParameterTuningJobConfig.resourceLimits.maxParallelTrainingJobs",
    "max_runtime_seconds": "hyperParameterTuningJobConfig.resourceLimits.maxRuntimeInSeconds",
    "training_max_runtime_seconds": "trainingJobDefinition.stoppingCondition.maxRuntimeInSeconds",
    "max_retry_attempts": "trainingJobDefinition.retryStrategy.maximumRetryAttempts",
    "early_stopping_type": "hyperParameterTuningJobConfig.trainingJobEarlyStoppingType",
    "random_seed": "hyperParameterTuningJobConfig.randomSeed",
    "static_hyperparameters": "trainingJobDefinition.staticHyperParameters",
    "hyperband_min_resource": "hyperParameterTuningJobConfig.strategyConfig.hyperbandStrategyConfig.minResource",
    "hyperband_max_resource": "hyperParameterTuningJobConfig.strategyConfig.hyperbandStrategyConfig.maxResource",
    "target_objective_value": "hyperParameterTuningJobConfig.tuningJobCompletionCriteria.targetObjectiveMetricValue",
    "max_jobs_not_improving": (
        "hyperParameterTuningJobConfig.tuningJobCompletionCriteria.bestObjectiveNotImproving"
        ".maxNumberOfTrainingJobsNotImproving"
    ),
    "complete_on_convergence": (
        "hyperParameterTuningJobConfig.tuningJobCompletionCriteria.convergenceDetected.completeOnConvergence"
    ),
    "warm_start_type": "warmStartConfig.warmStartType",
    "warm_start_parents": "warmStartConfig.parentHyperParameterTuningJobs",
    "tags": "tags",
    "input_channels": "trainingJobDefinition.inputDataConfig",
    "s3_output_path": "trainingJobDefinition.outputDataConfig.s3OutputPath",
}


class ShapeError(Exception):
    """A SageMaker body Tuneboard cannot take; each violation names its member as AWS does."""

    def __init__(self, violations: list[Violation]):
        self.violations = violations
        super().__init__("; ".join(f"{found.path}: {found.constraint}" for found in violations))

    @property
    def errors(self) -> dict[str, list[str]]:
        """The constraints by member path, in the order they were found."""
        grouped: dict[str, list[str]] = {}
        for found in self.violations:
            grouped.setdefault(found.path, []).append(found.constraint)
        return grouped

    def message(self) -> str:
        """A ValidationException's message: the value, the member and the constraint of each."""
        return error_message([str(found) for found in self.violations])


def rename_validation_error(error: ValidationError, body: dict) -> ShapeError:
    """A service-layer ValidationError (keyed by TuningJobConfig field) as violations of `body`'s members."""
    violations = []
    for field_name, messages in error.message_dict.items():
        path = CONFIG_FIELD_PATHS.get(field_name, field_name)
        violations += [Violation(value_at(body, path), path, message) for message in messages]
    return ShapeError(violations)


# --- reading a request body -----------------------------------------------------
#
# botocore's model of CreateHyperParameterTuningJob checks the shape (types,
# required members, lengths, patterns, enums, unknown members); what follows
# are Tuneboard's own rules on top of it, each a violation worded the same way.

RANGES = "hyperParameterTuningJobConfig.parameterRanges"

# Members that are valid SageMaker but not available in Tuneboard yet: refused
# with a clear reason rather than silently ignored, since ignoring them would
# run something other than what was asked.
UNSUPPORTED = {
    ("TrainingJobDefinitions",): "Several training job definitions are not supported; use TrainingJobDefinition.",
    ("Autotune",): "Autotune is not supported; give the ranges in ParameterRanges.",
    ("HyperParameterTuningJobConfig", "ParameterRanges", "AutoParameters"): "AutoParameters are not supported.",
}

# SageMaker needs these to run a training job on AWS; Tuneboard runs it itself
# and has no use for them, so a body written for Tuneboard alone (a
# create_tuning_job spec) may leave them out. The /sagemaker endpoint, which
# speaks SageMaker's wire protocol, still requires them.
NOT_NEEDED_HERE = {
    "trainingJobDefinition.roleArn",
    "trainingJobDefinition.outputDataConfig",
    "trainingJobDefinition.stoppingCondition",
    "trainingJobDefinition.algorithmSpecification.trainingInputMode",
}

# botocore's model leaves these optional; Tuneboard needs them.
REQUIRED = {
    ("TrainingJobDefinition",): "Member must not be null (Tuneboard runs one training job definition per tuning job)",
    ("HyperParameterTuningJobConfig", "ResourceLimits", "MaxNumberOfTrainingJobs"): "Member must not be null",
    ("HyperParameterTuningJobConfig", "HyperParameterTuningJobObjective"): (
        "Member must not be null: the metric to optimize and its direction"
    ),
}


def create_tuning_job_violations(body: Any) -> list[Violation]:
    """Every way a CreateHyperParameterTuningJob body breaks botocore's model, else Tuneboard's rules."""
    shape = service_model().operation_model("CreateHyperParameterTuningJob").input_shape
    # An unsupported member is refused for what it is, whatever its contents.
    found = [
        Violation(value, _path(members), reason)
        for members, reason in UNSUPPORTED.items()
        if (value := _member(body, members)) is not None
    ]
    refused = tuple(problem.path for problem in found)
    found += [
        problem
        for problem in violations(shape, body)
        if not (problem.path in NOT_NEEDED_HERE and problem.value is None)
        and not any(problem.path == path or problem.path.startswith(f"{path}.") for path in refused)
    ]
    if found:
        return found
    for members, reason in REQUIRED.items():
        parent = _member(body, members[:-1])
        if isinstance(parent, dict) and parent.get(members[-1]) is None:
            found.append(Violation(None, _path(members), reason))
    algorithm = _member(body, ("TrainingJobDefinition", "AlgorithmSpecification")) or {}
    if "TrainingJobDefinition" in body and not (algorithm.get("AlgorithmName") or algorithm.get("TrainingImage")):
        reason = "Member must not be null: name a registered algorithm (AlgorithmName)"
        found.append(Violation(None, CONFIG_FIELD_PATHS["algorithm_name"], reason))
    _parse_parameter_ranges(body["HyperParameterTuningJobConfig"].get("ParameterRanges") or {}, found)
    found += duplicate_tag_keys(body.get("Tags") or [], "tags")
    found += _unreadable_channels(_member(body, ("TrainingJobDefinition", "InputDataConfig")) or [])
    return found


def _unreadable_channels(channels: list[dict]) -> list[Violation]:
    """Channels Tuneboard could not give a training job as SageMaker would: it copies the objects
    under an S3 prefix into input/data/<channel>/, and has no file systems or manifests to read."""
    found = []
    for index, channel in enumerate(channels, start=1):
        path = f"trainingJobDefinition.inputDataConfig.{index}.member.dataSource"
        source = channel["DataSource"].get("S3DataSource")
        if source is None:
            found.append(Violation(None, f"{path}.s3DataSource", "Member must not be null: Tuneboard reads S3 only"))
        elif source["S3DataType"] != "S3Prefix":
            reason = "Member must be S3Prefix: Tuneboard downloads the objects under a prefix, not manifests"
            found.append(Violation(source["S3DataType"], f"{path}.s3DataSource.s3DataType", reason))
    return found


def duplicate_tag_keys(tags: list[dict], path: str) -> list[Violation]:
    """A key given twice in one request: which value was meant is unknowable, so neither is taken."""
    seen: set[str] = set()
    found = []
    for index, tag in enumerate(tags, start=1):
        if tag["Key"] in seen:
            found.append(Violation(tag["Key"], f"{path}.{index}.member.key", "Member must be unique among the keys"))
        seen.add(tag["Key"])
    return found


def _member(body: dict, members: tuple[str, ...]) -> Any:
    value = body
    for name in members:
        value = value.get(name) if isinstance(value, dict) else None
    return value


def _path(members: tuple[str, ...]) -> str:
    path = ""
    for name in members:
        path = member_path(path, name)
    return path


def parse_create_tuning_job(body: Any) -> TuningJobConfig:
    """Read a CreateHyperParameterTuningJob request body; raise ShapeError naming each bad member."""
    found = create_tuning_job_violations(body)
    if found:
        raise ShapeError(found)
    config = body["HyperParameterTuningJobConfig"]
    definition = body["TrainingJobDefinition"]
    algorithm = definition["AlgorithmSpecification"]
    objective = config["HyperParameterTuningJobObjective"]
    limits = config["ResourceLimits"]
    hyperband = (config.get("StrategyConfig") or {}).get("HyperbandStrategyConfig") or {}
    completion = config.get("TuningJobCompletionCriteria") or {}
    convergence = (completion.get("ConvergenceDetected") or {}).get("CompleteOnConvergence", "Disabled")
    warm_start = body.get("WarmStartConfig") or {}
    return TuningJobConfig(
        name=body["HyperParameterTuningJobName"],
        algorithm_name=algorithm.get("AlgorithmName") or algorithm.get("TrainingImage"),
        strategy=config["Strategy"],
        objective_metric_name=objective["MetricName"],
        objective_type=objective["Type"],
        parameter_ranges=_parse_parameter_ranges(config.get("ParameterRanges") or {}, []),
        static_hyperparameters=dict(definition.get("StaticHyperParameters") or {}),
        max_training_jobs=limits["MaxNumberOfTrainingJobs"],
        max_parallel_training_jobs=limits["MaxParallelTrainingJobs"],
        max_runtime_seconds=limits.get("MaxRuntimeInSeconds"),
        training_max_runtime_seconds=(definition.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds"),
        max_retry_attempts=(definition.get("RetryStrategy") or {}).get("MaximumRetryAttempts"),
        early_stopping_type=config.get("TrainingJobEarlyStoppingType", "Off"),
        random_seed=config.get("RandomSeed"),
        hyperband_min_resource=hyperband.get("MinResource"),
        hyperband_max_resource=hyperband.get("MaxResource"),
        target_objective_value=completion.get("TargetObjectiveMetricValue"),
        max_jobs_not_improving=(completion.get("BestObjectiveNotImproving") or {}).get(
            "MaxNumberOfTrainingJobsNotImproving"
        ),
        complete_on_convergence=convergence == "Enabled",
        warm_start_type=warm_start.get("WarmStartType", ""),
        warm_start_parents=[
            parent["HyperParameterTuningJobName"] for parent in warm_start.get("ParentHyperParameterTuningJobs") or []
        ],
        tags=tags_from_shape(body.get("Tags") or []),
        input_channels={
            channel["ChannelName"]: channel["DataSource"]["S3DataSource"]["S3Uri"]
            for channel in definition.get("InputDataConfig") or []
        },
        s3_output_path=(definition.get("OutputDataConfig") or {}).get("S3OutputPath", ""),
    )


def tags_from_shape(tags: list[dict]) -> dict[str, str]:
    """SageMaker's TagList -> key: value."""
    return {tag["Key"]: tag["Value"] for tag in tags}


def tags_shape(tags) -> list[dict]:
    """Tag rows -> SageMaker's TagList."""
    return [{"Key": tag.key, "Value": tag.value} for tag in tags]


_RANGE_KINDS = {
    "ContinuousParameterRanges": ("Continuous", float),
    "IntegerParameterRanges": ("Integer", int),
    "CategoricalParameterRanges": ("Categorical", None),
}


def _parse_parameter_ranges(ranges: dict, found: list[Violation]) -> list[dict]:
    """SageMaker's ParameterRanges (numbers as strings) -> SearchSpace.from_dicts() items."""
    items = []
    for key, (kind, number) in _RANGE_KINDS.items():
        for index, item in enumerate(ranges.get(key) or [], start=1):
            parsed = {"name": item["Name"], "type": kind}
            if number is None:
                parsed["values"] = item["Values"]
            else:
                for member, field in (("MinValue", "min_value"), ("MaxValue", "max_value")):
                    path = f"{member_path(RANGES, key)}.{index}.member.{member_path('', member)}"
                    parsed[field] = _number(item[member], number, path, found)
                parsed["scaling_type"] = item.get("ScalingType", "Auto")
            items.append(parsed)
    return items


def _number(raw: str, number: type, path: str, found: list[Violation]):
    """A bound as SageMaker sends it, a string; an integer may be written as a whole float ("16.0")."""
    try:
        value = float(raw)
        if number is int:
            if value != int(value):
                raise ValueError
            return int(value)
        return value
    except (ValueError, OverflowError):
        kind = "an integer" if number is int else "a number"
        found.append(Violation(raw, path, f"Member must be {kind} written as a string"))
        return None


# --- writing responses ------------------------------------------------------------


def tuning_job_arn(tuning_job: TuningJob) -> str:
    return f"{ARN_PREFIX}:hyper-parameter-tuning-job/{tuning_job.name.lower()}"


def training_job_arn(training_job: TrainingJob) -> str:
    return f"{ARN_PREFIX}:training-job/{training_job.name.lower()}"


def parameter_ranges_shape(items: list[dict]) -> dict:
    """SearchSpace.to_dicts() items -> SageMaker's ParameterRanges (numbers as strings)."""
    shape = {"IntegerParameterRanges": [], "ContinuousParameterRanges": [], "CategoricalParameterRanges": []}
    for item in items:
        if item["type"] == "Categorical":
            shape["CategoricalParameterRanges"].append({"Name": item["name"], "Values": list(item["values"])})
            continue
        shape[f"{item['type']}ParameterRanges"].append(
            {
                "Name": item["name"],
                "MinValue": str(item["min_value"]),
                "MaxValue": str(item["max_value"]),
                "ScalingType": item["scaling_type"],
            }
        )
    return shape


def training_job_summary(training_job: TrainingJob, tuning_job: TuningJob) -> dict:
    """HyperParameterTrainingJobSummary."""
    summary = {
        "TrainingJobName": training_job.name,
        "TrainingJobArn": training_job_arn(training_job),
        "TuningJobName": tuning_job.name,
        "CreationTime": training_job.created_at,
        "TrainingJobStatus": training_job.status,
        "TunedHyperParameters": dict(training_job.tuned_hyperparameters),
        "ObjectiveStatus": training_job.objective_status,
    }
    if training_job.started_at:
        summary["TrainingStartTime"] = training_job.started_at
    if training_job.ended_at:
        summary["TrainingEndTime"] = training_job.ended_at
    if training_job.failure_reason:
        summary["FailureReason"] = training_job.failure_reason
    if training_job.final_objective_value is not None:
        summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
            "Type": tuning_job.objective_type,
            "MetricName": tuning_job.objective_metric_name,
            "Value": training_job.final_objective_value,
        }
    return summary


def counters_shape(counters: StatusCounters) -> dict:
    """TrainingJobStatusCounters and ObjectiveStatusCounters, as Describe and List both carry them."""
    return {
        "TrainingJobStatusCounters": {
            "Completed": counters.completed,
            "InProgress": counters.in_progress,
            "RetryableError": counters.retryable_error,
            "NonRetryableError": counters.non_retryable_error,
            "Stopped": counters.stopped,
        },
        "ObjectiveStatusCounters": {
            "Succeeded": counters.objective_succeeded,
            "Pending": counters.objective_pending,
            "Failed": counters.objective_failed,
        },
    }


def describe_tuning_job(tuning_job: TuningJob) -> dict:
    """DescribeHyperParameterTuningJob's response."""
    counters = tuning_job_counters(tuning_job=tuning_job)
    limits = {
        "MaxNumberOfTrainingJobs": tuning_job.max_training_jobs,
        "MaxParallelTrainingJobs": tuning_job.max_parallel_training_jobs,
    }
    if tuning_job.max_runtime_seconds:
        limits["MaxRuntimeInSeconds"] = tuning_job.max_runtime_seconds
    definition = training_job_definition(tuning_job)
    end = tuning_job.ended_at
    tuning_config = {
        "Strategy": tuning_job.strategy,
        "HyperParameterTuningJobObjective": {
            "Type": tuning_job.objective_type,
            "MetricName": tuning_job.objective_metric_name,
        },
        "ResourceLimits": limits,
        "ParameterRanges": parameter_ranges_shape(tuning_job.parameter_ranges),
        "TrainingJobEarlyStoppingType": tuning_job.early_stopping_type,
        "RandomSeed": tuning_job.random_seed,
    }
    if tuning_job.hyperband_max_resource:
        tuning_config["StrategyConfig"] = {
            "HyperbandStrategyConfig": {
                "MinResource": tuning_job.hyperband_min_resource,
                "MaxResource": tuning_job.hyperband_max_resource,
            }
        }
    criteria = {}
    if tuning_job.target_objective_value is not None:
        criteria["TargetObjectiveMetricValue"] = tuning_job.target_objective_value
    if tuning_job.max_jobs_not_improving is not None:
        criteria["BestObjectiveNotImproving"] = {
            "MaxNumberOfTrainingJobsNotImproving": tuning_job.max_jobs_not_improving
        }
    if tuning_job.complete_on_convergence:
        criteria["ConvergenceDetected"] = {"CompleteOnConvergence": "Enabled"}
    if criteria:
        tuning_config["TuningJobCompletionCriteria"] = criteria
    details = tuning_job_completion_details(tuning_job=tuning_job)
    completion_details = {"NumberOfTrainingJobsObjectiveNotImproving": details.jobs_not_improving}
    if tuning_job.convergence_detected_at:
        completion_details["ConvergenceDetectedTime"] = tuning_job.convergence_detected_at
    response = {
        "HyperParameterTuningJobName": tuning_job.name,
        "HyperParameterTuningJobArn": tuning_job_arn(tuning_job),
        "HyperParameterTuningJobConfig": tuning_config,
        "TrainingJobDefinition": definition,
        "HyperParameterTuningJobStatus": tuning_job.status,
        "CreationTime": tuning_job.created_at,
        "LastModifiedTime": tuning_job.updated_at,
        **counters_shape(counters),
        "TuningJobCompletionDetails": completion_details,
        "ConsumedResources": {
            "RuntimeInSeconds": int(((end or timezone.now()) - tuning_job.created_at).total_seconds())
        },
    }
    if end:
        response["HyperParameterTuningEndTime"] = end
    if tuning_job.best_training_job:
        response["BestTrainingJob"] = training_job_summary(tuning_job.best_training_job, tuning_job)
    if tuning_job.failure_reason:
        response["FailureReason"] = tuning_job.failure_reason
    if tuning_job.warm_start_type:
        response["WarmStartConfig"] = {
            "ParentHyperParameterTuningJobs": [
                {"HyperParameterTuningJobName": parent.name} for parent in tuning_job.warm_start_parents.all()
            ],
            "WarmStartType": tuning_job.warm_start_type,
        }
    return response


def list_training_jobs(tuning_job: TuningJob, training_jobs) -> dict:
    """ListTrainingJobsForHyperParameterTuningJob's response (one page: all of them)."""
    return {"TrainingJobSummaries": [training_job_summary(job, tuning_job) for job in training_jobs]}


# --- what SageMaker echoes ------------------------------------------------------------

# SageMaker's default StoppingCondition.MaxRuntimeInSeconds: one day.
DEFAULT_TRAINING_MAX_RUNTIME_SECONDS = 86_400
# The SageMaker SDK's defaults for an estimator's instance type and volume.
DEFAULT_INSTANCE_TYPE = "ml.m5.large"
DEFAULT_VOLUME_SIZE_IN_GB = 30


def _requested_definition(tuning_job: TuningJob) -> dict:
    return copy.deepcopy((tuning_job.sagemaker_request or {}).get("TrainingJobDefinition") or {})


def training_job_definition(tuning_job: TuningJob) -> dict:
    """Describe's TrainingJobDefinition: what was asked (RoleArn, ResourceConfig, ...), with Tuneboard's facts.

    The members Tuneboard has no use for come back as they were sent, as
    SageMaker echoes them; the SageMaker SDK's HyperparameterTuner.attach
    rebuilds its estimator from them. SageMaker adds the objective's name
    as the static hyperparameter _tuning_objective_metric; so does this.
    """
    definition = _requested_definition(tuning_job)
    algorithm = definition.get("AlgorithmSpecification") or {}
    if "TrainingImage" not in algorithm:
        # A job made without a request names its algorithm by image when it has one: the SDK's
        # Estimator.attach needs a TrainingImage (an AlgorithmName wants an AlgorithmEstimator).
        if tuning_job.algorithm.image_uri and "AlgorithmName" not in algorithm:
            algorithm["TrainingImage"] = tuning_job.algorithm.image_uri
        else:
            algorithm["AlgorithmName"] = tuning_job.algorithm.name
    algorithm.setdefault("TrainingInputMode", "File")
    algorithm["MetricDefinitions"] = list(tuning_job.algorithm.metric_definitions)
    definition["AlgorithmSpecification"] = algorithm
    definition["StaticHyperParameters"] = {
        "_tuning_objective_metric": tuning_job.objective_metric_name,
        **tuning_job.static_hyperparameters,
    }
    stopping = definition.get("StoppingCondition") or {}
    if tuning_job.training_max_runtime_seconds:
        stopping["MaxRuntimeInSeconds"] = tuning_job.training_max_runtime_seconds
    stopping.setdefault("MaxRuntimeInSeconds", DEFAULT_TRAINING_MAX_RUNTIME_SECONDS)
    definition["StoppingCondition"] = stopping
    if tuning_job.max_retry_attempts:
        definition["RetryStrategy"] = {"MaximumRetryAttempts": tuning_job.max_retry_attempts}
    _fill_required_members(definition, tuning_job)
    return definition


def _fill_required_members(definition: dict, tuning_job: TuningJob) -> None:
    """RoleArn, OutputDataConfig and ResourceConfig for a job whose creator never gave them.

    botocore's output model and sagemaker-core's resources require them, and
    the SDK v2's Estimator.attach reads OutputDataConfig["KmsKeyId"] and
    ResourceConfig's instance members without a default; a job made in the
    browser, the REST API or the CLI has none. They come from the algorithm's
    SageMaker settings, else from Tuneboard's (docs/configuration.md).
    """
    algorithm = tuning_job.algorithm.sagemaker_config or {}
    definition.setdefault("RoleArn", algorithm.get("RoleArn") or settings.TUNEBOARD_SAGEMAKER_ROLE_ARN)
    output = definition.setdefault("OutputDataConfig", {})
    output.setdefault(
        "S3OutputPath",
        tuning_job.s3_output_path or algorithm.get("S3OutputPath") or settings.TUNEBOARD_SAGEMAKER_OUTPUT_PATH,
    )
    output.setdefault("KmsKeyId", "")
    resources = definition.setdefault("ResourceConfig", {})
    if "InstanceGroups" not in resources:
        resources.setdefault("InstanceType", algorithm.get("InstanceType") or DEFAULT_INSTANCE_TYPE)
        resources.setdefault("InstanceCount", algorithm.get("InstanceCount") or 1)
    resources.setdefault("VolumeSizeInGB", algorithm.get("VolumeSizeInGB") or DEFAULT_VOLUME_SIZE_IN_GB)


def tuning_job_summary(tuning_job: TuningJob, counters: StatusCounters) -> dict:
    """HyperParameterTuningJobSummary, for ListHyperParameterTuningJobs."""
    limits = {
        "MaxNumberOfTrainingJobs": tuning_job.max_training_jobs,
        "MaxParallelTrainingJobs": tuning_job.max_parallel_training_jobs,
    }
    if tuning_job.max_runtime_seconds:
        limits["MaxRuntimeInSeconds"] = tuning_job.max_runtime_seconds
    summary = {
        "HyperParameterTuningJobName": tuning_job.name,
        "HyperParameterTuningJobArn": tuning_job_arn(tuning_job),
        "HyperParameterTuningJobStatus": tuning_job.status,
        "Strategy": tuning_job.strategy,
        "CreationTime": tuning_job.created_at,
        "LastModifiedTime": tuning_job.updated_at,
        **counters_shape(counters),
        "ResourceLimits": limits,
    }
    if tuning_job.ended_at:
        summary["HyperParameterTuningEndTime"] = tuning_job.ended_at
    return summary


def secondary_status(training_job: TrainingJob) -> str:
    """SageMaker's SecondaryStatus: what the backend reported, else derived from the status."""
    if training_job.secondary_status:
        return training_job.secondary_status
    if training_job.status == TrainingJobStatus.IN_PROGRESS:
        return "Training" if training_job.started_at else "Starting"
    if training_job.status == TrainingJobStatus.STOPPED and training_job.stop_reason == StopReason.MAX_RUNTIME:
        return "MaxRuntimeExceeded"
    return training_job.status


def training_job_list_summary(training_job: TrainingJob) -> dict:
    """TrainingJobSummary, for ListTrainingJobs."""
    summary = {
        "TrainingJobName": training_job.name,
        "TrainingJobArn": training_job_arn(training_job),
        "CreationTime": training_job.created_at,
        "LastModifiedTime": training_job.updated_at,
        "TrainingJobStatus": training_job.status,
        "SecondaryStatus": secondary_status(training_job),
    }
    if training_job.ended_at:
        summary["TrainingEndTime"] = training_job.ended_at
    return summary


def describe_training_job(training_job: TrainingJob, final_metrics: list[MetricSample]) -> dict:
    """DescribeTrainingJob's response; `final_metrics` is each metric's last sample."""
    tuning_job = training_job.tuning_job
    definition = training_job_definition(tuning_job)
    response = {
        "TrainingJobName": training_job.name,
        "TrainingJobArn": training_job_arn(training_job),
        "TuningJobArn": tuning_job_arn(tuning_job),
        "ModelArtifacts": {"S3ModelArtifacts": training_job.model_artifact_uri},
        "TrainingJobStatus": training_job.status,
        "SecondaryStatus": secondary_status(training_job),
        "HyperParameters": dict(training_job.hyperparameters),
        "AlgorithmSpecification": definition["AlgorithmSpecification"],
        "StoppingCondition": definition["StoppingCondition"],
        "CreationTime": training_job.created_at,
        "LastModifiedTime": training_job.updated_at,
        "FinalMetricDataList": [
            {"MetricName": sample.metric_name, "Value": sample.value, "Timestamp": sample.timestamp}
            for sample in final_metrics
        ],
    }
    for member in (
        "RoleArn",
        "InputDataConfig",
        "OutputDataConfig",
        "ResourceConfig",
        "VpcConfig",
        "EnableNetworkIsolation",
        "EnableInterContainerTrafficEncryption",
        "EnableManagedSpotTraining",
        "CheckpointConfig",
        "RetryStrategy",
        "Environment",
    ):
        if member in definition:
            response[member] = definition[member]
    if training_job.failure_reason:
        response["FailureReason"] = training_job.failure_reason
    if training_job.started_at:
        response["TrainingStartTime"] = training_job.started_at
    if training_job.ended_at:
        response["TrainingEndTime"] = training_job.ended_at
    if training_job.elapsed_seconds is not None:
        # SageMaker bills whole seconds, at least one.
        response["TrainingTimeInSeconds"] = max(1, math.ceil(training_job.elapsed_seconds))
    return response


# Import
#
# DescribeHyperParameterTuningJob, ListTrainingJobsForHyperParameterTuningJob and
# DescribeTrainingJob responses (as boto3 returns them) -> what a read-only,
# imported tuning job stores. The tuning job's configuration is read by
# parse_create_tuning_job, so an imported job's ranges, limits and criteria mean
# exactly what they mean in a CreateHyperParameterTuningJob body.

IMPORTABLE_STATUSES = ("InProgress", "Completed", "Failed", "Stopping", "Stopped")

# The training job's SecondaryStatus when SageMaker stopped it at its StoppingCondition.
_RUNTIME_SECONDARY_STATUSES = ("MaxRuntimeExceeded", "MaxWaitTimeExceeded")


@dataclass(frozen=True)
class ImportedTuningJob:
    """A SageMaker tuning job as Tuneboard stores it; `config` as if it had been created here."""

    config: TuningJobConfig
    arn: str
    status: str
    failure_reason: str
    created_at: Any
    ended_at: Any
    training_image: str
    algorithm_name: str
    metric_definitions: list[dict]
    sagemaker_config: dict
    s3_output_path: str
    algorithm_registration_name: str

    @property
    def metric_names(self) -> list[str]:
        """The metrics to read from CloudWatch: the definitions' and always the objective."""
        names = [definition["Name"] for definition in self.metric_definitions]
        if self.config.objective_metric_name not in names:
            names.append(self.config.objective_metric_name)
        return names


@dataclass(frozen=True)
class ImportedTrainingJob:
    name: str
    status: str
    secondary_status: str
    stop_reason: str
    failure_reason: str
    created_at: Any
    started_at: Any
    ended_at: Any
    hyperparameters: dict[str, str]
    tuned_hyperparameters: dict[str, str]
    final_objective_value: float | None
    objective_status: str
    model_artifact_uri: str


def parse_imported_tuning_job(description: dict, training_job_count: int) -> ImportedTuningJob:
    """Read a DescribeHyperParameterTuningJob response; raise ShapeError for what Tuneboard cannot show.

    `training_job_count` stands in for MaxNumberOfTrainingJobs, which SageMaker
    leaves out when completion criteria bound the tuning job instead.
    """
    import dataclasses

    from jobs.models import EarlyStoppingType, ObjectiveType, Strategy
    from jobs.tuning.space import SearchSpace, SearchSpaceError

    status = description.get("HyperParameterTuningJobStatus")
    if status not in IMPORTABLE_STATUSES:
        reason = f"A tuning job that is {status} cannot be imported."
        raise ShapeError([Violation(status, "hyperParameterTuningJobStatus", reason)])
    config = dict(description.get("HyperParameterTuningJobConfig") or {})
    definition = description.get("TrainingJobDefinition")
    definitions = description.get("TrainingJobDefinitions") or []
    if definition is None and len(definitions) == 1:
        # One definition in the list form: its objective and ranges are the tuning job's.
        definition = {
            key: value
            for key, value in definitions[0].items()
            if key not in ("DefinitionName", "TuningObjective", "HyperParameterRanges")
        }
        config.setdefault("HyperParameterTuningJobObjective", definitions[0].get("TuningObjective"))
        config.setdefault("ParameterRanges", definitions[0].get("HyperParameterRanges"))
    if definition is None:
        reason = f"{len(definitions)} training job definitions: Tuneboard shows one per job."
        raise ShapeError([Violation(None, "trainingJobDefinitions", reason)])
    limits = dict(config.get("ResourceLimits") or {})
    limits.setdefault("MaxNumberOfTrainingJobs", max(1, training_job_count))
    config["ResourceLimits"] = limits
    body = {
        "HyperParameterTuningJobName": description.get("HyperParameterTuningJobName"),
        "HyperParameterTuningJobConfig": config,
        # Its data stays SageMaker's business: an imported tuning job never runs here.
        "TrainingJobDefinition": {key: value for key, value in definition.items() if key != "InputDataConfig"},
    }
    if description.get("WarmStartConfig"):
        body["WarmStartConfig"] = description["WarmStartConfig"]
    parsed = parse_create_tuning_job(body)
    found: list[Violation] = []
    choices = {
        "strategy": Strategy.values,
        "objective_type": ObjectiveType.values,
        "early_stopping_type": EarlyStoppingType.values,
    }
    for field_name, values in choices.items():
        if getattr(parsed, field_name) not in values:
            path = CONFIG_FIELD_PATHS[field_name]
            found.append(Violation(getattr(parsed, field_name), path, f"Choose one of {', '.join(values)}."))
    try:
        ranges = SearchSpace.from_dicts(parsed.parameter_ranges).to_dicts()
    except SearchSpaceError as exc:
        found.append(Violation(None, CONFIG_FIELD_PATHS["parameter_ranges"], str(exc)))
    if found:
        raise ShapeError(found)
    algorithm = definition["AlgorithmSpecification"]
    resources = definition.get("ResourceConfig") or {}
    output_path = (definition.get("OutputDataConfig") or {}).get("S3OutputPath", "")
    sagemaker_config = {
        "RoleArn": definition.get("RoleArn"),
        "AlgorithmName": algorithm.get("AlgorithmName"),
        "InstanceType": resources.get("InstanceType"),
        "InstanceCount": resources.get("InstanceCount"),
        "VolumeSizeInGB": resources.get("VolumeSizeInGB"),
        "S3OutputPath": output_path or None,
    }
    return ImportedTuningJob(
        # SageMaker's RandomSeed is optional; the column is not, and nothing reruns an imported job.
        config=dataclasses.replace(
            parsed, parameter_ranges=ranges, random_seed=parsed.random_seed if parsed.random_seed is not None else 0
        ),
        arn=description.get("HyperParameterTuningJobArn", ""),
        status=status,
        failure_reason=description.get("FailureReason") or "",
        created_at=description.get("CreationTime"),
        ended_at=description.get("HyperParameterTuningEndTime"),
        training_image=algorithm.get("TrainingImage") or "",
        algorithm_name=algorithm.get("AlgorithmName") or "",
        metric_definitions=[
            {"Name": item["Name"], "Regex": item.get("Regex", "")}
            for item in algorithm.get("MetricDefinitions") or []
            if isinstance(item, dict) and isinstance(item.get("Name"), str)
        ],
        sagemaker_config={key: value for key, value in sagemaker_config.items() if value},
        s3_output_path=output_path,
        algorithm_registration_name=imported_algorithm_name(
            algorithm.get("TrainingImage") or "", algorithm.get("AlgorithmName") or ""
        ),
    )


def imported_algorithm_name(training_image: str, algorithm_name: str) -> str:
    """A valid Algorithm.name for a SageMaker image or algorithm: xgboost:1.7-1 -> xgboost-1-7-1."""
    source = algorithm_name.rsplit("/", 1)[-1] if algorithm_name else training_image.rsplit("/", 1)[-1]
    words = "".join(c if c.isascii() and c.isalnum() else " " for c in source).split()
    # Room for a "-NN" suffix when another algorithm has the name already.
    return "-".join(words)[:59].strip("-") or "sagemaker-algorithm"


def imported_stop_reason(
    *,
    status: str,
    secondary_status: str,
    ended_at,
    tuning_job: ImportedTuningJob,
    last_created_at,
) -> str:
    """Why a training job ended Stopped, as far as SageMaker's records tell.

    SageMaker says only "Stopped". Its SecondaryStatus names a runtime limit.
    Otherwise the tuner itself (early stopping Auto, Hyperband) stopped it, or
    a person did (StopHyperParameterTuningJob, StopTrainingJob). A tuning job
    nobody stopped leaves the tuner as the only candidate; in a stopped one, a
    job that ended before the last training job was created ended before the
    stop, since no job starts after it. Anything else counts as a person's stop.
    """
    from jobs.models import EarlyStoppingType, StopReason, Strategy

    if status not in ("Stopped", "Stopping"):
        return ""
    if secondary_status in _RUNTIME_SECONDARY_STATUSES:
        return StopReason.MAX_RUNTIME
    config = tuning_job.config
    if config.strategy == Strategy.HYPERBAND:
        tuner_reason = StopReason.HYPERBAND
    elif config.early_stopping_type == EarlyStoppingType.AUTO:
        tuner_reason = StopReason.EARLY_STOPPING
    else:
        return StopReason.USER_REQUEST
    if tuning_job.status not in ("Stopped", "Stopping"):
        return tuner_reason
    if ended_at is not None and last_created_at is not None and ended_at < last_created_at:
        return tuner_reason
    return StopReason.USER_REQUEST


def parse_imported_training_job(
    summary: dict, description: dict | None, *, tuning_job: ImportedTuningJob, last_created_at
) -> ImportedTrainingJob:
    """A HyperParameterTrainingJobSummary, completed by DescribeTrainingJob when it was read.

    The summary is the tuning job's own account of its training job (status,
    times, objective), so it wins; the description adds what only it has: all
    hyperparameters, SecondaryStatus, the model artifact, FinalMetricDataList.
    """
    description = description or {}
    status = summary["TrainingJobStatus"]
    if status not in IMPORTABLE_STATUSES:
        reason = f"{summary['TrainingJobName']}: status {status} is unknown."
        raise ShapeError([Violation(status, "trainingJobSummaries.trainingJobStatus", reason)])
    objective_name = tuning_job.config.objective_metric_name
    final = (summary.get("FinalHyperParameterTuningJobObjectiveMetric") or {}).get("Value")
    if final is None:
        finals = [m for m in description.get("FinalMetricDataList") or [] if m.get("MetricName") == objective_name]
        final = finals[-1]["Value"] if finals else None
    tuned = {key: str(value) for key, value in (summary.get("TunedHyperParameters") or {}).items()}
    hyperparameters = {**dict(tuning_job.config.static_hyperparameters), **tuned}
    hyperparameters.update(description.get("HyperParameters") or {})
    ended = status not in ("InProgress", "Stopping")
    ended_at = (summary.get("TrainingEndTime") or description.get("TrainingEndTime")) if ended else None
    secondary_status = description.get("SecondaryStatus") or ""
    return ImportedTrainingJob(
        name=summary["TrainingJobName"],
        status=status,
        secondary_status=secondary_status,
        stop_reason=imported_stop_reason(
            status=status,
            secondary_status=secondary_status,
            ended_at=ended_at,
            tuning_job=tuning_job,
            last_created_at=last_created_at,
        ),
        failure_reason=summary.get("FailureReason") or description.get("FailureReason") or "",
        created_at=summary.get("CreationTime") or description.get("CreationTime"),
        started_at=summary.get("TrainingStartTime") or description.get("TrainingStartTime"),
        ended_at=ended_at,
        hyperparameters=hyperparameters,
        tuned_hyperparameters=tuned,
        final_objective_value=float(final) if final is not None else None,
        objective_status=summary.get("ObjectiveStatus") or "Pending",
        model_artifact_uri=(description.get("ModelArtifacts") or {}).get("S3ModelArtifacts", ""),
    )
