"""Random search: independent uniform draws on each range's scale."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from jobs.tuning.space import Value
from jobs.tuning.strategies.base import Observation, Strategy

MAX_DRAWS_PER_CONFIGURATION = 100
"""How often a draw that repeats a known configuration is redrawn before it is accepted."""


class RandomSearch(Strategy):
    """SageMaker's Random strategy.

    The generator is seeded with ``[seed, len(observations)]`` instead of living on the
    instance: the k-th batch is then a function of the seed and of how many training jobs
    exist, so a reconcile that runs twice, or in another worker, proposes the same batch.

    A draw equal to an existing configuration, or to one earlier in the same batch, is
    redrawn, at most :data:`MAX_DRAWS_PER_CONFIGURATION` times. In a small discrete space
    that has run out of fresh configurations the last draw is accepted as a duplicate: a
    repeated training job costs compute, a reconcile that never returns stalls the whole
    tuning job. With a Continuous range in the space a repeat has probability zero and the
    check never redraws.
    """

    name = "Random"

    def suggest(self, observations: Sequence[Observation], n: int) -> list[dict[str, Value]]:
        rng = np.random.default_rng([self._seed, len(observations)])
        seen = {self._key(observation.hyperparameters) for observation in observations}
        suggestions = []
        for _ in range(n):
            for _ in range(MAX_DRAWS_PER_CONFIGURATION):
                configuration = self._space.sample(rng)
                key = self._key(configuration)
                if key not in seen:
                    break
            seen.add(key)
            suggestions.append(configuration)
        return suggestions
