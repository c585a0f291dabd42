"""Hyperband with SageMaker's semantics, run asynchronously.

SageMaker's Hyperband strategy takes MinResource and MaxResource (epochs)
and stops training jobs at rungs so that survivors get the budget. Tuneboard
runs it the asynchronous way (ASHA, Li et al. 2020): there is no waiting for
a rung to fill, because parallel slots would sit idle. Training jobs are dealt
round-robin into brackets; bracket s has rungs at MinResource·η^(s+k) below
MaxResource. When a job reports its objective at a rung, it continues only
if it is in the top 1/η of the values reported at that rung by jobs of its
bracket so far; a job that reaches MaxResource is stopped, as SageMaker does,
whatever its program's own epoch count.

Jobs are proposed at random (strategies.hyperband_search); this module only
decides who continues.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

from jobs.tuning.strategies.base import Direction

REDUCTION_FACTOR = 3
# The static hyperparameters SageMaker reads MaxResource from when it is not given.
MAX_RESOURCE_KEYS = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")


def infer_max_resource(static_hyperparameters: dict[str, str]) -> int | None:
    """MaxResource from the static hyperparameters, as SageMaker infers it; None if it cannot."""
    for key in MAX_RESOURCE_KEYS:
        raw = static_hyperparameters.get(key)
        if raw is None:
            continue
        try:
            value = int(str(raw))
        except ValueError:
            return None
        return value if value >= 1 else None
    return None


@dataclass(frozen=True)
class Hyperband:
    min_resource: int
    max_resource: int
    reduction_factor: int = REDUCTION_FACTOR

    def __post_init__(self):
        if self.min_resource < 1:
            raise ValueError("MinResource must be at least 1")
        if self.max_resource < self.min_resource:
            raise ValueError("MaxResource must be at least MinResource")
        if self.reduction_factor < 2:
            raise ValueError("the reduction factor must be at least 2")

    @property
    def bracket_count(self) -> int:
        """s_max + 1, where s_max is the largest s with MinResource·η^s <= MaxResource."""
        ratio = self.max_resource / self.min_resource
        return int(math.floor(math.log(ratio, self.reduction_factor) + 1e-9)) + 1

    def bracket_of(self, sequence: int) -> int:
        """The bracket of the tuning job's `sequence`-th training job (1-based), round-robin."""
        return (sequence - 1) % self.bracket_count

    def rungs(self, bracket: int) -> list[int]:
        """The epochs at which a job of `bracket` is judged (MaxResource itself ends it instead)."""
        rungs = []
        resource = self.min_resource * self.reduction_factor**bracket
        while resource < self.max_resource:
            rungs.append(resource)
            resource *= self.reduction_factor
        return rungs

    def should_stop(
        self, current: Sequence[float], bracket_peers: Sequence[Sequence[float]], bracket: int, direction: Direction
    ) -> bool:
        """Whether the job whose objective curve so far is `current` stops after its latest epoch.

        `bracket_peers` are the curves, as far as they got, of the other jobs of
        the same bracket. A job below MinResource is never stopped; one that
        reaches MaxResource always is.
        """
        epoch = len(current)
        if epoch >= self.max_resource:
            return True
        if epoch not in self.rungs(bracket):
            return False
        value = current[-1]
        if not math.isfinite(value):
            return True
        recorded = [curve[epoch - 1] for curve in bracket_peers if len(curve) >= epoch]
        recorded = [v for v in recorded if math.isfinite(v)] + [value]
        if len(recorded) < self.reduction_factor:
            # Too few results at this rung to rank anyone: let it go on, as
            # ASHA promotes when the rung cannot be judged yet.
            return False
        keep = max(1, len(recorded) // self.reduction_factor)
        ranked = sorted(recorded, reverse=direction == Direction.MAXIMIZE)
        cutoff = ranked[keep - 1]
        if direction == Direction.MAXIMIZE:
            return value < cutoff
        return value > cutoff
