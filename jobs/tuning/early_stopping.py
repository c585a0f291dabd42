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


def running_averages(previous: Sequence[Curve], epoch: int) -> list[float]:
    """Each previous curve's mean over epochs 1..epoch, for the curves that got that far.

    Curves with a non-finite value in that span are left out: a diverged job
    says nothing about how good a healthy one should be by now.
    """
    return [
        float(np.mean(curve[:epoch]))
        for curve in previous
        if len(curve) >= epoch and all(math.isfinite(v) for v in curve[:epoch])
    ]


class RunningAverageRule(EarlyStoppingRule):
    """A rule that compares the current job with the previous jobs' running averages only.

    That is all such a rule needs of the previous curves, so a caller holding
    many of them (the ingest path, in SQL) may compute the averages itself and
    call `should_stop_given_averages`.
    """

    def should_stop(self, current: Curve, previous: Sequence[Curve], direction: Direction) -> bool:
        averages = running_averages(previous, len(current)) if current else []
        return self.should_stop_given_averages(current, averages, direction)

    @abc.abstractmethod
    def should_stop_given_averages(self, current: Curve, averages: Sequence[float], direction: Direction) -> bool:
        """`should_stop`, given `running_averages(previous, len(current))`."""


@dataclass(frozen=True)
class MedianStoppingRule(RunningAverageRule):
    """SageMaker's documented rule for its early stopping type "Auto".

    Kept under its own name as the baseline; our "Auto" is `DEFAULT_RULE`.

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

    def should_stop_given_averages(self, current: Curve, averages: Sequence[float], direction: Direction) -> bool:
        epoch = len(current)
        if epoch <= self.grace_epochs:
            return False
        if len(averages) < self.min_previous_jobs:
            return False
        value = current[-1]
        if not math.isfinite(value):
            return True
        median = float(np.median(averages))
        if direction == Direction.MAXIMIZE:
            return value < median
        return value > median


@dataclass(frozen=True)
class BestSoFarRankRule(RunningAverageRule):
    """Early stopping type "Auto": stop a job whose best so far is not in the top third.

    After epoch t of the current job, take the running average of every
    previous job's objective over epochs 1..t, as SageMaker's rule does; stop
    the current job if its *best* value over epochs 1..t is not among the best
    `keep_fraction` of those averages, i.e. is worse than their
    (1 - keep_fraction) quantile when maximizing (the keep_fraction quantile
    when minimizing), linearly interpolated as numpy does.

    Why each part (measured in docs/benchmarks.md, "Early stopping"):

    - The job's best so far, not its latest value: one noisy epoch (a dip of a
      high-learning-rate SGD job) must not end the job that would have been
      the best. SageMaker's rule stops on such a dip.
    - Running averages of the previous jobs, not their values: an average lags
      a rising curve by about half of what the curve gained so far, which
      leaves room for a late starter that is still climbing.
    - The top third, not the median: the two choices above make the median
      too lenient; keeping only a third saves more time at no loss of the
      best objective on both recorded workloads. With keep_fraction=0.5 this is
      the median stopping rule of Google Vizier (Golovin et al., 2017).

    Guards, the same as SageMaker's rule and for the same reasons:
    `min_previous_jobs` (3) previous jobs must have reached epoch t, and no
    decision is made during the first `grace_epochs` (1) epoch(s).

    A job that has reported nothing is never stopped. A non-finite latest
    value (a diverged loss) stops the job once past the grace epochs;
    previous curves with a non-finite value up to epoch t are left out.
    """

    name: ClassVar[str] = "best_so_far_rank"
    keep_fraction: float = 1 / 3
    min_previous_jobs: int = 3
    grace_epochs: int = 1

    def __post_init__(self):
        if not 0 < self.keep_fraction <= 1:
            raise ValueError("keep_fraction must be in (0, 1]")
        if self.min_previous_jobs < 1:
            raise ValueError("min_previous_jobs must be at least 1")
        if self.grace_epochs < 0:
            raise ValueError("grace_epochs must not be negative")

    def should_stop_given_averages(self, current: Curve, averages: Sequence[float], direction: Direction) -> bool:
        epoch = len(current)
        if epoch == 0 or epoch <= self.grace_epochs:
            return False
        if len(averages) < self.min_previous_jobs:
            return False
        if not math.isfinite(current[-1]):
            return True
        finite = [v for v in current if math.isfinite(v)]
        if direction == Direction.MAXIMIZE:
            return max(finite) < float(np.quantile(averages, 1 - self.keep_fraction))
        return min(finite) > float(np.quantile(averages, self.keep_fraction))


RULES: dict[str, type[EarlyStoppingRule]] = {
    MedianStoppingRule.name: MedianStoppingRule,
    BestSoFarRankRule.name: BestSoFarRankRule,
}

DEFAULT_RULE: type[EarlyStoppingRule] = BestSoFarRankRule
"""The rule of early stopping type "Auto", with its default settings: the winner of
bench/early_stopping.py on both recorded workloads (docs/benchmarks.md). SageMaker's
documented rule stays available as RULES["sagemaker_median"]."""
