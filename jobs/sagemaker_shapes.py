"""SageMaker's JSON shapes <-> Tuneboard's models, in one place.

The management commands read CreateHyperParameterTuningJob request bodies
and print DescribeHyperParameterTuningJob and
ListTrainingJobsForHyperParameterTuningJob responses; the REST API and the
SageMaker-compatible endpoint reuse the same translation, so a field is
named and checked the same way wherever it enters.

Responses carry datetime objects; each caller's JSON encoder decides how a
time is written (ISO 8601 for people, epoch seconds on the AWS wire).
"""

import math
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from jobs.config import TuningJobConfig
from jobs.models import TrainingJob, TuningJob
from jobs.selectors import tuning_job_counters
from jobs.services import tuning_job_completion_details

ARN_PREFIX = "arn:aws:sagemaker:local:000000000000"

# Where each TuningJobConfig field lives in CreateHyperParameterTuningJob.
CONFIG_FIELD_PATHS = {
    "name": "HyperParameterTuningJobName",
    "algorithm_name": "TrainingJobDefinition.AlgorithmSpecification.AlgorithmName",
    "strategy": "HyperParameterTuningJobConfig.Strategy",
    "objective_metric_name": "HyperParameterTuningJobConfig.HyperParameterTuningJobObjective.MetricName",
    "objective_type": "HyperParameterTuningJobConfig.HyperParameterTuningJobObjective.Type",
    "parameter_ranges": "HyperParameterTuningJobConfig.ParameterRanges",
    "max_training_jobs": "HyperParameterTuningJobConfig.ResourceLimits.MaxNumberOfTrainingJobs",
    "max_parallel_training_jobs": "HyperParameterTuningJobConfig.ResourceLimits.MaxParallelTrainingJobs",
    "max_runtime_seconds": "HyperParameterTuningJobConfig.ResourceLimits.MaxRuntimeInSeconds",
    "training_max_runtime_seconds": "TrainingJobDefinition.StoppingCondition.MaxRuntimeInSeconds",
    "early_stopping_type": "HyperParameterTuningJobConfig.TrainingJobEarlyStoppingType",
    "random_seed": "HyperParameterTuningJobConfig.RandomSeed",
    "static_hyperparameters": "TrainingJobDefinition.StaticHyperParameters",
    "hyperband_min_resource": "HyperParameterTuningJobConfig.StrategyConfig.HyperbandStrategyConfig.MinResource",
    "hyperband_max_resource": "HyperParameterTuningJobConfig.StrategyConfig.HyperbandStrategyConfig.MaxResource",
    "target_objective_value": "HyperParameterTuningJobConfig.TuningJobCompletionCriteria.TargetObjectiveMetricValue",
    "max_jobs_not_improving": (
        "HyperParameterTuningJobConfig.TuningJobCompletionCriteria.BestObjectiveNotImproving"
        ".MaxNumberOfTrainingJobsNotImproving"
    ),
    "complete_on_convergence": (
        "HyperParameterTuningJobConfig.TuningJobCompletionCriteria.ConvergenceDetected.CompleteOnConvergence"
    ),
    "warm_start_type": "WarmStartConfig.WarmStartType",
    "warm_start_parents": "WarmStartConfig.ParentHyperParameterTuningJobs",
}


class ShapeError(Exception):
    """A request body that does not fit the shape; `errors` maps member paths to reasons."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(f"{path}: {' '.join(msgs)}" for path, msgs in errors.items()))


def rename_validation_error(error: ValidationError) -> ShapeError:
    """Name the fields of a service-layer ValidationError by their SageMaker member paths."""
    return ShapeError({CONFIG_FIELD_PATHS.get(k, k): list(v) for k, v in error.message_dict.items()})


# --- reading a request body -----------------------------------------------------


@dataclass(frozen=True)
class Member:
    """How one member of a structure is read: its type and whether it must be there."""

    kind: Any
    required: bool = False


# Members Tuneboard has no use for (they describe AWS infrastructure); they are
# accepted so existing request bodies work unchanged, and otherwise ignored.
IGNORED = object()


CREATE_TUNING_JOB = {
    "HyperParameterTuningJobName": Member(str, required=True),
    "HyperParameterTuningJobConfig": Member(
        (
            {
                "Strategy": Member(str, required=True),
                "StrategyConfig": Member(
                    {"HyperbandStrategyConfig": Member({"MinResource": Member(int), "MaxResource": Member(int)})}
                ),
                "HyperParameterTuningJobObjective": Member(
                    ({"Type": Member(str, required=True), "MetricName": Member(str, required=True)})
                ),
                "ResourceLimits": Member(
                    (
                        {
                            "MaxNumberOfTrainingJobs": Member(int),
                            "MaxParallelTrainingJobs": Member(int, required=True),
                            "MaxRuntimeInSeconds": Member(int),
                        }
                    ),
                    required=True,
                ),
                "ParameterRanges": Member(
                    (
                        {
                            "IntegerParameterRanges": Member(list),
                            "ContinuousParameterRanges": Member(list),
                            "CategoricalParameterRanges": Member(list),
                            "AutoParameters": Member(list),
                        }
                    )
                ),
                "TrainingJobEarlyStoppingType": Member(str),
                "TuningJobCompletionCriteria": Member(
                    {
                        "TargetObjectiveMetricValue": Member(float),
                        "BestObjectiveNotImproving": Member(
                            {"MaxNumberOfTrainingJobsNotImproving": Member(int, required=True)}
                        ),
                        "ConvergenceDetected": Member({"CompleteOnConvergence": Member(str, required=True)}),
                    }
                ),
                "RandomSeed": Member(int),
            }
        ),
        required=True,
    ),
    "TrainingJobDefinition": Member(
        (
            {
                "DefinitionName": IGNORED,
                "TuningObjective": IGNORED,
                "HyperParameterRanges": IGNORED,
                "StaticHyperParameters": Member(dict),
                "AlgorithmSpecification": Member(
                    (
                        {
                            "AlgorithmName": Member(str),
                            "TrainingImage": Member(str),
                            "TrainingInputMode": IGNORED,
                            "MetricDefinitions": IGNORED,
                            "EnableSageMakerMetricsTimeSeries": IGNORED,
                        }
                    ),
                    required=True,
                ),
                "RoleArn": IGNORED,
                "InputDataConfig": IGNORED,
                "VpcConfig": IGNORED,
                "OutputDataConfig": IGNORED,
                "ResourceConfig": IGNORED,
                "HyperParameterTuningResourceConfig": IGNORED,
                "StoppingCondition": Member(
                    (
                        {
                            "MaxRuntimeInSeconds": Member(int),
                            "MaxWaitTimeInSeconds": IGNORED,
                            "MaxPendingTimeInSeconds": IGNORED,
                        }
                    )
                ),
                "EnableNetworkIsolation": IGNORED,
                "EnableInterContainerTrafficEncryption": IGNORED,
                "EnableManagedSpotTraining": IGNORED,
                "CheckpointConfig": IGNORED,
                "RetryStrategy": IGNORED,
                "Environment": IGNORED,
            }
        ),
        required=True,
    ),
    "TrainingJobDefinitions": Member(list),
    "WarmStartConfig": Member(
        {
            "ParentHyperParameterTuningJobs": Member(list, required=True),
            "WarmStartType": Member(str, required=True),
        }
    ),
    "Tags": IGNORED,
    "Autotune": Member(dict),
}

# Members that are valid SageMaker but not available in Tuneboard yet: refused
# with a clear reason rather than silently ignored, since ignoring them would
# run something other than what was asked.
UNSUPPORTED = {
    "TrainingJobDefinitions": "Several training job definitions are not supported; use TrainingJobDefinition.",
    "Autotune": "Autotune is not supported; give the ranges in ParameterRanges.",
    "HyperParameterTuningJobConfig.ParameterRanges.AutoParameters": "AutoParameters are not supported.",
}


def _read(value: Any, shape: Any, path: str, errors: dict[str, list[str]]) -> Any:
    """Check `value` against `shape`, collecting errors by path; return the value or None."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            errors.setdefault(path or "(body)", []).append("Expected an object.")
            return None
        result = {}
        for key, item in value.items():
            item_path = f"{path}.{key}" if path else key
            if key not in shape:
                errors.setdefault(item_path, []).append("Unknown field.")
                continue
            if item_path in UNSUPPORTED:
                errors.setdefault(item_path, []).append(UNSUPPORTED[item_path])
                continue
            member = shape[key]
            if member is IGNORED:
                continue
            result[key] = _read(item, member.kind, item_path, errors)
        for key, member in shape.items():
            if member is not IGNORED and member.required and key not in value:
                errors.setdefault(f"{path}.{key}" if path else key, []).append("This field is required.")
        return result
    if shape is int:
        if isinstance(value, bool) or not isinstance(value, int):
            errors.setdefault(path, []).append(f"Expected an integer, got {value!r}.")
            return None
        return value
    if shape is float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            errors.setdefault(path, []).append(f"Expected a number, got {value!r}.")
            return None
        return float(value)
    if not isinstance(value, shape):
        expected = {str: "a string", list: "a list", dict: "an object"}[shape]
        errors.setdefault(path, []).append(f"Expected {expected}, got {value!r}.")
        return None
    return value


def parse_create_tuning_job(body: Any) -> TuningJobConfig:
    """Read a CreateHyperParameterTuningJob request body; raise ShapeError naming each bad member."""
    errors: dict[str, list[str]] = {}
    data = _read(body, CREATE_TUNING_JOB, "", errors)
    if errors:
        raise ShapeError(errors)
    config = data["HyperParameterTuningJobConfig"]
    definition = data["TrainingJobDefinition"]
    algorithm = definition["AlgorithmSpecification"]
    algorithm_name = algorithm.get("AlgorithmName") or algorithm.get("TrainingImage")
    if not algorithm_name:
        errors["TrainingJobDefinition.AlgorithmSpecification.AlgorithmName"] = [
            "Name a registered algorithm (AlgorithmName)."
        ]
    statics = definition.get("StaticHyperParameters") or {}
    for key, value in statics.items():
        if not isinstance(value, str):
            errors.setdefault("TrainingJobDefinition.StaticHyperParameters", []).append(
                f"{key}: values must be strings, as SageMaker passes them (got {value!r})."
            )
    ranges = _parse_parameter_ranges(config.get("ParameterRanges") or {}, errors)
    objective = config.get("HyperParameterTuningJobObjective") or {}
    limits = config["ResourceLimits"]
    if "MaxNumberOfTrainingJobs" not in limits:
        errors["HyperParameterTuningJobConfig.ResourceLimits.MaxNumberOfTrainingJobs"] = ["This field is required."]
    if "HyperParameterTuningJobObjective" not in config:
        errors["HyperParameterTuningJobConfig.HyperParameterTuningJobObjective"] = [
            "This field is required: the metric to optimize and its direction."
        ]
    hyperband = ((config.get("StrategyConfig") or {}).get("HyperbandStrategyConfig")) or {}
    completion = config.get("TuningJobCompletionCriteria") or {}
    convergence = (completion.get("ConvergenceDetected") or {}).get("CompleteOnConvergence", "Disabled")
    if convergence not in ("Disabled", "Enabled"):
        errors[CONFIG_FIELD_PATHS["complete_on_convergence"]] = ["Choose Disabled or Enabled."]
    warm_start = data.get("WarmStartConfig") or {}
    parents = []
    for index, parent in enumerate(warm_start.get("ParentHyperParameterTuningJobs") or []):
        name = parent.get("HyperParameterTuningJobName") if isinstance(parent, dict) else None
        if not isinstance(name, str) or set(parent) != {"HyperParameterTuningJobName"}:
            errors[f"WarmStartConfig.ParentHyperParameterTuningJobs[{index}]"] = [
                'Expected {"HyperParameterTuningJobName": "..."}.'
            ]
            continue
        parents.append(name)
    if errors:
        raise ShapeError(errors)
    return TuningJobConfig(
        name=data["HyperParameterTuningJobName"],
        algorithm_name=algorithm_name,
        strategy=config["Strategy"],
        objective_metric_name=objective["MetricName"],
        objective_type=objective["Type"],
        parameter_ranges=ranges,
        static_hyperparameters=dict(statics),
        max_training_jobs=limits["MaxNumberOfTrainingJobs"],
        max_parallel_training_jobs=limits["MaxParallelTrainingJobs"],
        max_runtime_seconds=limits.get("MaxRuntimeInSeconds"),
        training_max_runtime_seconds=(definition.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds"),
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
        warm_start_parents=parents,
    )


_RANGE_KINDS = {
    "ContinuousParameterRanges": ("Continuous", float, {"Name", "MinValue", "MaxValue", "ScalingType"}),
    "IntegerParameterRanges": ("Integer", int, {"Name", "MinValue", "MaxValue", "ScalingType"}),
    "CategoricalParameterRanges": ("Categorical", None, {"Name", "Values"}),
}


def _parse_parameter_ranges(ranges: dict, errors: dict[str, list[str]]) -> list[dict]:
    """SageMaker's ParameterRanges (numbers as strings) -> SearchSpace.from_dicts() items."""
    items = []
    for key, (kind, number, members) in _RANGE_KINDS.items():
        for index, item in enumerate(ranges.get(key) or []):
            path = f"HyperParameterTuningJobConfig.ParameterRanges.{key}[{index}]"
            if not isinstance(item, dict):
                errors.setdefault(path, []).append("Expected an object.")
                continue
            for unknown in sorted(set(item) - members):
                errors.setdefault(f"{path}.{unknown}", []).append("Unknown field.")
            missing = sorted(m for m in members - {"ScalingType"} if m not in item)
            for member in missing:
                errors.setdefault(f"{path}.{member}", []).append("This field is required.")
            if missing:
                continue
            parsed = {"name": item["Name"], "type": kind}
            if number is None:
                parsed["values"] = item["Values"]
            else:
                for member, field in (("MinValue", "min_value"), ("MaxValue", "max_value")):
                    parsed[field] = _number(item[member], number, f"{path}.{member}", errors)
                parsed["scaling_type"] = item.get("ScalingType", "Auto")
            items.append(parsed)
    return items


def _number(raw: Any, number: type, path: str, errors: dict[str, list[str]]):
    try:
        if isinstance(raw, bool):
            raise ValueError
        value = float(raw)
        if number is int:
            if value != int(value):
                raise ValueError
            return int(value)
        return value
    except (TypeError, ValueError, OverflowError):
        kind = "an integer" if number is int else "a number"
        errors.setdefault(path, []).append(f"Expected {kind} (as a string), got {raw!r}.")
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


def describe_tuning_job(tuning_job: TuningJob) -> dict:
    """DescribeHyperParameterTuningJob's response."""
    counters = tuning_job_counters(tuning_job=tuning_job)
    limits = {
        "MaxNumberOfTrainingJobs": tuning_job.max_training_jobs,
        "MaxParallelTrainingJobs": tuning_job.max_parallel_training_jobs,
    }
    if tuning_job.max_runtime_seconds:
        limits["MaxRuntimeInSeconds"] = tuning_job.max_runtime_seconds
    definition = {
        "StaticHyperParameters": dict(tuning_job.static_hyperparameters),
        "AlgorithmSpecification": {
            "AlgorithmName": tuning_job.algorithm.name,
            "TrainingInputMode": "File",
            "MetricDefinitions": list(tuning_job.algorithm.metric_definitions),
        },
    }
    if tuning_job.training_max_runtime_seconds:
        definition["StoppingCondition"] = {"MaxRuntimeInSeconds": tuning_job.training_max_runtime_seconds}
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
    details = tuning_job_completion_details(tuning_job)
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
