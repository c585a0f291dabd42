"""The interface every search strategy implements."""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from jobs.tuning.space import SearchSpace, Value


class Direction(enum.StrEnum):
    MAXIMIZE = "Maximize"
    MINIMIZE = "Minimize"


@dataclass(frozen=True)
class Observation:
    """One training job as a strategy sees it.

    ``objective`` is the latest (or final) objective value, ``None`` while nothing has been
    reported. ``status`` is the SageMaker training job status: ``"InProgress"``,
    ``"Completed"``, ``"Stopping"``, ``"Stopped"`` or ``"Failed"``.
    """

    hyperparameters: Mapping[str, Value]
    objective: float | None
    status: str


class Strategy(abc.ABC):
    """Proposes hyperparameters for new training jobs.

    A strategy keeps no state between calls: everything it knows comes from the
    ``observations`` passed to :meth:`suggest`. The orchestrator can therefore recreate it
    on every reconcile, in any worker and after a restart, and get the same answer. Anything
    random must be seeded from ``seed`` (a non-negative integer, as numpy requires) and the
    observations, never from a generator kept on the instance.
    """

    name: ClassVar[str]
    """The strategy's SageMaker name (``HyperParameterTuningJobConfig.Strategy``)."""

    def __init__(self, space: SearchSpace, direction: Direction, seed: int):
        self.validate_space(space)
        self._space = space
        self._direction = Direction(direction)
        self._seed = seed

    @classmethod
    def validate_space(cls, space: SearchSpace) -> None:
        """Raise :class:`~jobs.tuning.space.SearchSpaceError` if this strategy cannot search ``space``.

        A class method so that a tuning job can be refused when it is created, before any
        strategy exists. Every space is accepted unless a strategy says otherwise.
        """
        return None

    def max_training_jobs(self) -> int | None:
        """How many training jobs this strategy can ever propose, or ``None`` if unbounded."""
        return None

    @abc.abstractmethod
    def suggest(self, observations: Sequence[Observation], n: int) -> list[dict[str, Value]]:
        """Up to ``n`` new configurations.

        ``observations`` holds every training job created so far, finished or running, in
        creation order. The answer is deterministic for the same ``(seed, observations, n)``
        and may hold fewer than ``n`` configurations when the strategy has run out.
        """

    def _key(self, hyperparameters: Mapping[str, Any]) -> tuple[Value, ...]:
        """A configuration's typed values in range order, for telling configurations apart.

        Parsing first makes ``{"batch": "32"}`` and ``{"batch": 32}`` the same configuration,
        whichever form the caller stored. Values that do not fit the space raise
        :class:`~jobs.tuning.space.SearchSpaceError`: the stored training jobs and the space
        disagree, and no strategy should guess which one is right.
        """
        typed = self._space.parse(hyperparameters)
        return tuple(typed[name] for name in self._space.names)
