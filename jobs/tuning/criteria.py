"""SageMaker's TuningJobCompletionCriteria: when a tuning job may stop before its limits.

Each criterion is a function of the final objective values of the ended
training jobs, in the order they ended; the orchestrator asks after every
training job that ends.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from jobs.tuning.strategies.base import Direction

# "Not improving" means improving the best by less than this fraction of it.
IMPROVEMENT_THRESHOLD = 0.01
MIN_JOBS_NOT_IMPROVING = 3

# Convergence: with at least CONVERGENCE_MIN_JOBS finished, the best found
# by the first half of them is within CONVERGENCE_TOLERANCE of the best of
# all; the second half, as many jobs as the first, bought next to nothing.
CONVERGENCE_MIN_JOBS = 10
CONVERGENCE_TOLERANCE = 0.001

TARGET_REACHED = "TargetObjectiveMetricValueReached"
NOT_IMPROVING = "BestObjectiveNotImproving"
CONVERGED = "ConvergenceDetected"


@dataclass(frozen=True)
class CompletionCriteria:
    target_objective_value: float | None = None
    max_jobs_not_improving: int | None = None
    complete_on_convergence: bool = False

    def __post_init__(self):
        if self.max_jobs_not_improving is not None and self.max_jobs_not_improving < MIN_JOBS_NOT_IMPROVING:
            raise ValueError(f"max_jobs_not_improving must be at least {MIN_JOBS_NOT_IMPROVING}")


@dataclass(frozen=True)
class CompletionState:
    """TuningJobCompletionDetails, and which criterion (if any) is met."""

    jobs_not_improving: int
    converged: bool
    reason: str | None


def _better(a: float, b: float, direction: Direction) -> bool:
    return a > b if direction == Direction.MAXIMIZE else a < b


def _improves(value: float, best: float, direction: Direction) -> bool:
    """Whether `value` beats `best` by at least IMPROVEMENT_THRESHOLD of |best|.

    When best is 0 any strict improvement counts: a relative threshold of
    zero would otherwise make every later value "not improving".
    """
    margin = IMPROVEMENT_THRESHOLD * abs(best)
    if direction == Direction.MAXIMIZE:
        return value > best + margin if margin else value > best
    return value < best - margin if margin else value < best


def jobs_not_improving(finals: Sequence[float], direction: Direction) -> int:
    """How many training jobs have ended since one last improved the best by 1% or more."""
    best = None
    count = 0
    for value in finals:
        if not math.isfinite(value):
            count += 1
            continue
        if best is None or _improves(value, best, direction):
            best = value
            count = 0
        else:
            count += 1
            if _better(value, best, direction):
                best = value
    return count


def converged(finals: Sequence[float], direction: Direction) -> bool:
    """ConvergenceDetected, by the rule documented at CONVERGENCE_MIN_JOBS."""
    values = [v for v in finals if math.isfinite(v)]
    if len(values) < CONVERGENCE_MIN_JOBS:
        return False
    pick = max if direction == Direction.MAXIMIZE else min
    early = pick(values[: math.ceil(len(values) / 2)])
    overall = pick(values)
    return abs(overall - early) <= CONVERGENCE_TOLERANCE * max(abs(overall), 1e-12)


def evaluate(criteria: CompletionCriteria, finals: Sequence[float], direction: Direction) -> CompletionState:
    """The completion state after the training jobs whose final values are `finals` (in end order)."""
    not_improving = jobs_not_improving(finals, direction)
    has_converged = converged(finals, direction)
    reason = None
    finite = [v for v in finals if math.isfinite(v)]
    target = criteria.target_objective_value
    if target is not None and any(not _better(target, v, direction) for v in finite):
        reason = TARGET_REACHED
    elif criteria.max_jobs_not_improving is not None and not_improving >= criteria.max_jobs_not_improving:
        reason = NOT_IMPROVING
    elif criteria.complete_on_convergence and has_converged:
        reason = CONVERGED
    return CompletionState(jobs_not_improving=not_improving, converged=has_converged, reason=reason)
