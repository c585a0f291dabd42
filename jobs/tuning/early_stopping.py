"""Early stopping rules: should a running training job stop now?

A rule sees the running job's objective values epoch by epoch and the curves
of the tuning job's previous training jobs, and answers yes or no. It holds
no state between calls, so any worker can evaluate it at any time from what
the database holds.
"""

import abc
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from jobs.tuning.strategies.base import Direction

Curve = Sequence[float]
"""Objective values of one training job; index 0 is epoch 1."""


class EarlyStoppingRule(abc.ABC):
    name: ClassVar[str]

    @abc.abstractmethod
    def should_stop(self, current: Curve, previous: Sequence[Curve], direction: Direction) -> bool:
        """Whether the job whose curve so far is `current` should stop after its latest epoch.

        `previous` holds the curves of the training jobs that started before
        it, each as far as it got (finished, stopped or still running).
        """


@dataclass(frozen=True)
class MedianStoppingRule(EarlyStoppingRule):
    """SageMaker's documented rule for early stopping type "Auto".

    After epoch t of the current job, take the running average of every
    previous job's objective over epochs 1..t, and the median of those
    averages; stop the current job if its value at epoch t is worse than
    that median (lower when maximizing, higher when minimizing).

    Guards, which SageMaker does not document:

    - `min_previous_jobs` (3): the median of one or two curves is one
      unlucky job's opinion; with three it is at least a middle value.
      Only previous jobs that reached epoch t count.
    - `grace_epochs` (1): no decision during the first epoch(s). Epoch-1
      values mostly reflect initialisation, and a job stopped there has cost
      almost nothing anyway.

    A non-finite current value (a diverged loss) is worse than any median and
    stops the job once past the grace epochs; previous curves with a
    non-finite value up to epoch t are left out of the median.
    """

    name: ClassVar[str] = "sagemaker_median"
    min_previous_jobs: int = 3
    grace_epochs: int = 1

    def __post_init__(self):
        if self.min_previous_jobs < 1:
            raise ValueError("min_previous_jobs must be at least 1")
        if self.grace_epochs < 0:
            raise ValueError("grace_epochs must not be negative")

    def should_stop(self, current: Curve, previous: Sequence[Curve], direction: Direction) -> bool:
        epoch = len(current)
        if epoch <= self.grace_epochs:
            return False
        averages = [
            float(np.mean(curve[:epoch]))
            for curve in previous
            if len(curve) >= epoch and all(math.isfinite(v) for v in curve[:epoch])
        ]
        if len(averages) < self.min_previous_jobs:
            return False
        value = current[-1]
        if not math.isfinite(value):
            return True
        median = float(np.median(averages))
        if direction == Direction.MAXIMIZE:
            return value < median
        return value > median


RULES: dict[str, type[EarlyStoppingRule]] = {MedianStoppingRule.name: MedianStoppingRule}

DEFAULT_RULE = MedianStoppingRule
