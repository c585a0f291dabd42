"""Asynchronous Hyperband: brackets, rungs and the top-1/eta rule."""

import math

import pytest

from jobs.tuning.hyperband import Hyperband, infer_max_resource
from jobs.tuning.strategies.base import Direction

MAX, MIN = Direction.MAXIMIZE, Direction.MINIMIZE


def test_brackets_and_rungs_follow_min_and_max_resource():
    hyperband = Hyperband(min_resource=1, max_resource=27)
    assert hyperband.bracket_count == 4
    assert [hyperband.rungs(b) for b in range(4)] == [[1, 3, 9], [3, 9], [9], []]
    assert [hyperband.bracket_of(sequence) for sequence in range(1, 7)] == [0, 1, 2, 3, 0, 1]
    assert Hyperband(min_resource=2, max_resource=10).rungs(0) == [2, 6]


@pytest.mark.parametrize(("minimum", "maximum"), [(0, 10), (5, 4)])
def test_invalid_resources(minimum, maximum):
    with pytest.raises(ValueError):
        Hyperband(min_resource=minimum, max_resource=maximum)


def test_max_resource_is_inferred_from_static_epochs_like_sagemaker():
    assert infer_max_resource({"epochs": "30"}) == 30
    assert infer_max_resource({"num_epochs": "12", "lr": "0.1"}) == 12
    assert infer_max_resource({"lr": "0.1"}) is None
    assert infer_max_resource({"epochs": "many"}) is None
    assert infer_max_resource({"epochs": "0"}) is None


def test_not_judged_between_rungs_or_below_min_resource():
    hyperband = Hyperband(min_resource=3, max_resource=27)
    peers = [[0.9] * 27] * 5
    assert not hyperband.should_stop([0.1, 0.1], peers, 0, MAX)  # below MinResource
    assert not hyperband.should_stop([0.1] * 4, peers, 0, MAX)  # between rungs 3 and 9


def test_only_the_top_third_survives_a_rung():
    hyperband = Hyperband(min_resource=1, max_resource=27)
    peers = [[0.9], [0.8], [0.7], [0.6], [0.5]]
    assert not hyperband.should_stop([0.95], peers, 0, MAX)
    assert not hyperband.should_stop([0.85], peers, 0, MAX)  # 6 results: top 2 continue
    assert hyperband.should_stop([0.75], peers, 0, MAX)
    assert hyperband.should_stop([0.75], [[0.7], [0.8], [0.9], [0.6], [0.5]], 0, MAX)
    assert not hyperband.should_stop([0.55], peers, 0, MIN)
    assert hyperband.should_stop([0.65], peers, 0, MIN)


def test_too_few_results_at_a_rung_let_the_job_continue():
    hyperband = Hyperband(min_resource=1, max_resource=27)
    assert not hyperband.should_stop([0.1], [[0.9]], 0, MAX)
    assert not hyperband.should_stop([0.1], [], 0, MAX)
    assert not hyperband.should_stop([0.1], [[]], 0, MAX)  # a peer that has not reached the rung


def test_a_job_reaching_max_resource_is_stopped_and_nan_is_stopped_at_a_rung():
    hyperband = Hyperband(min_resource=1, max_resource=9)
    assert hyperband.should_stop([0.9] * 9, [], 0, MAX)
    assert hyperband.should_stop([math.nan], [[0.5], [0.4]], 0, MAX)
