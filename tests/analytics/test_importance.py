"""analytics.importance: our observations as an Optuna study, and what its evaluators make of them."""

import numpy as np
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from analytics import importance
from analytics.importance import Observation, hyperparameter_importance
from jobs.tuning.space import SearchSpace

SPACE = SearchSpace.from_dicts(
    [
        {"name": "lr", "type": "Continuous", "min_value": 1e-4, "max_value": 1.0, "scaling_type": "Auto"},
        {"name": "batch", "type": "Integer", "min_value": 16, "max_value": 64, "scaling_type": "Linear"},
        {"name": "optimizer", "type": "Categorical", "values": ["sgd", "adam"]},
    ]
)


def observations(value_of, n=40, seed=0):
    rng = np.random.default_rng(seed)
    return [Observation(params, value_of(params)) for params in (SPACE.sample(rng) for _ in range(n))]


def test_distributions_follow_the_ranges_and_their_scale():
    assert importance.distributions(SPACE) == {
        "lr": FloatDistribution(1e-4, 1.0, log=True),  # Auto over four decades is logarithmic
        "batch": IntDistribution(16, 64, log=False),
        "optimizer": CategoricalDistribution(("sgd", "adam")),
    }


@pytest.mark.parametrize("n", [0, 1])
def test_fewer_than_two_observations_give_a_message_not_an_error(n):
    result = hyperparameter_importance(SPACE, observations(lambda p: p["lr"], n=n), maximize=False)
    assert result.methods == ()
    assert result.message == (
        f"Importance needs at least 2 training jobs with a final objective value; this tuning job has {n}."
    )


def test_non_finite_and_out_of_range_observations_are_left_out():
    good = observations(lambda p: p["lr"], n=1)
    result = hyperparameter_importance(
        SPACE,
        [*good, Observation({**good[0].params, "lr": 5.0}, 1.0), Observation(good[0].params, float("nan"))],
        maximize=False,
    )
    assert result.observations == 1 and result.methods == ()


def test_one_objective_value_for_all_is_a_message():
    result = hyperparameter_importance(SPACE, observations(lambda p: 0.5, n=5), maximize=True)
    assert result.methods == ()
    assert "same final objective value" in result.message


def test_one_configuration_for_all_is_a_message():
    same = observations(lambda p: p["lr"], n=1)[0].params
    result = hyperparameter_importance(SPACE, [Observation(same, value) for value in (1.0, 2.0, 3.0)], maximize=False)
    assert result.methods == ()
    assert result.message == "All 3 training jobs ran with the same hyperparameters: none can explain a difference."


def test_the_hyperparameter_the_objective_depends_on_ranks_first_in_both_methods():
    result = hyperparameter_importance(SPACE, observations(lambda p: np.log10(p["lr"]) ** 2), maximize=False)
    assert [method.method for method in result.methods] == ["fANOVA", "PED-ANOVA"]
    for method in result.methods:
        assert next(iter(method.importances)) == "lr", method
        assert sum(method.importances.values()) == pytest.approx(1.0)
        assert method.notes == ()


def test_ped_anova_looks_at_the_best_jobs_of_the_objective_s_direction():
    # The lowest values are all "adam" (lr irrelevant); the highest are "sgd" with the largest lr.
    def value(p):
        return -10.0 if p["optimizer"] == "adam" else float(np.log10(p["lr"]))

    data = observations(value, n=80)
    ped_anova = {
        maximize: hyperparameter_importance(SPACE, data, maximize=maximize).methods[1].importances
        for maximize in (False, True)
    }
    assert next(iter(ped_anova[False])) == "optimizer"
    assert next(iter(ped_anova[True])) == "lr"


def test_many_observations_are_sampled_and_the_sample_is_noted(monkeypatch):
    monkeypatch.setattr(importance, "MAX_OBSERVATIONS", 20)
    data = observations(lambda p: p["lr"], n=30)
    first = hyperparameter_importance(SPACE, data, maximize=False)
    assert first.observations == 30
    assert all(method.notes == ("Computed on a random 20 of the 30 training jobs.",) for method in first.methods)
    # Seeded: a page and the API answer the same.
    assert hyperparameter_importance(SPACE, data, maximize=False) == first
