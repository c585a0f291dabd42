"""Grid search: every combination of the ranges' values, each once, in a fixed order."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from jobs.tuning.space import (
    CategoricalParameterRange,
    ContinuousParameterRange,
    IntegerParameterRange,
    SearchSpace,
    SearchSpaceError,
    Value,
)
from jobs.tuning.strategies.base import Direction, Observation, Strategy

MAX_GRID_SIZE = 100_000
"""Largest grid accepted: each :meth:`GridSearch.suggest` walks the grid from its start, and
100,000 combinations already means as many training jobs."""


class GridSearch(Strategy):
    """SageMaker's Grid strategy, extended to Integer ranges.

    SageMaker's Grid accepts Categorical ranges only. We also accept Integer ranges and
    take every integer from ``MinValue`` to ``MaxValue``, which is what listing them as
    categories would give without having to spell them out. Continuous ranges have no
    finite grid and are refused.

    Combinations come from :func:`itertools.product` over the ranges in their order (the
    last range varies fastest). Each call walks that order and skips every combination an
    observation already holds, whatever its status or position: a failed or stopped
    combination counts as tried (retrying a training job is the orchestrator's call, not
    the search order's), and the answer does not depend on the order of the observations.
    """

    name = "Grid"

    def __init__(self, space: SearchSpace, direction: Direction, seed: int):
        super().__init__(space, direction, seed)
        self._axes = [tuple(_axis(param_range)) for param_range in space.ranges]

    @classmethod
    def validate_space(cls, space: SearchSpace) -> None:
        for param_range in space.ranges:
            if isinstance(param_range, ContinuousParameterRange):
                raise SearchSpaceError(
                    f"{param_range.name}: Grid search needs Categorical or Integer ranges; "
                    "a Continuous range has no finite grid",
                    parameter=param_range.name,
                )
        size = math.prod(_axis_length(param_range) for param_range in space.ranges)
        if size > MAX_GRID_SIZE:
            raise SearchSpaceError(
                f"Grid search covers at most {MAX_GRID_SIZE:,} combinations (this search space has {size:,})"
            )

    def max_training_jobs(self) -> int:
        return math.prod(len(axis) for axis in self._axes)

    def suggest(self, observations: Sequence[Observation], n: int) -> list[dict[str, Value]]:
        seen = {self._key(observation.hyperparameters) for observation in observations}
        fresh = (combination for combination in itertools.product(*self._axes) if combination not in seen)
        return [dict(zip(self._space.names, combination, strict=True)) for combination in itertools.islice(fresh, n)]


def _axis(param_range: IntegerParameterRange | CategoricalParameterRange) -> Sequence[Value]:
    if isinstance(param_range, CategoricalParameterRange):
        return param_range.values
    return range(param_range.min_value, param_range.max_value + 1)


def _axis_length(param_range: IntegerParameterRange | CategoricalParameterRange) -> int:
    """Like ``len(_axis(...))``, but safe for integer ranges too wide for ``len(range)``."""
    if isinstance(param_range, CategoricalParameterRange):
        return len(param_range.values)
    return param_range.max_value - param_range.min_value + 1
