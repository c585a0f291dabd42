import json
import math

import numpy as np
import pytest

from jobs.tuning.space import (
    CategoricalParameterRange,
    ContinuousParameterRange,
    IntegerParameterRange,
    ScalingType,
    SearchSpace,
    SearchSpaceError,
    effective_scaling,
    format_value,
)

STORED = [
    {
        "name": "learning_rate",
        "type": "Continuous",
        "min_value": 1e-5,
        "max_value": 1.0,
        "scaling_type": "Logarithmic",
    },
    {
        "name": "mini_batch_size",
        "type": "Integer",
        "min_value": 16,
        "max_value": 64,
        "scaling_type": "Auto",
    },
    {"name": "optimizer", "type": "Categorical", "values": ["sgd", "adam", "nag"]},
]


def continuous(name="learning_rate", low=0.1, high=1.0, scaling="Linear"):
    return {
        "name": name,
        "type": "Continuous",
        "min_value": low,
        "max_value": high,
        "scaling_type": scaling,
    }


def integer(name="epochs", low=1, high=10, scaling="Linear"):
    return {
        "name": name,
        "type": "Integer",
        "min_value": low,
        "max_value": high,
        "scaling_type": scaling,
    }


def categorical(name="optimizer", values=("sgd", "adam")):
    return {"name": name, "type": "Categorical", "values": list(values)}


def one_range(param_range):
    return SearchSpace([param_range])


# --- validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "parameter", "attribute", "message"),
    [
        ([continuous(name="")], None, "Name", "Name must be a non-empty string (got '')"),
        ([continuous(name=None)], None, "Name", "Name must be a non-empty string (got None)"),
        (
            [continuous(name="learning rate")],
            "learning rate",
            "Name",
            "learning rate: Name may contain only letters, digits and the characters _ . : -",
        ),
        (
            [continuous(name="x" * 257)],
            "x" * 257,
            "Name",
            "Name must be at most 256 characters (got 257)",
        ),
        (
            [continuous(name="depth"), integer(name="depth")],
            "depth",
            "Name",
            "depth: Name must be unique within the search space",
        ),
        (
            [continuous(low=1.0, high=0.1)],
            "learning_rate",
            "MinValue",
            "learning_rate: MinValue must be less than MaxValue (got 1.0 >= 0.1)",
        ),
        (
            [integer(low=5, high=5)],
            "epochs",
            "MinValue",
            "epochs: MinValue must be less than MaxValue (got 5 >= 5)",
        ),
        (
            [continuous(low="abc")],
            "learning_rate",
            "MinValue",
            "learning_rate: MinValue must be a finite number (got 'abc')",
        ),
        (
            [continuous(high=math.inf)],
            "learning_rate",
            "MaxValue",
            "learning_rate: MaxValue must be a finite number (got inf)",
        ),
        (
            [continuous(high="nan")],
            "learning_rate",
            "MaxValue",
            "learning_rate: MaxValue must be a finite number (got 'nan')",
        ),
        (
            [continuous(low=True)],
            "learning_rate",
            "MinValue",
            "learning_rate: MinValue must be a finite number (got True)",
        ),
        (
            [continuous(low=None)],
            "learning_rate",
            "MinValue",
            "learning_rate: MinValue must be a finite number (got None)",
        ),
        (
            [integer(low=3.5)],
            "epochs",
            "MinValue",
            "epochs: MinValue must be a whole number for an Integer range (got 3.5)",
        ),
        (
            [integer(high="10.5")],
            "epochs",
            "MaxValue",
            "epochs: MaxValue must be a whole number for an Integer range (got '10.5')",
        ),
        (
            [continuous(scaling="Log")],
            "learning_rate",
            "ScalingType",
            "learning_rate: ScalingType must be one of Auto, Linear, Logarithmic, ReverseLogarithmic (got 'Log')",
        ),
        (
            [continuous(low=0.0, scaling="Logarithmic")],
            "learning_rate",
            "MinValue",
            "learning_rate: Logarithmic scaling needs MinValue > 0 (got 0.0)",
        ),
        (
            [integer(low=0, scaling="Logarithmic")],
            "epochs",
            "MinValue",
            "epochs: Logarithmic scaling needs MinValue > 0 (got 0)",
        ),
        (
            [continuous(low=-0.1, high=0.9, scaling="ReverseLogarithmic")],
            "learning_rate",
            "MinValue",
            "learning_rate: ReverseLogarithmic scaling needs MinValue >= 0 (got -0.1)",
        ),
        (
            [continuous(low=0.5, high=1.0, scaling="ReverseLogarithmic")],
            "learning_rate",
            "MaxValue",
            "learning_rate: ReverseLogarithmic scaling needs MaxValue < 1 (got 1.0)",
        ),
        (
            [integer(low=0, high=1, scaling="ReverseLogarithmic")],
            "epochs",
            "ScalingType",
            "epochs: ReverseLogarithmic scaling is only for Continuous ranges",
        ),
        (
            [categorical(values=[])],
            "optimizer",
            "Values",
            "optimizer: Values must have between 1 and 30 items (got 0)",
        ),
        (
            [categorical(values=[f"v{i}" for i in range(31)])],
            "optimizer",
            "Values",
            "optimizer: Values must have between 1 and 30 items (got 31)",
        ),
        (
            [categorical(values=["sgd", "adam", "sgd"])],
            "optimizer",
            "Values",
            "optimizer: Values must not repeat ('sgd' appears more than once)",
        ),
        (
            [categorical(values=["sgd", ""])],
            "optimizer",
            "Values",
            "optimizer: each of Values must be a non-empty string (got '')",
        ),
        (
            [categorical(values=["sgd", 1])],
            "optimizer",
            "Values",
            "optimizer: each of Values must be a non-empty string (got 1)",
        ),
        (
            [categorical(values=["x" * 257])],
            "optimizer",
            "Values",
            "optimizer: each of Values must be at most 256 characters",
        ),
        (
            [{"name": "optimizer", "type": "Categorical", "values": "sgd"}],
            "optimizer",
            "Values",
            "optimizer: Values must be a list of strings (got 'sgd')",
        ),
        ([], None, None, "a search space needs at least one parameter range"),
        (
            [continuous(name=f"c{i}") for i in range(11)]
            + [integer(name=f"i{i}") for i in range(10)]
            + [categorical(name=f"k{i}") for i in range(10)],
            None,
            None,
            "a search space has at most 30 parameter ranges (got 31)",
        ),
    ],
)
def test_invalid_space_names_parameter_and_attribute(items, parameter, attribute, message):
    with pytest.raises(SearchSpaceError) as excinfo:
        SearchSpace.from_dicts(items)

    assert str(excinfo.value) == message
    assert excinfo.value.parameter == parameter
    assert excinfo.value.attribute == attribute


@pytest.mark.parametrize(
    ("items", "parameter", "attribute", "message"),
    [
        (
            {"name": "learning_rate"},
            None,
            None,
            "parameter ranges must be a list (got dict)",
        ),
        (["learning_rate"], None, None, "each parameter range must be an object (got 'learning_rate')"),
        (
            [{"name": "x", "type": "Float", "min_value": 0, "max_value": 1}],
            "x",
            None,
            "x: type must be one of Continuous, Integer, Categorical (got 'Float')",
        ),
        (
            [{"name": "x", "type": "Integer", "max_value": 1}],
            "x",
            "MinValue",
            "x: MinValue is required",
        ),
        (
            [{"name": "x", "type": "Categorical"}],
            "x",
            "Values",
            "x: Values is required",
        ),
        (
            [{**categorical(name="x"), "scaling_type": "Linear"}],
            "x",
            None,
            "x: unexpected keys for a Categorical range: ['scaling_type']",
        ),
        (
            [{**integer(name="x"), "step": 2}],
            "x",
            None,
            "x: unexpected keys for a Integer range: ['step']",
        ),
    ],
)
def test_from_dicts_rejects_malformed_items(items, parameter, attribute, message):
    with pytest.raises(SearchSpaceError) as excinfo:
        SearchSpace.from_dicts(items)

    assert str(excinfo.value) == message
    assert (excinfo.value.parameter, excinfo.value.attribute) == (parameter, attribute)


def test_search_space_error_is_a_value_error():
    assert issubclass(SearchSpaceError, ValueError)


def test_constructor_validates_dataclass_ranges_too():
    with pytest.raises(SearchSpaceError, match="MinValue must be less than MaxValue"):
        SearchSpace([ContinuousParameterRange("momentum", 0.9, 0.5)])


def test_bounds_are_normalised():
    space = SearchSpace.from_dicts(
        [
            integer(name="depth", low=3.0, high="12"),
            continuous(name="dropout", low=0, high="0.5"),
            {"name": "momentum", "type": "Continuous", "min_value": 0.5, "max_value": 0.99},
        ]
    )

    depth, dropout, momentum = space.ranges
    assert (depth.min_value, depth.max_value) == (3, 12)
    assert type(depth.min_value) is int and type(depth.max_value) is int
    assert (dropout.min_value, dropout.max_value) == (0.0, 0.5)
    assert type(dropout.min_value) is float
    assert momentum.scaling_type is ScalingType.AUTO


def test_names_with_punctuation_and_256_characters_are_accepted():
    space = SearchSpace.from_dicts([continuous(name="opt:lr_0.1-x"), continuous(name="y" * 256)])

    assert space.names == ("opt:lr_0.1-x", "y" * 256)


def test_thirty_ranges_are_accepted():
    space = SearchSpace.from_dicts([integer(name=f"i{i}") for i in range(30)])

    assert len(space.ranges) == 30


# --- stored form ------------------------------------------------------------------


def test_to_dicts_round_trips_stored_form_exactly():
    space = SearchSpace.from_dicts(STORED)

    assert space.to_dicts() == STORED
    assert json.loads(json.dumps(space.to_dicts())) == STORED
    assert SearchSpace.from_dicts(space.to_dicts()) == space


def test_to_dicts_writes_defaults_and_python_types():
    space = SearchSpace(
        [
            ContinuousParameterRange("alpha", 0, 2),
            IntegerParameterRange("depth", 1.0, 8.0),
            CategoricalParameterRange("booster", ("gbtree", "dart")),
        ]
    )

    assert space.to_dicts() == [
        {"name": "alpha", "type": "Continuous", "min_value": 0.0, "max_value": 2.0, "scaling_type": "Auto"},
        {"name": "depth", "type": "Integer", "min_value": 1, "max_value": 8, "scaling_type": "Auto"},
        {"name": "booster", "type": "Categorical", "values": ["gbtree", "dart"]},
    ]
    assert type(space.to_dicts()[1]["min_value"]) is int


def test_names_and_dimension():
    space = SearchSpace.from_dicts(STORED)

    assert space.names == ("learning_rate", "mini_batch_size", "optimizer")
    assert space.dimension == 1 + 1 + 3


# --- scaling ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (1e-4, 1e-2, ScalingType.LOGARITHMIC),
        (1.0, 100.0, ScalingType.LOGARITHMIC),
        (1.0, 99.0, ScalingType.LINEAR),
        (0.0, 100.0, ScalingType.LINEAR),
        (-1.0, 100.0, ScalingType.LINEAR),
        (0.5, 0.999, ScalingType.LINEAR),
    ],
)
def test_auto_scaling_is_logarithmic_over_two_orders_of_magnitude(low, high, expected):
    assert effective_scaling(ContinuousParameterRange("x", low, high)) is expected


def test_auto_scaling_applies_to_integers_and_explicit_scaling_wins():
    assert effective_scaling(IntegerParameterRange("trees", 1, 1000)) is ScalingType.LOGARITHMIC
    assert effective_scaling(IntegerParameterRange("depth", 1, 10)) is ScalingType.LINEAR
    linear = ContinuousParameterRange("x", 1e-4, 1.0, ScalingType.LINEAR)
    assert effective_scaling(linear) is ScalingType.LINEAR


def test_auto_scaling_drives_sampling():
    space = SearchSpace.from_dicts([continuous(name="alpha", low=1e-4, high=1.0, scaling="Auto")])
    rng = np.random.default_rng(0)

    draws = np.array([space.sample(rng)["alpha"] for _ in range(4000)])

    assert abs(np.mean(draws < 1e-2) - 0.5) < 0.03


# --- encode / decode --------------------------------------------------------------


@pytest.mark.parametrize(
    ("low", "high", "scaling", "values"),
    [
        (-3.0, 7.0, "Linear", [-3.0, 0.123, 6.999, 7.0]),
        (1e-6, 10.0, "Logarithmic", [1e-6, 3.3e-4, 0.5, 10.0]),
        (1e-6, 10.0, "Auto", [1e-6, 2.2e-5, 10.0]),
        (0.5, 0.999999, "ReverseLogarithmic", [0.5, 0.9, 0.99, 0.9999987, 0.999999]),
        (0.0, 0.9, "ReverseLogarithmic", [0.0, 0.45, 0.9]),
    ],
)
def test_continuous_encode_decode_round_trip(low, high, scaling, values):
    space = one_range(ContinuousParameterRange("x", low, high, ScalingType(scaling)))

    encoded = [space.encode({"x": value})[0] for value in values]

    assert encoded[0] == pytest.approx(0.0, abs=1e-12)
    assert encoded[-1] == pytest.approx(1.0, abs=1e-12)
    assert encoded == sorted(encoded)
    for value, u in zip(values, encoded, strict=True):
        assert space.decode(np.array([u]))["x"] == pytest.approx(value, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(
    ("low", "high", "scaling", "value", "u"),
    [
        (0.0, 10.0, ScalingType.LINEAR, 2.5, 0.25),
        (1e-4, 1.0, ScalingType.LOGARITHMIC, 1e-3, 0.25),
        (1e-4, 1.0, ScalingType.LOGARITHMIC, 1e-2, 0.5),
        # Equal steps in log(1 - x): 0.1, 0.01, 0.001, 0.0001 away from 1.
        (0.9, 0.9999, ScalingType.REVERSE_LOGARITHMIC, 0.99, 1 / 3),
        (0.9, 0.9999, ScalingType.REVERSE_LOGARITHMIC, 0.999, 2 / 3),
    ],
)
def test_encode_applies_scaling(low, high, scaling, value, u):
    space = one_range(ContinuousParameterRange("x", low, high, scaling))

    assert space.encode({"x": value})[0] == pytest.approx(u, abs=1e-12)


def test_reverse_logarithmic_gives_resolution_close_to_one():
    space = one_range(ContinuousParameterRange("momentum", 0.0, 0.99999, ScalingType.REVERSE_LOGARITHMIC))

    upper_half = space.decode(np.array([0.5]))["momentum"]
    top_tenth = space.decode(np.array([0.9]))["momentum"]

    assert upper_half > 0.99
    assert top_tenth > 0.9999


def test_integer_encodes_centre_of_its_share():
    space = one_range(IntegerParameterRange("k", 1, 5, ScalingType.LINEAR))

    assert [space.encode({"k": k})[0] for k in range(1, 6)] == pytest.approx([0.1, 0.3, 0.5, 0.7, 0.9])
    assert space.decode(np.array([0.0]))["k"] == 1
    assert space.decode(np.array([1.0]))["k"] == 5
    assert space.decode(np.array([0.39]))["k"] == 2


def test_integers_get_equal_shares_under_linear_scaling():
    space = one_range(IntegerParameterRange("k", 1, 5, ScalingType.LINEAR))
    rng = np.random.default_rng(1)

    draws = [space.sample(rng)["k"] for _ in range(20_000)]

    counts = np.bincount(draws, minlength=6)[1:]
    assert counts.sum() == 20_000
    assert np.all(np.abs(counts - 4_000) < 250), counts


@pytest.mark.parametrize("scaling", [ScalingType.LINEAR, ScalingType.LOGARITHMIC])
def test_integer_round_trip_covers_every_value(scaling):
    space = one_range(IntegerParameterRange("k", 1, 1000, scaling))

    decoded = [space.decode(space.encode({"k": k}))["k"] for k in range(1, 1001)]

    assert decoded == list(range(1, 1001))
    assert all(type(k) is int for k in decoded)


def test_integer_logarithmic_shares_shrink_as_values_grow():
    space = one_range(IntegerParameterRange("k", 1, 100, ScalingType.LOGARITHMIC))
    grid = np.linspace(0.0, 1.0, 100_001)

    counts = np.bincount([space.decode(np.array([u]))["k"] for u in grid[::10]], minlength=101)[1:]

    assert counts[0] > counts[1] > counts[9] > counts[99] > 0


def test_categorical_is_one_hot_and_decodes_by_argmax():
    space = SearchSpace.from_dicts([categorical(values=["sgd", "adam", "nag"])])

    assert space.encode({"optimizer": "adam"}).tolist() == [0.0, 1.0, 0.0]
    assert space.decode(np.array([0.2, 0.1, 0.7]))["optimizer"] == "nag"
    assert space.decode(np.array([0.4, 0.4, 0.2]))["optimizer"] == "sgd"


def test_mixed_space_round_trip_and_layout():
    space = SearchSpace.from_dicts(STORED)
    values = {"learning_rate": 0.003, "mini_batch_size": 32, "optimizer": "nag"}

    x = space.encode(values)

    assert x.shape == (5,)
    assert x[2:].tolist() == [0.0, 0.0, 1.0]
    assert np.all((0.0 <= x) & (x <= 1.0))
    decoded = space.decode(x)
    assert decoded["learning_rate"] == pytest.approx(0.003, rel=1e-9)
    assert decoded["mini_batch_size"] == 32
    assert decoded["optimizer"] == "nag"


def test_encode_accepts_string_forms_and_ignores_other_keys():
    space = SearchSpace.from_dicts(STORED)
    typed = {"learning_rate": 0.003, "mini_batch_size": 32, "optimizer": "nag"}
    strings = {"learning_rate": "0.003", "mini_batch_size": "32", "optimizer": "nag", "epochs": "10"}

    np.testing.assert_array_equal(space.encode(strings), space.encode(typed))


def test_decode_clips_points_outside_the_cube():
    space = SearchSpace.from_dicts([continuous(low=0.1, high=1.0), integer(low=1, high=10)])

    assert space.decode(np.array([-0.5, 1.7])) == {"learning_rate": 0.1, "epochs": 10}


def test_decode_rejects_wrong_length():
    space = SearchSpace.from_dicts(STORED)

    with pytest.raises(ValueError, match="expected a vector of length 5"):
        space.decode(np.zeros(3))


# --- sampling ---------------------------------------------------------------------


def test_sample_is_valid_typed_and_reproducible():
    space = SearchSpace.from_dicts(STORED)

    first = [space.sample(np.random.default_rng(7)) for _ in range(3)]
    rng = np.random.default_rng(7)
    draws = [space.sample(rng) for _ in range(200)]

    assert first[0] == first[1] == first[2] == draws[0]
    for draw in draws:
        assert space.parse(draw) == draw
        assert type(draw["learning_rate"]) is float
        assert type(draw["mini_batch_size"]) is int
        assert type(draw["optimizer"]) is str
    assert {draw["optimizer"] for draw in draws} == {"sgd", "adam", "nag"}


# --- parse and format_value -------------------------------------------------------


def test_parse_converts_tuned_values_and_ignores_the_rest():
    space = SearchSpace.from_dicts(STORED)

    parsed = space.parse({"learning_rate": "1e-05", "mini_batch_size": "64.0", "optimizer": "adam", "epochs": "10"})

    assert parsed == {"learning_rate": 1e-5, "mini_batch_size": 64, "optimizer": "adam"}
    assert type(parsed["mini_batch_size"]) is int


@pytest.mark.parametrize(
    ("overrides", "parameter", "message"),
    [
        ({"learning_rate": "abc"}, "learning_rate", "learning_rate: 'abc' is not a finite number"),
        ({"learning_rate": "inf"}, "learning_rate", "learning_rate: 'inf' is not a finite number"),
        ({"learning_rate": "2.0"}, "learning_rate", "learning_rate: '2.0' is outside [1e-05, 1.0]"),
        ({"mini_batch_size": "16.5"}, "mini_batch_size", "mini_batch_size: '16.5' is not a whole number"),
        ({"mini_batch_size": True}, "mini_batch_size", "mini_batch_size: True is not a finite number"),
        ({"mini_batch_size": 65}, "mini_batch_size", "mini_batch_size: 65 is outside [16, 64]"),
        ({"optimizer": "rmsprop"}, "optimizer", "optimizer: 'rmsprop' is not one of ['sgd', 'adam', 'nag']"),
        ({"optimizer": None}, "optimizer", "optimizer: no value given"),
    ],
)
def test_parse_rejects_bad_or_missing_values(overrides, parameter, message):
    space = SearchSpace.from_dicts(STORED)
    values = {"learning_rate": "0.1", "mini_batch_size": "32", "optimizer": "sgd"}
    values.update(overrides)
    values = {name: value for name, value in values.items() if value is not None}

    with pytest.raises(SearchSpaceError) as excinfo:
        space.parse(values)

    assert str(excinfo.value) == message
    assert excinfo.value.parameter == parameter


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (32, "32"),
        (np.int64(32), "32"),
        (0.1, "0.1"),
        (1e-05, "1e-05"),
        (3.0, "3.0"),
        (np.float64(0.1), "0.1"),
        (0.30000000000000004, "0.30000000000000004"),
        ("adam", "adam"),
    ],
)
def test_format_value(value, text):
    assert format_value(value) == text


@pytest.mark.parametrize("value", [True, None, [1]])
def test_format_value_rejects_non_hyperparameter_values(value):
    with pytest.raises(TypeError):
        format_value(value)


def test_parse_inverts_format_value_exactly():
    space = SearchSpace.from_dicts(
        [*STORED, continuous(name="momentum", low=0.0, high=0.9999, scaling="ReverseLogarithmic")]
    )
    rng = np.random.default_rng(3)

    for _ in range(500):
        draw = space.sample(rng)
        assert space.parse({name: format_value(value) for name, value in draw.items()}) == draw
