"""Early stopping rules: should a running training job stop now?

A rule sees the running job's objective values epoch by epoch and the curves
of the tuning job's previous training jobs, and answers yes or no. It holds
no state between calls, so any worker can evaluate it at any time from what
the database holds.
"""

import abc
import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, is_dataclass
from typing import ClassVar

import numpy as np

from jobs.tuning.strategies.base import Direction

Curve = Sequence[float]
"""Objective values of one training job; index 0 is epoch 1."""


_SETTINGS: dict[str, tuple[Callable[[float], bool], str]] = {
    "min_previous_jobs": (lambda v: v >= 1, "must be at least 1"),
    "grace_epochs": (lambda v: v >= 0, "must not be negative"),
    "keep_fraction": (lambda v: 0 < v <= 1, "must be in (0, 1]"),
    "leaders": (lambda v: v >= 1, "must be at least 1"),
    "lag": (lambda v: 0 < v <= 1, "must be in (0, 1]"),
    "grace_fraction": (lambda v: 0 <= v < 1, "must be in [0, 1)"),
    "window": (lambda v: 0 < v <= 1, "must be in (0, 1]"),
    "gate_jobs": (lambda v: v >= 4, "must be at least 4"),
    "gate_correlation": (lambda v: -1 <= v <= 1, "must be in [-1, 1]"),
    "gate_confidence": (lambda v: v >= 0, "must not be negative"),
    "gate_leaders": (lambda v: v >= 1, "must be at least 1"),
    "gate_history": (lambda v: v >= 4, "must be at least 4"),
    "growth": (lambda v: v >= 0, "must not be negative"),
    "noise": (lambda v: v >= 0, "must not be negative"),
    "extrapolation_grace": (lambda v: 0 <= v < 1, "must be in [0, 1)"),
}
"""The rules' settings and their valid values, checked once for every rule that has them."""


class EarlyStoppingRule(abc.ABC):
    name: ClassVar[str]

    def __post_init__(self):
        for setting in fields(self) if is_dataclass(self) else ():
            valid, requirement = _SETTINGS.get(setting.name, (None, ""))
            if valid is not None and not valid(getattr(self, setting.name)):
                raise ValueError(f"{setting.name} {requirement}")

    @abc.abstractmethod
    def should_stop(
        self, current: Curve, previous: Sequence[Curve], direction: Direction, ended: Sequence[bool] = ()
    ) -> bool:
        """Whether the job whose curve so far is `current` should stop after its latest epoch.

        `previous` holds the curves of the training jobs that started before
        it, each as far as it got (finished, stopped or still running).
        `ended[i]` is True when previous job i ran to its own end (Completed),
        so that its last value is its final objective; missing means False.
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

    def should_stop(
        self, current: Curve, previous: Sequence[Curve], direction: Direction, ended: Sequence[bool] = ()
    ) -> bool:
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


@dataclass(frozen=True)
class Leader:
    """One of the earlier jobs that ran to their end with the best final objectives."""

    best: float  # its best value over epochs 1..s, s being the rule's `leader_epoch` of the current epoch
    epochs: int  # how many epochs it ran in all
    final: float = math.nan  # its final objective (its last value)


def best_value(values: Curve, direction: Direction) -> float:
    """The best finite value of `values`, NaN when there is none."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan
    return max(finite) if direction == Direction.MAXIMIZE else min(finite)


def recent_best(values: Curve, window: float, direction: Direction) -> float:
    """The best finite value among the last ceil(`window` x len(values)) of `values` (at least one)."""
    length = max(1, math.ceil(window * len(values) - 1e-9))
    return best_value(values[-length:], direction)


def leaders_at(
    previous: Sequence[Curve],
    ended: Sequence[bool],
    epoch: int,
    count: int,
    direction: Direction,
    window: float = 1.0,
) -> list[Leader]:
    """The `count` ended jobs with the best final objectives among those that ran `epoch` epochs or more.

    A job's final objective is its last value, as on SageMaker; an ended job
    whose last value is not finite leads nothing. Each leader's `best` is its
    `recent_best` over epochs 1..`epoch`.
    """
    candidates = [
        curve
        for curve, has_ended in zip(previous, ended, strict=False)
        if has_ended and len(curve) >= epoch and math.isfinite(curve[-1])
    ]
    candidates.sort(key=lambda curve: -curve[-1] if direction == Direction.MAXIMIZE else curve[-1])
    return [
        Leader(recent_best(curve[:epoch], window, direction), len(curve), curve[-1]) for curve in candidates[:count]
    ]


@dataclass(frozen=True)
class LeaderEnvelopeRule(EarlyStoppingRule):
    """Early stopping type "Auto": stop a job that is behind where every leading job was at its age.

    The leaders are the `leaders` earlier training jobs that ran to their end
    with the best final objectives. After epoch t of the current job, let
    s = ceil(`lag` * t); the job stops if its best value so far is worse than
    each leader's best over epochs 1..s. With `window` < 1, "best so far" is
    the best of the most recent ceil(window * t) epochs (and of a leader's
    ceil(window * s) epochs up to s), so a job that overfits is judged on where
    it is now, as its final objective (its last value) will be.

    Why this shape (measured in docs/benchmarks.md, "Early stopping", where
    the settings were chosen leaving one workload out):

    - It learns from the tuning job itself how good a job must be at each age
      to end among the best: if the jobs that ended best started slowly (small
      learning rates, warm-up, large batches), their slow start is the bar, so
      late starters are not stopped; rules comparing with the other jobs'
      values at epoch t (SageMaker's median rule, `BestSoFarRankRule`) stop
      exactly those.
    - It only compares values with values of the same metric and direction,
      never averages or subtracts them, so heavy-tailed objectives (a diverged
      run 10^280 times worse than the rest) move no threshold.
    - Several leaders at half the age: the envelope is the slowest start among
      jobs that ended well, a bar a would-be winner has been seen to clear, and
      `lag` = 0.5 leaves room for a job that is slower but on their path.
    - It reads `leaders` rows and their first s values, whatever the number of
      earlier jobs: a decision stays cheap at 1,000 jobs.
    - No decision before `leaders` jobs have ended, nor during the first
      `grace_epochs` epochs or the first `grace_fraction` of the leaders'
      (median) length: early values mostly reflect initialisation.

    A job that has reported nothing is never stopped. A non-finite latest
    value (a diverged loss) stops the job once a decision may be made.
    """

    name: ClassVar[str] = "leader_envelope"
    leaders: int = 3
    lag: float = 1.0
    grace_epochs: int = 1
    grace_fraction: float = 0.0
    window: float = 1.0

    def leader_epoch(self, epoch: int) -> int:
        """The epoch s at which the leaders are compared with a job at `epoch`."""
        return max(1, math.ceil(self.lag * epoch - 1e-9))

    def should_stop(
        self, current: Curve, previous: Sequence[Curve], direction: Direction, ended: Sequence[bool] = ()
    ) -> bool:
        if not current:
            return False
        leaders = leaders_at(previous, ended, self.leader_epoch(len(current)), self.leaders, direction, self.window)
        return self.should_stop_given(current, leaders, direction)

    def should_stop_given(self, current: Curve, leaders: Sequence[Leader], direction: Direction) -> bool:
        """`should_stop`, given `leaders_at(previous, ended, self.leader_epoch(len(current)), self.leaders,
        direction, self.window)`: what the engine reads of the earlier jobs."""
        epoch = len(current)
        if epoch == 0 or epoch <= self.grace_epochs or len(leaders) < self.leaders:
            return False
        if self.grace_fraction and epoch <= self.grace_fraction * statistics.median(x.epochs for x in leaders):
            return False
        if not math.isfinite(current[-1]):
            return True
        bars = [leader.best for leader in leaders if math.isfinite(leader.best)]
        if not bars:
            return False
        own = recent_best(current, self.window, direction)
        if direction == Direction.MAXIMIZE:
            return own < min(bars)
        return own > max(bars)


@dataclass(frozen=True)
class Finisher:
    """An earlier job that ran to its end, seen from a job at epoch t."""

    best: float  # its `recent_best` over epochs 1..t (NaN when none is finite)
    final: float  # its final objective: its last value, finite


def finishers_at(
    previous: Sequence[Curve],
    ended: Sequence[bool],
    epoch: int,
    direction: Direction,
    window: float = 1.0,
    history: int | None = None,
) -> list[Finisher]:
    """The ended jobs that ran `epoch` epochs or more with a finite final value, in start order.

    With `history`, only the `history` most recently started of them.
    """
    chosen = [
        Finisher(recent_best(curve[:epoch], window, direction), curve[-1])
        for curve, has_ended in zip(previous, ended, strict=False)
        if has_ended and len(curve) >= epoch and math.isfinite(curve[-1])
    ]
    return chosen[-history:] if history else chosen


def _ranks(scores: Sequence[float]) -> np.ndarray:
    """Average ranks (0-based; ties share the mean of their ranks)."""
    values = np.asarray(scores, dtype=float)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    sorted_values = values[order]
    start = 0
    for end in range(1, len(values) + 1):
        if end == len(values) or sorted_values[end] != sorted_values[start]:
            ranks[order[start:end]] = (start + end - 1) / 2
            start = end
    return ranks


def rank_correlation(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Spearman's rank correlation of two equally long sequences of numbers (0 when either is constant)."""
    x, y = _ranks(xs), _ranks(ys)
    x, y = x - x.mean(), y - y.mean()
    spread = math.sqrt(float(x @ x) * float(y @ y))
    return float(x @ y) / spread if spread else 0.0


def correlation_lower_bound(rho: float, count: int, confidence: float) -> float:
    """A lower confidence bound of a rank correlation `rho` seen on `count` pairs (Fisher's z, `confidence` sigmas).

    Spearman's rho of a few pairs is often high by chance (three pairs rank
    perfectly one time in six); the bound asks for more evidence the fewer the pairs.
    """
    if count <= 3:
        return -1.0
    z = math.atanh(min(max(rho, -0.999999), 0.999999))
    return math.tanh(z - confidence / math.sqrt(count - 3))


@dataclass(frozen=True)
class CorrelationGatedEnvelopeRule(LeaderEnvelopeRule):
    """`leader_envelope`, plus an earlier stop where the tuning job's own curves show that epoch t predicts the end.

    At epoch t the rule takes the ended jobs that ran t epochs or more (the
    `gate_history` most recent of them) and the rank correlation between their
    best values over epochs 1..t and their final objectives. Where its lower
    confidence bound (`gate_confidence` sigmas, Fisher's z) is at least
    `gate_correlation` over `gate_jobs` jobs or more, the gate is open: the job
    also stops if its best so far is worse than the best over epochs 1..t of
    each of the `gate_leaders` of them with the best final objectives (the
    envelope at the same age instead of half of it, without the grace
    fraction). Otherwise, and whenever that
    does not stop it, the envelope of `LeaderEnvelopeRule` decides with its own
    settings (defaults: five leaders at half the age, grace of a fifth of the epochs).

    Why: on workloads whose final ranking shows early (most jobs climb at once,
    a bad learning rate stays bad) the correlation is high from epoch 2 and
    the rule stops weak jobs there, without waiting for the envelope's grace;
    where the eventual best start slowly (boosting with small steps, warm-up)
    or the objective is noisy, early epochs rank the final values poorly, the
    gate stays shut and the rule is the envelope. The correlation is measured
    on the same tuning job's finished curves, so no workload's numbers are
    built into it (chosen leaving one workload out, docs/benchmarks.md).

    The correlation reads at most `gate_history` rows, which bounds a
    decision's cost whatever the number of earlier jobs.
    """

    name: ClassVar[str] = "correlation_gated_envelope"
    leaders: int = 5
    lag: float = 0.5
    grace_fraction: float = 0.2
    gate_jobs: int = 5
    gate_correlation: float = 0.8
    gate_confidence: float = 1.0
    gate_leaders: int = 5
    gate_history: int = 50

    def should_stop(
        self, current: Curve, previous: Sequence[Curve], direction: Direction, ended: Sequence[bool] = ()
    ) -> bool:
        if not current:
            return False
        epoch = len(current)
        finishers = finishers_at(previous, ended, epoch, direction, self.window, self.gate_history)
        leaders = leaders_at(previous, ended, self.leader_epoch(epoch), self.leaders, direction, self.window)
        return self.should_stop_given_finishers(current, finishers, leaders, direction)

    def gate_open(self, finishers: Sequence[Finisher], direction: Direction) -> bool:
        """Whether the finishers' bests at epoch t rank their final objectives well enough to decide on."""
        if len(finishers) < self.gate_jobs:
            return False
        sign = 1.0 if direction == Direction.MAXIMIZE else -1.0
        # A job with no finite value yet ranks last at epoch t.
        bests = [sign * f.best if math.isfinite(f.best) else -math.inf for f in finishers]
        rho = rank_correlation(bests, [sign * f.final for f in finishers])
        return correlation_lower_bound(rho, len(finishers), self.gate_confidence) >= self.gate_correlation

    def should_stop_given_finishers(
        self, current: Curve, finishers: Sequence[Finisher], leaders: Sequence[Leader], direction: Direction
    ) -> bool:
        """`should_stop`, given `finishers_at(previous, ended, len(current), direction, self.window,
        self.gate_history)` and the envelope's leaders (`LeaderEnvelopeRule.should_stop_given`)."""
        epoch = len(current)
        if epoch > self.grace_epochs and self.gate_open(finishers, direction):
            if not math.isfinite(current[-1]):
                return True
            maximize = direction == Direction.MAXIMIZE
            ranked = sorted(finishers, key=lambda f: -f.final if maximize else f.final)[: self.gate_leaders]
            bars = [f.best for f in ranked if math.isfinite(f.best)]
            own = recent_best(current, self.window, direction)
            if bars and math.isfinite(own) and (own < min(bars) if maximize else own > max(bars)):
                return True
        return self.should_stop_given(current, leaders, direction)


@dataclass(frozen=True)
class ExtrapolatedEnvelopeRule(LeaderEnvelopeRule):
    """`leader_envelope`, plus a stop for a job that, extrapolated generously, cannot reach the best final so far.

    After epoch t (t >= 3, past `extrapolation_grace` of the leaders' median
    length L, before L), with h = t // 2: the job's best so far improved by
    g = best(1..t) - best(1..h) over the last doubling of its age. If its
    curve kept gaining that much per doubling it would end at
    best(1..t) + g * log2(L / t); the rule allows `growth` times that, plus
    `noise` times the range of its own values since epoch h (what one lucky
    epoch could add), and stops the job if even that is worse than the best
    final objective of the leaders (the best ended job). Otherwise the
    envelope decides, with the settings of Auto's.

    Why: the envelope stops only jobs behind where the best were at half
    their age; a job that has flattened out below the best final so far (a
    small learning rate that will never get there, an overfitting job past
    its best) keeps running under it. Gains per doubling of the age are how
    learning curves flatten (roughly linear in log epochs), so a slow
    starter still climbing fast is projected far and kept. Only the job's own
    curve and values of the same metric are compared: no scale is assumed.
    """

    name: ClassVar[str] = "extrapolated_envelope"
    leaders: int = 5
    lag: float = 0.5
    grace_fraction: float = 0.2
    growth: float = 1.0
    noise: float = 2.0
    extrapolation_grace: float = 0.1

    def should_stop_given(self, current: Curve, leaders: Sequence[Leader], direction: Direction) -> bool:
        return super().should_stop_given(current, leaders, direction) or self.cannot_catch_up(
            current, leaders, direction
        )

    def cannot_catch_up(self, current: Curve, leaders: Sequence[Leader], direction: Direction) -> bool:
        """Whether the job's generous extrapolation ends worse than the leaders' best final objective."""
        epoch = len(current)
        if epoch < 3 or len(leaders) < self.leaders:
            return False
        length = statistics.median(x.epochs for x in leaders)
        if epoch <= self.extrapolation_grace * length or epoch >= length:
            return False
        sign = 1.0 if direction == Direction.MAXIMIZE else -1.0
        half = epoch // 2
        now, then = sign * best_value(current, direction), sign * best_value(current[:half], direction)
        finals = [sign * x.final for x in leaders if math.isfinite(x.final)]
        if not (math.isfinite(now) and math.isfinite(then) and finals):
            return False
        recent = [v for v in current[half - 1 :] if math.isfinite(v)]
        spread = max(recent) - min(recent) if len(recent) > 1 else 0.0
        gain = (now - then) / math.log(epoch / half) * math.log(length / epoch)
        return now + self.growth * gain + self.noise * spread < max(finals)


RULES: dict[str, type[EarlyStoppingRule]] = {
    MedianStoppingRule.name: MedianStoppingRule,
    BestSoFarRankRule.name: BestSoFarRankRule,
    LeaderEnvelopeRule.name: LeaderEnvelopeRule,
    CorrelationGatedEnvelopeRule.name: CorrelationGatedEnvelopeRule,
    ExtrapolatedEnvelopeRule.name: ExtrapolatedEnvelopeRule,
}

DEFAULT_RULE: EarlyStoppingRule = LeaderEnvelopeRule(leaders=5, lag=0.5, grace_fraction=0.2)
"""The rule of early stopping type "Auto", with its settings: the choice of bench/early_stopping.py's
`--suite`, made leaving one workload out (docs/benchmarks.md). SageMaker's documented rule stays
available as RULES["sagemaker_median"]."""
