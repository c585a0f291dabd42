"""What a user asks for when creating a tuning job, and the rules it must follow.

Every entry point (the form, the REST API, the SageMaker-shaped JSON of the
management command) builds a TuningJobConfig and hands it to
services.tuning_job_create, so the rules live here once. Errors are keyed by
the TuningJobConfig field they concern; each entry point renames the keys into
its own vocabulary.
"""

import re
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError

from jobs.backends.metrics import MetricDefinition, MetricDefinitionError, compile_metric_definitions
from jobs.models import (
    TUNING_JOB_NAME_PATTERN,
    Algorithm,
    EarlyStoppingType,
    ObjectiveType,
    Strategy,
    TuningJob,
)
from jobs.tuning.space import SearchSpace, SearchSpaceError
from jobs.tuning.strategies import validate_strategy

# SageMaker's limits.
MAX_TRAINING_JOBS_LIMIT = 10_000
MAX_PARALLEL_LIMIT = 100
HYPERPARAMETER_VALUE_MAX_LENGTH = 2500
RANDOM_SEED_MAX = 2**31 - 1


@dataclass(frozen=True)
class TuningJobConfig:
    name: str
    algorithm_name: str
    objective_metric_name: str
    objective_type: str
    parameter_ranges: list[dict]
    max_training_jobs: int
    max_parallel_training_jobs: int
    strategy: str = Strategy.RANDOM
    static_hyperparameters: dict[str, str] = field(default_factory=dict)
    max_runtime_seconds: int | None = None
    training_max_runtime_seconds: int | None = None
    early_stopping_type: str = EarlyStoppingType.OFF
    random_seed: int | None = None


@dataclass(frozen=True)
class ValidatedConfig:
    config: TuningJobConfig
    algorithm: Algorithm
    space: SearchSpace


def algorithm_metric_definitions(algorithm: Algorithm) -> list[MetricDefinition]:
    return [MetricDefinition(name=d["Name"], regex=d["Regex"]) for d in algorithm.metric_definitions]


def validate_algorithm(algorithm: Algorithm) -> None:
    """Check what the model's field types cannot: argv shape and metric regexes."""
    errors: dict[str, list[str]] = {}
    command = algorithm.command
    if not isinstance(command, list) or not command or not all(isinstance(a, str) and a for a in command):
        errors["command"] = ["Give the program's argv as a non-empty list of non-empty strings."]
    definitions = algorithm.metric_definitions
    if not isinstance(definitions, list) or not all(
        isinstance(d, dict) and set(d) == {"Name", "Regex"} and all(isinstance(v, str) for v in d.values())
        for d in definitions
    ):
        errors["metric_definitions"] = ['Give a list of {"Name": ..., "Regex": ...} objects.']
    else:
        try:
            compile_metric_definitions(algorithm_metric_definitions(algorithm))
        except MetricDefinitionError as exc:
            errors["metric_definitions"] = [str(exc)]
    statics = algorithm.static_hyperparameters
    if not isinstance(statics, dict) or not all(isinstance(v, str) for v in statics.values()):
        errors["static_hyperparameters"] = ["Give an object whose values are strings."]
    if errors:
        raise ValidationError(errors)


def validate_tuning_job_config(config: TuningJobConfig) -> ValidatedConfig:
    """Apply SageMaker's rules for CreateHyperParameterTuningJob to `config`.

    Collects every problem it can find instead of stopping at the first, so
    a form shows all its field errors at once.
    """
    errors: dict[str, list[str]] = {}

    def fail(field_name: str, message: str) -> None:
        errors.setdefault(field_name, []).append(message)

    if not isinstance(config.name, str) or not re.match(TUNING_JOB_NAME_PATTERN, config.name):
        fail("name", "Use 1 to 32 letters, digits and hyphens, starting and ending with a letter or digit.")
    elif TuningJob.objects.filter(name=config.name).exists():
        fail("name", f"A tuning job named {config.name!r} already exists.")

    algorithm = Algorithm.objects.filter(name=config.algorithm_name).first()
    if algorithm is None:
        fail("algorithm_name", f"No algorithm named {config.algorithm_name!r} is registered.")

    if config.strategy not in Strategy.values:
        fail("strategy", f"Choose one of {', '.join(Strategy.values)}.")
    if config.objective_type not in ObjectiveType.values:
        fail("objective_type", f"Choose one of {', '.join(ObjectiveType.values)}.")
    if config.early_stopping_type not in EarlyStoppingType.values:
        fail("early_stopping_type", f"Choose one of {', '.join(EarlyStoppingType.values)}.")
    if algorithm is not None and config.objective_metric_name not in algorithm.metric_names:
        known = ", ".join(algorithm.metric_names) or "none"
        fail(
            "objective_metric_name",
            f"{config.objective_metric_name!r} is not one of the algorithm's metric definitions ({known}).",
        )

    _check_count(config.max_training_jobs, "max_training_jobs", 1, MAX_TRAINING_JOBS_LIMIT, fail)
    _check_count(config.max_parallel_training_jobs, "max_parallel_training_jobs", 1, MAX_PARALLEL_LIMIT, fail)
    for name in ("max_runtime_seconds", "training_max_runtime_seconds"):
        value = getattr(config, name)
        if value is not None:
            _check_count(value, name, 1, 60 * 60 * 24 * 30, fail)
    if config.random_seed is not None:
        _check_count(config.random_seed, "random_seed", 0, RANDOM_SEED_MAX, fail)

    space = None
    try:
        space = SearchSpace.from_dicts(config.parameter_ranges)
    except SearchSpaceError as exc:
        fail("parameter_ranges", str(exc))
    if space is not None and config.strategy in Strategy.values:
        try:
            validate_strategy(config.strategy, space)
        except SearchSpaceError as exc:
            fail("parameter_ranges", str(exc))

    statics = config.static_hyperparameters
    if not isinstance(statics, dict):
        fail("static_hyperparameters", "Give an object of name: value strings.")
    else:
        for name, value in statics.items():
            if not isinstance(value, str) or len(value) > HYPERPARAMETER_VALUE_MAX_LENGTH:
                fail("static_hyperparameters", f"{name}: the value must be a string of at most 2500 characters.")
            if space is not None and name in space.names:
                fail("static_hyperparameters", f"{name} is tuned, so it cannot also be static.")

    if errors:
        raise ValidationError(errors)
    return ValidatedConfig(config=config, algorithm=algorithm, space=space)


def _check_count(value, field_name, minimum, maximum, fail) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        fail(field_name, "Must be a whole number.")
    elif not minimum <= value <= maximum:
        fail(field_name, f"Must be between {minimum} and {maximum} (got {value}).")
