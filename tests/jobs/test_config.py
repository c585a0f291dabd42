"""SageMaker's CreateHyperParameterTuningJob rules, as validate_tuning_job_config applies them.

Every error is keyed by the TuningJobConfig field it concerns (each entry point
renames the keys), and its message says what to change.
"""

import pytest
from django.core.exceptions import ValidationError

from jobs import services
from jobs.config import ValidatedConfig, validate_algorithm, validate_tuning_job_config
from jobs.models import Algorithm
from tests.jobs.factories import (
    LEARNING_RATE,
    OPTIMIZER,
    SUPPORTED_HYPERPARAMETERS,
    register_algorithm,
    tuning_job_config,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def algorithm():
    return register_algorithm(metrics=("train:loss", "validation:accuracy"))


def errors_of(**overrides) -> dict[str, list[str]]:
    """The message_dict of validating the default config with `overrides`; fails if it validates."""
    with pytest.raises(ValidationError) as error:
        validate_tuning_job_config(tuning_job_config(**overrides), user=None)
    return error.value.message_dict


def only_error(field_name: str, **overrides) -> str:
    """The single message of the single field that `overrides` breaks."""
    errors = errors_of(**overrides)
    assert list(errors) == [field_name], errors
    assert len(errors[field_name]) == 1, errors
    return errors[field_name][0]


def integer_range(name, low, high, scaling="Auto"):
    return {"name": name, "type": "Integer", "min_value": low, "max_value": high, "scaling_type": scaling}


def continuous_range(name, low, high, scaling="Auto"):
    return {"name": name, "type": "Continuous", "min_value": low, "max_value": high, "scaling_type": scaling}


def test_a_valid_config_returns_the_algorithm_and_the_space(algorithm):
    validated = validate_tuning_job_config(tuning_job_config(), user=None)
    assert isinstance(validated, ValidatedConfig)
    assert validated.algorithm == algorithm
    assert validated.space.names == ("learning_rate", "optimizer")
    assert validated.config.name == "tj-1"


# --- name -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "A1", "a--b", "tj-1", "a" * 32, "0" + "-9" * 15 + "x"])
def test_names_within_the_pattern_pass(algorithm, name):
    assert validate_tuning_job_config(tuning_job_config(name=name), user=None).config.name == name


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("a" * 33, id="33-chars"),
        pytest.param("bad_name", id="underscore"),
        pytest.param("tj 1", id="space"),
        pytest.param("tj.1", id="dot"),
        pytest.param("-tj", id="leading-hyphen"),
        pytest.param("tj-", id="trailing-hyphen"),
        pytest.param("", id="empty"),
        pytest.param("tj-1\n", id="trailing-newline"),
    ],
)
def test_names_outside_the_pattern_are_refused(algorithm, name):
    message = only_error("name", name=name)
    assert "1 to 32 letters, digits and hyphens" in message


def test_a_duplicate_name_is_refused(algorithm, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        services.tuning_job_create(config=tuning_job_config(name="taken"))
    message = only_error("name", name="taken")
    assert message == "A tuning job named 'taken' already exists."


# --- algorithm and objective ------------------------------------------------------


def test_an_unknown_algorithm_is_refused(algorithm):
    message = only_error("algorithm_name", algorithm_name="no-such-algorithm")
    assert message == "No algorithm named 'no-such-algorithm' is registered."


def test_the_objective_metric_must_be_one_of_the_algorithms_metric_definitions(algorithm):
    message = only_error("objective_metric_name", objective_metric_name="validation:f1")
    assert "'validation:f1' is not one of the algorithm's metric definitions" in message
    # It lists the metrics the user can choose from.
    assert "train:loss" in message and "validation:accuracy" in message


def test_any_of_the_algorithms_metrics_may_be_the_objective(algorithm):
    validated = validate_tuning_job_config(tuning_job_config(objective_metric_name="train:loss"), user=None)
    assert validated.config.objective_metric_name == "train:loss"


@pytest.mark.parametrize(
    ("field_name", "value", "choices"),
    [
        ("strategy", "Simulated", ["Random", "Grid"]),
        ("objective_type", "Maximise", ["Maximize", "Minimize"]),
        ("early_stopping_type", "On", ["Off", "Auto"]),
    ],
)
def test_choices_outside_the_enumeration_are_refused(algorithm, field_name, value, choices):
    message = only_error(field_name, **{field_name: value})
    assert message.startswith("Choose one of ")
    for choice in choices:
        assert choice in message


# --- resource limits ------------------------------------------------------------------


@pytest.mark.parametrize("field_name", ["max_training_jobs", "max_parallel_training_jobs"])
@pytest.mark.parametrize("value", [0, -1])
def test_counts_below_one_are_refused(algorithm, field_name, value):
    message = only_error(field_name, **{field_name: value})
    assert message.startswith("Must be between 1 and ")
    assert f"(got {value})" in message


@pytest.mark.parametrize(
    ("field_name", "value", "limit"),
    [("max_training_jobs", 10_001, "10000"), ("max_parallel_training_jobs", 101, "100")],
)
def test_counts_above_sagemakers_limits_are_refused(algorithm, field_name, value, limit):
    message = only_error(field_name, **{field_name: value})
    assert f"between 1 and {limit}" in message


@pytest.mark.parametrize("field_name", ["max_training_jobs", "max_parallel_training_jobs"])
@pytest.mark.parametrize("value", [2.5, 2.0, "2", True, None])
def test_counts_must_be_whole_numbers_not_floats_strings_or_booleans(algorithm, field_name, value):
    assert only_error(field_name, **{field_name: value}) == "Must be a whole number."


def test_the_counts_at_sagemakers_limits_pass(algorithm):
    validated = validate_tuning_job_config(
        tuning_job_config(max_training_jobs=10_000, max_parallel_training_jobs=100), user=None
    )
    assert validated.config.max_parallel_training_jobs == 100


@pytest.mark.parametrize("field_name", ["max_runtime_seconds", "training_max_runtime_seconds"])
def test_runtimes_must_be_positive_whole_numbers(algorithm, field_name):
    assert only_error(field_name, **{field_name: 0}).startswith("Must be between 1 and ")
    assert only_error(field_name, **{field_name: 1.5}) == "Must be a whole number."


def test_retry_attempts_are_within_sagemakers_bounds(algorithm):
    assert only_error("max_retry_attempts", max_retry_attempts=31) == "Must be between 0 and 30 (got 31)."
    assert only_error("max_retry_attempts", max_retry_attempts="2") == "Must be a whole number."
    assert (
        validate_tuning_job_config(tuning_job_config(max_retry_attempts=30), user=None).config.max_retry_attempts == 30
    )


def test_the_random_seed_must_be_a_non_negative_whole_number(algorithm):
    assert only_error("random_seed", random_seed=-1).startswith("Must be between 0 and ")
    assert only_error("random_seed", random_seed=2**31).startswith("Must be between 0 and ")
    assert only_error("random_seed", random_seed="7") == "Must be a whole number."


# --- parameter ranges ------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["Integer", "Continuous"])
@pytest.mark.parametrize(("low", "high"), [(5, 5), (6, 5)])
def test_min_value_must_be_below_max_value(algorithm, kind, low, high):
    make = integer_range if kind == "Integer" else continuous_range
    message = only_error("parameter_ranges", parameter_ranges=[make("batch", low, high)])
    assert message.startswith("batch: MinValue must be less than MaxValue")


@pytest.mark.parametrize("low", [0, -1e-3])
def test_logarithmic_scaling_needs_a_positive_min_value(algorithm, low):
    message = only_error("parameter_ranges", parameter_ranges=[continuous_range("lr", low, 1.0, "Logarithmic")])
    assert message.startswith("lr: Logarithmic scaling needs MinValue > 0")


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (-0.1, 0.9, "momentum: ReverseLogarithmic scaling needs MinValue >= 0"),
        (0.5, 1.0, "momentum: ReverseLogarithmic scaling needs MaxValue < 1"),
        (0.5, 1.5, "momentum: ReverseLogarithmic scaling needs MaxValue < 1"),
    ],
)
def test_reverse_logarithmic_scaling_stays_within_zero_to_one(algorithm, low, high, expected):
    ranges = [continuous_range("momentum", low, high, "ReverseLogarithmic")]
    assert only_error("parameter_ranges", parameter_ranges=ranges).startswith(expected)


def test_reverse_logarithmic_accepts_the_closed_lower_bound(algorithm):
    ranges = [continuous_range("momentum", 0.0, 0.999, "ReverseLogarithmic")]
    assert validate_tuning_job_config(tuning_job_config(parameter_ranges=ranges), user=None).space.names == (
        "momentum",
    )


def test_at_most_thirty_ranges(algorithm):
    thirty = [integer_range(f"p{i}", 1, 2) for i in range(30)]
    assert len(validate_tuning_job_config(tuning_job_config(parameter_ranges=thirty), user=None).space.names) == 30
    message = only_error("parameter_ranges", parameter_ranges=[*thirty, integer_range("p30", 1, 2)])
    assert message == "a search space has at most 30 parameter ranges (got 31)"


@pytest.mark.parametrize("count", [0, 31])
def test_categorical_ranges_have_one_to_thirty_values(algorithm, count):
    values = [f"v{i}" for i in range(count)]
    ranges = [{"name": "optimizer", "type": "Categorical", "values": values}]
    message = only_error("parameter_ranges", parameter_ranges=ranges)
    assert message == f"optimizer: Values must have between 1 and 30 items (got {count})"


def test_at_least_one_range(algorithm):
    assert "at least one parameter range" in only_error("parameter_ranges", parameter_ranges=[])


def test_grid_refuses_a_continuous_range(algorithm):
    message = only_error("parameter_ranges", strategy="Grid", parameter_ranges=[LEARNING_RATE, OPTIMIZER])
    assert message.startswith("learning_rate: Grid search needs Categorical or Integer ranges")


def test_grid_accepts_integer_and_categorical_ranges(algorithm):
    ranges = [integer_range("batch", 16, 18), OPTIMIZER]
    assert validate_tuning_job_config(tuning_job_config(strategy="Grid", parameter_ranges=ranges), user=None).space


# --- static hyperparameters --------------------------------------------------------------


def test_a_parameter_cannot_be_both_static_and_tuned(algorithm):
    message = only_error("static_hyperparameters", static_hyperparameters={"epochs": "3", "learning_rate": "0.1"})
    assert message == "learning_rate is tuned, so it cannot also be static."


@pytest.mark.parametrize("value", [3, None, "x" * 2501])
def test_static_values_are_strings_of_at_most_2500_characters(algorithm, value):
    message = only_error("static_hyperparameters", static_hyperparameters={"epochs": value})
    assert message.startswith("epochs: the value must be a string")


def test_static_hyperparameters_must_be_an_object(algorithm):
    message = only_error("static_hyperparameters", static_hyperparameters=["epochs=3"])
    assert "name: value" in message


# --- the algorithm's declared hyperparameters (SupportedHyperParameters) -------------------------


@pytest.fixture
def declaring():
    return register_algorithm(supported_hyperparameters=SUPPORTED_HYPERPARAMETERS)


def test_ranges_and_statics_within_the_declaration_pass(declaring):
    config = tuning_job_config(static_hyperparameters={"epochs": "30"})
    assert validate_tuning_job_config(config, user=None).algorithm == declaring


def test_a_range_of_a_hyperparameter_the_algorithm_lacks_is_refused(declaring):
    message = only_error("parameter_ranges", parameter_ranges=[{**LEARNING_RATE, "name": "learning_rat"}])
    assert (
        message
        == "learning_rat is not a hyperparameter of this algorithm (its tunable ones: learning_rate, optimizer)."
    )


def test_values_outside_the_declared_ranges_are_refused(declaring):
    errors = errors_of(
        parameter_ranges=[{**LEARNING_RATE, "max_value": 5.0}, {**OPTIMIZER, "values": ["sgd", "lbfgs"]}],
        static_hyperparameters={"epochs": "1000", "colour": "red"},
    )
    assert errors == {
        "parameter_ranges": [
            "learning_rate: 5 is above its maximum 1.",
            "optimizer: 'lbfgs' is not one of sgd, adam, rmsprop.",
        ],
        "static_hyperparameters": [
            "epochs: 1000 is above its maximum 100.",
            "colour is not a hyperparameter of this algorithm (it has: learning_rate, optimizer, epochs).",
        ],
    }


def test_a_required_hyperparameter_nothing_sets_is_refused(db):
    required = [{**spec, "IsRequired": spec["Name"] == "epochs"} for spec in SUPPORTED_HYPERPARAMETERS]
    register_algorithm(supported_hyperparameters=required)
    assert only_error("static_hyperparameters") == "Required by the algorithm and not set: epochs."
    assert validate_tuning_job_config(tuning_job_config(static_hyperparameters={"epochs": "3"}), user=None)


def test_a_malformed_declaration_is_refused_at_registration(db):
    with pytest.raises(ValidationError) as caught:
        register_algorithm(supported_hyperparameters=[{"Name": "lr", "Type": "Decimal"}])
    assert caught.value.message_dict == {
        "supported_hyperparameters": ["'lr': Type must be one of Integer, Continuous, Categorical, FreeText."]
    }
    with pytest.raises(ValidationError) as caught:
        register_algorithm(supported_hyperparameters=SUPPORTED_HYPERPARAMETERS, static_hyperparameters={"epochs": "0"})
    assert caught.value.message_dict == {"static_hyperparameters": ["epochs: 0 is below its minimum 1."]}


def test_several_errors_are_reported_at_once(algorithm):
    errors = errors_of(
        name="-bad",
        strategy="Simulated",
        objective_metric_name="validation:f1",
        max_training_jobs=0,
        max_parallel_training_jobs=True,
        parameter_ranges=[continuous_range("lr", 1.0, 0.5)],
        static_hyperparameters={"epochs": 3},
    )
    assert set(errors) == {
        "name",
        "strategy",
        "objective_metric_name",
        "max_training_jobs",
        "max_parallel_training_jobs",
        "parameter_ranges",
        "static_hyperparameters",
    }


def test_an_unknown_algorithm_does_not_hide_the_other_errors(algorithm):
    errors = errors_of(algorithm_name="nope", max_parallel_training_jobs=0)
    assert set(errors) == {"algorithm_name", "max_parallel_training_jobs"}


# --- validate_algorithm -------------------------------------------------------------


def make_algorithm(**overrides) -> Algorithm:
    values = {
        "name": "candidate",
        "command": ["python", "train.py"],
        "metric_definitions": [{"Name": "validation:accuracy", "Regex": r"validation:accuracy=(\S+)"}],
        "static_hyperparameters": {"epochs": "3"},
    }
    values.update(overrides)
    return Algorithm(**values)


def algorithm_errors(**overrides) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as error:
        validate_algorithm(make_algorithm(**overrides))
    return error.value.message_dict


def test_a_valid_algorithm_passes():
    assert validate_algorithm(make_algorithm()) is None


@pytest.mark.parametrize(
    "command",
    [
        pytest.param("python train.py", id="a-string"),
        pytest.param([], id="empty"),
        pytest.param(["python", ""], id="empty-argument"),
        pytest.param(["python", 3], id="non-string-argument"),
        pytest.param({"argv": ["python"]}, id="an-object"),
    ],
)
def test_the_command_must_be_a_non_empty_argv(command):
    assert algorithm_errors(command=command) == {
        "command": ["Give the program's argv as a non-empty list of non-empty strings."]
    }


def test_a_regex_that_does_not_compile_is_refused():
    errors = algorithm_errors(metric_definitions=[{"Name": "loss", "Regex": r"loss=([0-9"}])
    assert list(errors) == ["metric_definitions"]
    assert errors["metric_definitions"][0].startswith("MetricDefinitions[0].Regex: metric 'loss': invalid regex")


def test_a_regex_that_needs_backtracking_is_refused_naming_its_definition():
    errors = algorithm_errors(
        metric_definitions=[{"Name": "loss", "Regex": r"loss=(\S+)"}, {"Name": "acc", "Regex": r"acc=(\d+)(?=%)"}]
    )

    assert errors["metric_definitions"][0].startswith("MetricDefinitions[1].Regex: metric 'acc': invalid regex")
    assert "RE2" in errors["metric_definitions"][0]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"environment_passthrough": "WANDB_API_KEY"}, "Give a list of variable names"),
        ({"environment_passthrough": ["WANDB-API-KEY"]}, "[0] 'WANDB-API-KEY': a variable name is letters"),
        ({"environment_passthrough": ["A", "1A"]}, "[1] '1A': a variable name"),
        ({"environment_passthrough": ["A", "A"]}, "[1] 'A' is named twice."),
        ({"environment_passthrough": ["A"], "backend": "external", "command": []}, "Only a local algorithm"),
    ],
)
def test_environment_passthrough_names_variables_for_local_programs(overrides, message):
    errors = algorithm_errors(**overrides)

    assert errors["environment_passthrough"][0].startswith(message)


def test_environment_passthrough_of_valid_names_passes():
    assert validate_algorithm(make_algorithm(environment_passthrough=["WANDB_API_KEY", "_PRIVATE2"])) is None


def test_a_regex_without_a_capture_group_is_refused():
    errors = algorithm_errors(metric_definitions=[{"Name": "loss", "Regex": r"loss=\S+"}])
    assert list(errors) == ["metric_definitions"]
    assert "needs a capture group around the value" in errors["metric_definitions"][0]


def test_the_error_points_at_the_faulty_definition():
    definitions = [
        {"Name": "loss", "Regex": r"loss=(\S+)"},
        {"Name": "loss", "Regex": r"loss2=(\S+)"},
    ]
    errors = algorithm_errors(metric_definitions=definitions)
    assert errors["metric_definitions"] == ["MetricDefinitions[1].Name: duplicate metric name 'loss'"]


@pytest.mark.parametrize(
    "definitions",
    [
        pytest.param({"Name": "loss", "Regex": r"loss=(\S+)"}, id="not-a-list"),
        pytest.param([{"Name": "loss"}], id="missing-regex"),
        pytest.param([{"Name": "loss", "Regex": r"loss=(\S+)", "Extra": 1}], id="extra-key"),
        pytest.param(["loss=(\\S+)"], id="a-string-item"),
    ],
)
def test_metric_definitions_must_be_name_regex_objects(definitions):
    assert algorithm_errors(metric_definitions=definitions) == {
        "metric_definitions": ['Give a list of {"Name": ..., "Regex": ...} objects.']
    }


@pytest.mark.parametrize(
    "definition",
    [
        pytest.param({"Name": 5, "Regex": r"loss=(\S+)"}, id="number-name"),
        pytest.param({"Name": "loss", "Regex": 5}, id="number-regex"),
    ],
)
def test_non_string_names_and_regexes_are_a_validation_error_not_a_crash(definition):
    # The admin's JSON field accepts any JSON, so these reach validate_algorithm.
    errors = algorithm_errors(metric_definitions=[definition])
    assert list(errors) == ["metric_definitions"]


def test_static_hyperparameter_values_must_be_strings():
    assert algorithm_errors(static_hyperparameters={"epochs": 3}) == {
        "static_hyperparameters": ["Give an object whose values are strings."]
    }


def test_every_problem_of_an_algorithm_is_reported_at_once():
    errors = algorithm_errors(command=[], metric_definitions=[{"Name": "x", "Regex": "("}], static_hyperparameters=[])
    assert set(errors) == {"command", "metric_definitions", "static_hyperparameters"}


@pytest.mark.parametrize(
    ("objective", "field", "message"),
    [
        (("loss", "Minimize"), "objective_metric_name", "'loss' is not one of the algorithm's metric definitions"),
        (("validation:accuracy", ""), "objective_type", "Give the objective's metric and its goal."),
        (("", "Maximize"), "objective_metric_name", "Give the objective's metric and its goal."),
    ],
)
def test_an_algorithm_s_own_objective_is_one_of_its_metrics_with_a_goal(db, objective, field, message):
    with pytest.raises(ValidationError) as caught:
        register_algorithm(name="objective", objective_metric_name=objective[0], objective_type=objective[1])
    assert caught.value.message_dict[field][0].startswith(message)
