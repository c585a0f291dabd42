"""Completion criteria as pure functions of final objective values in end order."""

import math

import pytest

from jobs.tuning import criteria
from jobs.tuning.criteria import CompletionCriteria, evaluate, jobs_not_improving
from jobs.tuning.strategies.base import Direction

MAX, MIN = Direction.MAXIMIZE, Direction.MINIMIZE


@pytest.mark.parametrize(
    ("finals", "direction", "expected"),
    [
        ([], MAX, 0),
        ([0.5], MAX, 0),
        ([0.5, 0.6, 0.7], MAX, 0),  # each improves by more than 1%
        ([0.5, 0.6, 0.603, 0.604], MAX, 2),  # +0.5% and +0.17%: not improving
        ([0.5, 0.4, 0.45, 0.7, 0.69], MAX, 1),
        ([1.0, 0.5, 0.498], MIN, 1),
        ([1.0, math.nan, 0.9], MIN, 0),
        ([1.0, math.nan, math.inf], MIN, 2),  # failed jobs improve nothing
        ([0.0, 0.001], MAX, 0),  # from 0 any strict improvement counts
    ],
)
def test_jobs_not_improving(finals, direction, expected):
    assert jobs_not_improving(finals, direction) == expected


def test_small_gains_accumulate_against_the_updated_best():
    # 0.600 -> 0.605 -> 0.610 -> 0.615: each under 1% of the best before it.
    assert jobs_not_improving([0.6, 0.605, 0.61, 0.615], MAX) == 3


def test_target_reached_when_any_job_reaches_it():
    target = CompletionCriteria(target_objective_value=0.9)
    assert evaluate(target, [0.5, 0.89], MAX).reason is None
    assert evaluate(target, [0.5, 0.9], MAX).reason == criteria.TARGET_REACHED
    assert evaluate(CompletionCriteria(target_objective_value=0.1), [0.2, 0.1], MIN).reason == criteria.TARGET_REACHED
    assert evaluate(CompletionCriteria(target_objective_value=0.1), [0.2, 0.11], MIN).reason is None
    assert evaluate(target, [math.nan, math.inf], MAX).reason is None


def test_not_improving_needs_at_least_three():
    with pytest.raises(ValueError, match="at least 3"):
        CompletionCriteria(max_jobs_not_improving=2)
    rule = CompletionCriteria(max_jobs_not_improving=3)
    assert evaluate(rule, [0.5, 0.5, 0.5], MAX).reason is None
    state = evaluate(rule, [0.5, 0.5, 0.5, 0.5], MAX)
    assert (state.reason, state.jobs_not_improving) == (criteria.NOT_IMPROVING, 3)


def test_convergence_compares_the_first_half_with_all():
    flat = [0.5, 0.9, 0.7, 0.8, 0.6, 0.9, 0.85, 0.8, 0.9, 0.9]
    assert criteria.converged(flat, MAX)
    assert not criteria.converged(flat[:9], MAX)  # fewer than 10 jobs: no verdict
    improving = [0.5, 0.6, 0.7, 0.8, 0.6, 0.9, 0.85, 0.8, 0.9, 0.95]
    assert not criteria.converged(improving, MAX)
    assert evaluate(CompletionCriteria(complete_on_convergence=True), flat, MAX).reason == criteria.CONVERGED
    state = evaluate(CompletionCriteria(), flat, MAX)
    assert state.converged and state.reason is None  # detected and reported, but not acted on
