import pytest

from jobs.tuning.space import (
    CategoricalParameterRange,
    ContinuousParameterRange,
    IntegerParameterRange,
    SearchSpace,
    SearchSpaceError,
)
from jobs.tuning.strategies import (
    STRATEGIES,
    Direction,
    GridSearch,
    Observation,
    RandomSearch,
    make_strategy,
    validate_strategy,
)

SPACE = SearchSpace(
    [
        CategoricalParameterRange("optimizer", ("sgd", "adam")),
        IntegerParameterRange("depth", 1, 3),
    ]
)
ALL = [
    {"optimizer": "sgd", "depth": 1},
    {"optimizer": "sgd", "depth": 2},
    {"optimizer": "sgd", "depth": 3},
    {"optimizer": "adam", "depth": 1},
    {"optimizer": "adam", "depth": 2},
    {"optimizer": "adam", "depth": 3},
]
WITH_CONTINUOUS = SearchSpace(
    [
        CategoricalParameterRange("optimizer", ("sgd", "adam")),
        ContinuousParameterRange("learning_rate", 1e-4, 1e-1),
    ]
)


def observed(*configurations, status="Completed"):
    return [Observation(hyperparameters=c, objective=None, status=status) for c in configurations]


def grid(space=SPACE):
    return GridSearch(space, Direction.MINIMIZE, seed=0)


def test_enumerates_product_in_range_order():
    assert grid().suggest([], 10) == ALL


def test_max_training_jobs_is_the_number_of_combinations():
    assert grid().max_training_jobs() == 6


def test_suggest_continues_after_observed_combinations():
    assert grid().suggest(observed(*ALL[:2]), 2) == ALL[2:4]


def test_returns_fewer_when_exhausted_then_nothing():
    strategy = grid()

    assert strategy.suggest(observed(*ALL[:4]), 5) == ALL[4:]
    assert strategy.suggest(observed(*ALL), 5) == []


def test_skips_observed_combinations_in_any_order_status_and_form():
    history = [
        Observation({"optimizer": "adam", "depth": "2"}, None, "InProgress"),
        Observation({"optimizer": "sgd", "depth": 1.0, "epochs": "10"}, 0.3, "Failed"),
        Observation({"optimizer": "sgd", "depth": 3}, 0.1, "Stopped"),
    ]

    assert grid().suggest(history, 10) == [ALL[1], ALL[3], ALL[5]]
    assert grid().suggest(list(reversed(history)), 10) == [ALL[1], ALL[3], ALL[5]]


def test_rejects_continuous_ranges():
    with pytest.raises(SearchSpaceError) as excinfo:
        grid(WITH_CONTINUOUS)

    assert excinfo.value.parameter == "learning_rate"
    assert excinfo.value.attribute is None
    assert str(excinfo.value) == (
        "learning_rate: Grid search needs Categorical or Integer ranges; a Continuous range has no finite grid"
    )


def test_refuses_more_than_100000_combinations():
    too_big = SearchSpace([IntegerParameterRange(f"i{n}", 1, 20) for n in range(4)])
    huge = SearchSpace([IntegerParameterRange("seed", 0, 10**30)])

    with pytest.raises(SearchSpaceError, match=r"at most 100,000 combinations \(this search space has 160,000\)"):
        grid(too_big)
    with pytest.raises(SearchSpaceError, match="at most 100,000 combinations"):
        grid(huge)


def test_accepts_exactly_100000_combinations():
    space = SearchSpace([IntegerParameterRange("a", 1, 100), IntegerParameterRange("b", 1, 1000)])

    strategy = grid(space)

    assert strategy.max_training_jobs() == 100_000
    assert strategy.suggest(observed({"a": 1, "b": 1}), 2) == [{"a": 1, "b": 2}, {"a": 1, "b": 3}]


def test_registry_names_are_sagemakers():
    assert set(STRATEGIES) <= {"Bayesian", "Random", "Grid", "Hyperband"}
    assert (STRATEGIES["Random"], STRATEGIES["Grid"]) == (RandomSearch, GridSearch)
    assert isinstance(make_strategy("Grid", SPACE, Direction.MAXIMIZE, 1), GridSearch)
    assert make_strategy("Random", SPACE, "Minimize", 1).max_training_jobs() is None


def test_make_strategy_rejects_unknown_name():
    known = ", ".join(sorted(STRATEGIES))
    with pytest.raises(ValueError, match=f"unknown strategy 'Bayes'; known strategies: {known}$"):
        make_strategy("Bayes", SPACE, Direction.MAXIMIZE, 1)


def test_validate_strategy():
    validate_strategy("Random", WITH_CONTINUOUS)
    validate_strategy("Grid", SPACE)
    with pytest.raises(SearchSpaceError, match="Grid search needs Categorical or Integer"):
        validate_strategy("Grid", WITH_CONTINUOUS)
    with pytest.raises(ValueError, match="known strategies"):
        validate_strategy("Hyperband?", SPACE)
