"""Search strategies, by the name SageMaker gives them (``HyperParameterTuningJobConfig.Strategy``)."""

from __future__ import annotations

from jobs.tuning.space import SearchSpace
from jobs.tuning.strategies.base import Direction, Observation, Strategy
from jobs.tuning.strategies.bayesian import BayesianSearch
from jobs.tuning.strategies.grid_search import GridSearch
from jobs.tuning.strategies.hyperband_search import HyperbandSearch
from jobs.tuning.strategies.random_search import RandomSearch

__all__ = [
    "STRATEGIES",
    "BayesianSearch",
    "Direction",
    "GridSearch",
    "HyperbandSearch",
    "Observation",
    "RandomSearch",
    "Strategy",
    "make_strategy",
    "validate_strategy",
]

STRATEGIES: dict[str, type[Strategy]] = {
    cls.name: cls for cls in (BayesianSearch, RandomSearch, GridSearch, HyperbandSearch)
}


def make_strategy(name: str, space: SearchSpace, direction: Direction, seed: int) -> Strategy:
    """The strategy called ``name``, ready to search ``space``."""
    return _strategy_class(name)(space, direction, seed)


def validate_strategy(name: str, space: SearchSpace) -> None:
    """Raise :class:`~jobs.tuning.space.SearchSpaceError` if strategy ``name`` cannot search ``space``."""
    _strategy_class(name).validate_space(space)


def _strategy_class(name: str) -> type[Strategy]:
    try:
        return STRATEGIES[name]
    except KeyError:
        known = ", ".join(sorted(STRATEGIES))
        raise ValueError(f"unknown strategy {name!r}; known strategies: {known}") from None
