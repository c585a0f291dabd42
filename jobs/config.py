"""What a user asks for when creating a tuning job, and the rules it must follow.

Every entry point (the form, the REST API, the SageMaker-shaped JSON of the
management command) builds a TuningJobConfig and hands it to
services.tuning_job_create, so the rules live here once. Errors are keyed by
the TuningJobConfig field they concern; each entry point renames the keys into
its own vocabulary.
"""

import math
import re
import unicodedata
from dataclasses import dataclass, field

from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from jobs import selectors
from jobs.backends.metrics import MetricDefinition, MetricDefinitionError, compile_metric_definitions
from jobs.models import (
    TUNING_JOB_NAME_PATTERN,
    Algorithm,
    Backend,
    EarlyStoppingType,
    ObjectiveType,
    Strategy,
    TuningJob,
    WarmStartType,
)
from jobs.sagemaker import algorithm as sagemaker_algorithm
from jobs.tuning.criteria import MIN_JOBS_NOT_IMPROVING
from jobs.tuning.hyperband import MAX_RESOURCE_KEYS, infer_max_resource
from jobs.tuning.space import SearchSpace, SearchSpaceError
from jobs.tuning.strategies import STRATEGIES, validate_strategy
from jobs.tuning.supported import (
    SupportedHyperParameterError,
    missing_required,
    parse_supported,
    range_errors,
    static_errors,
)

# SageMaker's limits.
MAX_TRAINING_JOBS_LIMIT = 10_000
MAX_PARALLEL_LIMIT = 100
HYPERPARAMETER_VALUE_MAX_LENGTH = 2500
RANDOM_SEED_MAX = 2**31 - 1
# SageMaker's bound on RetryStrategy.MaximumRetryAttempts.
MAX_RETRY_ATTEMPTS = 30
MAX_WARM_START_PARENTS = 5
MAX_TAGS = 50
TAG_KEY_MAX_LENGTH = 128
TAG_VALUE_MAX_LENGTH = 256
# SageMaker's Tag pattern, ([\p{L}\p{Z}\p{N}_.:/=+\-@]*): letters, separators (spaces), digits and _.:/=+-@.
TAG_PUNCTUATION = set("_.:/=+-@")
# AWS keeps tag keys that start with "aws:" for its own.
RESERVED_TAG_PREFIX = "aws:"


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
    # TrainingJobDefinition.RetryStrategy.MaximumRetryAttempts (1-30); None: no retry.
    max_retry_attempts: int | None = None
    early_stopping_type: str = EarlyStoppingType.OFF
    random_seed: int | None = None
    hyperband_min_resource: int | None = None
    hyperband_max_resource: int | None = None
    target_objective_value: float | None = None
    max_jobs_not_improving: int | None = None
    complete_on_convergence: bool = False
    warm_start_type: str = ""
    warm_start_parents: list[str] = field(default_factory=list)
    team_name: str | None = None
    # SageMaker's Tags, key -> value, in the order given.
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ValidatedConfig:
    config: TuningJobConfig
    algorithm: Algorithm
    space: SearchSpace
    hyperband_min_resource: int | None = None
    hyperband_max_resource: int | None = None
    parents: list[TuningJob] = field(default_factory=list)
    team: Group | None = None


def algorithm_metric_definitions(algorithm: Algorithm) -> list[MetricDefinition]:
    return [MetricDefinition(name=d["Name"], regex=d["Regex"]) for d in algorithm.metric_definitions]


_NO_COMMAND = {
    Backend.EXTERNAL: "An external algorithm has no command: its trainers claim jobs through the API.",
    Backend.SAGEMAKER: "A sagemaker algorithm has no command: SageMaker runs its training image.",
}


def _check_objective(algorithm: Algorithm, errors: dict[str, list[str]]) -> None:
    """The algorithm's own objective: one of its metrics, with a goal; or neither."""
    name, goal = algorithm.objective_metric_name, algorithm.objective_type
    if not name and not goal:
        return
    if not name or not goal:
        errors["objective_type" if name else "objective_metric_name"] = ["Give the objective's metric and its goal."]
    elif "metric_definitions" not in errors and name not in algorithm.metric_names:
        known = ", ".join(algorithm.metric_names) or "none"
        errors["objective_metric_name"] = [f"{name!r} is not one of the algorithm's metric definitions ({known})."]


def validate_algorithm(algorithm: Algorithm) -> None:
    """Check what the model's field types cannot: argv shape, metric regexes, channels, SageMaker settings."""
    errors: dict[str, list[str]] = {}
    command = algorithm.command
    if algorithm.backend in (Backend.EXTERNAL, Backend.SAGEMAKER):
        # Its training runs elsewhere; there is nothing here to start.
        if command:
            errors["command"] = [_NO_COMMAND[algorithm.backend]]
    elif not isinstance(command, list) or not command or not all(isinstance(a, str) and a for a in command):
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
    _check_objective(algorithm, errors)
    _check_supported_hyperparameters(algorithm, errors)
    sagemaker_algorithm.check_input_channels(algorithm, errors)
    sagemaker_algorithm.check_image_uri_aliases(algorithm, errors)
    _check_environment_passthrough(algorithm, errors)
    if algorithm.backend == Backend.SAGEMAKER:
        sagemaker_algorithm.check_sagemaker_config(algorithm, errors)
    elif algorithm.sagemaker_config:
        sagemaker_algorithm.check_output_path_only(algorithm, errors)
    if errors:
        raise ValidationError(errors)


def _check_supported_hyperparameters(algorithm: Algorithm, errors: dict[str, list[str]]) -> None:
    """The declaration's shape, and the algorithm's own static values against it."""
    try:
        supported = parse_supported(algorithm.supported_hyperparameters)
    except SupportedHyperParameterError as exc:
        errors["supported_hyperparameters"] = [str(exc)]
        return
    if "static_hyperparameters" not in errors:
        problems = static_errors(algorithm.static_hyperparameters, supported)
        if problems:
            errors["static_hyperparameters"] = problems


def _check_against_supported(config: TuningJobConfig, algorithm: Algorithm, space: SearchSpace | None, fail) -> None:
    """Ranges and static values against the hyperparameters the algorithm declares (none: anything goes)."""
    supported = algorithm.supported
    if not supported:
        return
    if space is not None:
        for message in range_errors(space.ranges, supported):
            fail("parameter_ranges", message)
    if isinstance(config.static_hyperparameters, dict):
        for message in static_errors(config.static_hyperparameters, supported):
            fail("static_hyperparameters", message)
        given = {*config.static_hyperparameters, *algorithm.static_hyperparameters, *(space.names if space else ())}
        missing = missing_required(given, supported)
        if missing and space is not None:
            fail("static_hyperparameters", f"Required by the algorithm and not set: {', '.join(missing)}.")


# What a POSIX shell accepts as a variable name; anything else could not be set by one.
ENVIRONMENT_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_environment_passthrough(algorithm: Algorithm, errors: dict[str, list[str]]) -> None:
    """Variables of the worker's environment its programs may see: named one by one, for local jobs."""
    names = algorithm.environment_passthrough
    if not names:
        return

    def fail(message: str) -> None:
        errors.setdefault("environment_passthrough", []).append(message)

    if algorithm.backend != Backend.LOCAL:
        fail(f"Only a local algorithm's programs run on a worker; those of a {algorithm.backend} one see none of it.")
        return
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        fail('Give a list of variable names, e.g. ["WANDB_API_KEY"].')
        return
    for index, name in enumerate(names):
        if not ENVIRONMENT_VARIABLE_NAME.fullmatch(name):
            fail(f"[{index}] {name!r}: a variable name is letters, digits and underscores, not starting with a digit.")
        elif name in names[:index]:
            fail(f"[{index}] {name!r} is named twice.")


def _tag_text_ok(text: str) -> bool:
    return all(unicodedata.category(char)[0] in "LZN" or char in TAG_PUNCTUATION for char in text)


def tag_errors(tags: dict[str, str]) -> list[str]:
    """What breaks SageMaker's rules for one resource's tags: at most 50, each key and value of SageMaker's form."""
    errors = []
    if len(tags) > MAX_TAGS:
        errors.append(f"A resource has at most {MAX_TAGS} tags; these are {len(tags)}.")
    for key, value in tags.items():
        if not isinstance(key, str) or not 1 <= len(key) <= TAG_KEY_MAX_LENGTH or not _tag_text_ok(key):
            errors.append(f"Tag key {key!r}: use 1 to {TAG_KEY_MAX_LENGTH} letters, digits, spaces and _.:/=+-@.")
        elif key.lower().startswith(RESERVED_TAG_PREFIX):
            errors.append(f"Tag key {key!r}: keys that start with {RESERVED_TAG_PREFIX!r} are reserved for AWS.")
        if not isinstance(value, str) or len(value) > TAG_VALUE_MAX_LENGTH or not _tag_text_ok(value):
            errors.append(
                f"Tag {key!r}: its value takes up to {TAG_VALUE_MAX_LENGTH} letters, digits, spaces and _.:/=+-@."
            )
    return errors


def validate_tuning_job_config(config: TuningJobConfig, *, user) -> ValidatedConfig:
    """Apply SageMaker's rules for CreateHyperParameterTuningJob to `config`, on behalf of `user`.

    Collects every problem it can find instead of stopping at the first, so
    a form shows all its field errors at once. The teams and warm-start
    parents it names resolve among those `user` may see (None: a trusted
    caller, such as a management command), so naming another team's work
    answers exactly as naming none.
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

    if config.strategy not in STRATEGIES:
        fail("strategy", f"Choose one of {', '.join(sorted(STRATEGIES))}.")
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
    if config.max_retry_attempts is not None:
        _check_count(config.max_retry_attempts, "max_retry_attempts", 0, MAX_RETRY_ATTEMPTS, fail)
    if config.random_seed is not None:
        _check_count(config.random_seed, "random_seed", 0, RANDOM_SEED_MAX, fail)

    space = None
    try:
        space = SearchSpace.from_dicts(config.parameter_ranges)
    except SearchSpaceError as exc:
        fail("parameter_ranges", str(exc))
    if space is not None and config.strategy in STRATEGIES:
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

    if algorithm is not None:
        _check_against_supported(config, algorithm, space, fail)

    team = None
    if config.team_name:
        team = selectors.teams_visible_to(user=user).filter(name=config.team_name).first()
        if team is None:
            fail("team_name", f"No team named {config.team_name!r}.")

    hyperband = _check_hyperband(config, algorithm, fail)
    _check_completion_criteria(config, fail)
    parents = _check_warm_start(config, algorithm, space, selectors.tuning_jobs_named_for(user=user), fail)
    if not isinstance(config.tags, dict):
        fail("tags", "Give an object of key: value strings.")
    else:
        for message in tag_errors(config.tags):
            fail("tags", message)

    if errors:
        raise ValidationError(errors)
    min_resource, max_resource = hyperband
    return ValidatedConfig(
        config=config,
        algorithm=algorithm,
        space=space,
        hyperband_min_resource=min_resource,
        hyperband_max_resource=max_resource,
        parents=parents,
        team=team,
    )


def _check_hyperband(config: TuningJobConfig, algorithm: Algorithm | None, fail) -> tuple[int | None, int | None]:
    """Hyperband's resources, MaxResource inferred from the static `epochs` as SageMaker does."""
    if config.strategy != Strategy.HYPERBAND:
        for name in ("hyperband_min_resource", "hyperband_max_resource"):
            if getattr(config, name) is not None:
                fail(name, "Only the Hyperband strategy takes MinResource and MaxResource.")
        return None, None
    if config.early_stopping_type != EarlyStoppingType.OFF:
        fail("early_stopping_type", "Hyperband stops training jobs itself: early stopping type must be Off.")
    min_resource = config.hyperband_min_resource if config.hyperband_min_resource is not None else 1
    _check_count(min_resource, "hyperband_min_resource", 1, 10_000, fail)
    max_resource = config.hyperband_max_resource
    if max_resource is None:
        statics = {**(algorithm.static_hyperparameters if algorithm else {}), **dict(config.static_hyperparameters)}
        max_resource = infer_max_resource(statics)
        if max_resource is None:
            fail(
                "hyperband_max_resource",
                "Give MaxResource, or a static hyperparameter "
                f"({', '.join(MAX_RESOURCE_KEYS)}) it can be inferred from.",
            )
            return min_resource, None
    _check_count(max_resource, "hyperband_max_resource", 1, 10_000, fail)
    if isinstance(min_resource, int) and isinstance(max_resource, int) and max_resource < min_resource:
        fail("hyperband_max_resource", f"MaxResource ({max_resource}) must be at least MinResource ({min_resource}).")
    return min_resource, max_resource


def _check_completion_criteria(config: TuningJobConfig, fail) -> None:
    target = config.target_objective_value
    if target is not None and (
        isinstance(target, bool) or not isinstance(target, int | float) or not math.isfinite(target)
    ):
        fail("target_objective_value", "Must be a finite number.")
    if config.max_jobs_not_improving is not None:
        _check_count(config.max_jobs_not_improving, "max_jobs_not_improving", MIN_JOBS_NOT_IMPROVING, 10_000, fail)
    if not isinstance(config.complete_on_convergence, bool):
        fail("complete_on_convergence", "Must be true or false.")


def _check_warm_start(
    config: TuningJobConfig, algorithm: Algorithm | None, space: SearchSpace | None, candidates: QuerySet, fail
):
    """WarmStartConfig: 1 to 5 ended parents among `candidates`, with the same objective and tuned names."""
    names = list(config.warm_start_parents or [])
    if not config.warm_start_type:
        if names:
            fail("warm_start_type", f"Choose one of {', '.join(WarmStartType.values)}.")
        return []
    if config.warm_start_type not in WarmStartType.values:
        fail("warm_start_type", f"Choose one of {', '.join(WarmStartType.values)}.")
    if not 1 <= len(names) <= MAX_WARM_START_PARENTS:
        fail("warm_start_parents", f"Give 1 to {MAX_WARM_START_PARENTS} parent tuning jobs (got {len(names)}).")
        return []
    if len(set(names)) != len(names):
        fail("warm_start_parents", "A parent tuning job is named twice.")
    parents = []
    for name in names:
        parent = candidates.filter(name=name).first()
        if parent is None:
            fail("warm_start_parents", f"No tuning job named {name!r}.")
            continue
        parents.append(parent)
        if parent.is_active:
            fail("warm_start_parents", f"{name} is still {parent.status}; a parent must have ended.")
        if (parent.objective_metric_name, parent.objective_type) != (
            config.objective_metric_name,
            config.objective_type,
        ):
            fail(
                "warm_start_parents",
                f"{name} optimizes {parent.objective_type} {parent.objective_metric_name}, not "
                f"{config.objective_type} {config.objective_metric_name}.",
            )
        parent_names = sorted(item["name"] for item in parent.parameter_ranges)
        if space is not None and parent_names != sorted(space.names):
            fail(
                "warm_start_parents",
                f"{name} tunes {', '.join(parent_names)}; this tuning job tunes {', '.join(sorted(space.names))}.",
            )
        if (
            config.warm_start_type == WarmStartType.IDENTICAL_DATA_AND_ALGORITHM
            and algorithm is not None
            and parent.algorithm_id != algorithm.id
        ):
            fail(
                "warm_start_type",
                f"IdenticalDataAndAlgorithm needs the parent's algorithm ({parent.algorithm.name}); "
                "use TransferLearning for another one.",
            )
    return parents


def _check_count(value, field_name, minimum, maximum, fail) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        fail(field_name, "Must be a whole number.")
    elif not minimum <= value <= maximum:
        fail(field_name, f"Must be between {minimum} and {maximum} (got {value}).")
