"""SageMaker's SupportedHyperParameters: reading a declaration, and checking ranges and values against it."""

import pytest

from jobs.tuning.space import SearchSpace
from jobs.tuning.supported import (
    SupportedHyperParameterError,
    missing_required,
    parse_supported,
    range_errors,
    static_errors,
)

DECLARED = [
    {"Name": "learning_rate", "Type": "Continuous", "IsTunable": True,
     "Range": {"ContinuousParameterRangeSpecification": {"MinValue": "0.000001", "MaxValue": "1"}}},
    {"Name": "mini_batch_size", "Type": "Integer", "IsTunable": True,
     "Range": {"IntegerParameterRangeSpecification": {"MinValue": "1", "MaxValue": "512"}}},
    {"Name": "optimizer", "Type": "Categorical", "IsTunable": True,
     "Range": {"CategoricalParameterRangeSpecification": {"Values": ["sgd", "adam", "rmsprop"]}}},
    {"Name": "epochs", "Type": "Integer", "IsTunable": False, "IsRequired": True,
     "Range": {"IntegerParameterRangeSpecification": {"MinValue": "1", "MaxValue": "1000"}}},
    {"Name": "note", "Type": "FreeText"},
]  # fmt: skip


@pytest.fixture
def supported():
    return parse_supported(DECLARED)


def space(*ranges):
    return SearchSpace.from_dicts(list(ranges))


def test_ranges_within_the_declaration_pass(supported):
    ranges = space(
        {"name": "learning_rate", "type": "Continuous", "min_value": 1e-4, "max_value": 0.5},
        {"name": "mini_batch_size", "type": "Integer", "min_value": 16, "max_value": 512},
        {"name": "optimizer", "type": "Categorical", "values": ["sgd", "rmsprop"]},
    ).ranges
    assert range_errors(ranges, supported) == []


def test_an_unknown_name_is_refused_with_the_tunable_names(supported):
    [error] = range_errors(
        space({"name": "learning_rat", "type": "Continuous", "min_value": 0.1, "max_value": 0.5}).ranges, supported
    )
    assert error == (
        "learning_rat is not a hyperparameter of this algorithm "
        "(its tunable ones: learning_rate, mini_batch_size, optimizer)."
    )


def test_a_declared_but_untunable_hyperparameter_cannot_be_tuned(supported):
    [error] = range_errors(
        space({"name": "epochs", "type": "Integer", "min_value": 1, "max_value": 5}).ranges, supported
    )
    assert error.startswith("epochs cannot be tuned on this algorithm")


@pytest.mark.parametrize(
    ("param_range", "message"),
    [
        ({"name": "learning_rate", "type": "Continuous", "min_value": 0.5, "max_value": 2.0},
         "learning_rate: 2 is above its maximum 1."),
        ({"name": "mini_batch_size", "type": "Integer", "min_value": 0, "max_value": 8},
         "mini_batch_size: 0 is below its minimum 1."),
        ({"name": "optimizer", "type": "Categorical", "values": ["sgd", "adagrad"]},
         "optimizer: 'adagrad' is not one of sgd, adam, rmsprop."),
        ({"name": "mini_batch_size", "type": "Continuous", "min_value": 1, "max_value": 8},
         "mini_batch_size: a Continuous range cannot tune a Integer hyperparameter."),
        ({"name": "mini_batch_size", "type": "Categorical", "values": ["8", "16.5"]},
         "mini_batch_size: '16.5' is not an integer."),
    ],
)  # fmt: skip
def test_values_outside_the_declared_range_are_named(supported, param_range, message):
    assert range_errors(space(param_range).ranges, supported) == [message]


def test_an_integer_range_may_tune_a_continuous_hyperparameter():
    declared = parse_supported(
        [{"Name": "scale", "Type": "Continuous", "IsTunable": True,
          "Range": {"ContinuousParameterRangeSpecification": {"MinValue": "0", "MaxValue": "100"}}}]
    )  # fmt: skip
    assert (
        range_errors(space({"name": "scale", "type": "Integer", "min_value": 1, "max_value": 10}).ranges, declared)
        == []
    )


def test_static_values_are_checked_and_free_text_takes_anything(supported):
    assert static_errors({"epochs": "10", "note": "anything at all"}, supported) == []
    assert static_errors({"epochs": "ten", "colour": "red"}, supported) == [
        "epochs: 'ten' is not an integer.",
        "colour is not a hyperparameter of this algorithm "
        "(it has: learning_rate, mini_batch_size, optimizer, epochs, note).",
    ]


def test_a_required_hyperparameter_must_be_set_unless_it_has_a_default(supported):
    assert missing_required({"learning_rate"}, supported) == ["epochs"]
    assert missing_required({"epochs"}, supported) == []
    with_default = parse_supported([{**DECLARED[3], "DefaultValue": "10"}])
    assert missing_required(set(), with_default) == []


def test_an_algorithm_that_declares_nothing_accepts_any_name():
    ranges = space({"name": "anything", "type": "Continuous", "min_value": 0, "max_value": 1}).ranges
    assert range_errors(ranges, []) == []
    assert static_errors({"whatever": "1"}, []) == []


def integers(low, high, specification="IntegerParameterRangeSpecification"):
    return {"Name": "a", "Type": "Integer", "Range": {specification: {"MinValue": low, "MaxValue": high}}}


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        ({"Name": "a"}, "'a': Type must be one of Integer, Continuous, Categorical, FreeText."),
        ({"Name": "a", "Type": "Integer", "Colour": "red"}, "'a': unknown member(s) Colour."),
        ({"Name": "a", "Type": "FreeText", "IsTunable": True}, "'a': a FreeText hyperparameter cannot be tunable."),
        ({"Name": "a", "Type": "Integer", "IsTunable": "yes"}, "'a': IsTunable must be true or false."),
        (integers("5", "1"), "'a': MinValue is greater than MaxValue."),
        (integers("0", "1", "ContinuousParameterRangeSpecification"),
         "'a': Range must be {'IntegerParameterRangeSpecification': ...} for Type Integer."),
        (integers("0.5", "1"), "'a': an Integer range has integer bounds."),
        (integers("0", "inf"), "'a': MinValue and MaxValue must be numbers given as strings."),
        ({"Name": "a", "Type": "Categorical", "Range": {"CategoricalParameterRangeSpecification": {"Values": []}}},
         "'a': CategoricalParameterRangeSpecification must be {'Values': [non-empty list]}."),
        ({"Name": "a", "Type": "Integer", "DefaultValue": "x"}, "'a': DefaultValue 'x' is not an integer."),
        ("learning_rate", "entry 1: give an object with Name and Type."),
    ],
)  # fmt: skip
def test_a_malformed_declaration_says_which_entry_and_why(declaration, message):
    with pytest.raises(SupportedHyperParameterError) as error:
        parse_supported([declaration])
    assert str(error.value) == message


def test_a_name_declared_twice_is_refused():
    with pytest.raises(SupportedHyperParameterError, match="'epochs' is declared twice"):
        parse_supported([DECLARED[3], DECLARED[3]])


def test_the_hint_says_the_valid_values(supported):
    assert [declared.describe() for declared in supported] == [
        "Continuous, 1e-06 to 1",
        "Integer, 1 to 512",
        "Categorical: sgd, adam, rmsprop",
        "Integer, 1 to 1000",
        "FreeText",
    ]
