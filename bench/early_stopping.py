"""Replay tuning jobs over recorded learning curves to compare early-stopping rules.

    python -m bench.early_stopping --curves bench/curves/image_classifier.json
    python -m bench.early_stopping --curves FILE --json

For each seed, `--jobs` curves (20) are drawn in random order from the file's pool
and run as one tuning job with `--parallel` (2) slots, in simulated time: a job
occupies a slot for `seconds_per_epoch` per epoch it runs, reports its objective
after every epoch, and the next job starts when a slot frees. After each reported
epoch (except the last, where stopping saves nothing) the rule decides whether the
job stops there; it sees the job's own values so far and every earlier-started job's
curve as far as it had been reported at that moment, exactly what the live engine
passes to `EarlyStoppingRule.should_stop`. The same seeds give every rule the same
curves in the same order.

Rules compared: `off` (never stop), `auto` (the project's `DEFAULT_RULE`), every
rule in `jobs.tuning.early_stopping.RULES` (including `sagemaker_median`), and
Optuna's `MedianPruner` and `SuccessiveHalvingPruner` with their defaults, driven
through real in-memory studies (`ask`, `report`, `should_prune`, `tell`).
`--candidates` adds the variants in `CANDIDATES` (other cutoffs and guards). Seeds
0..`--seeds`-1 (200 by default).

Per rule, averaged over seeds:

- saved_pct: total training time saved against Off (sum over jobs of time run).
- best: the best final objective among the 20 jobs (a job's final objective is its
  last reported value, as on SageMaker), and rel_loss_pct, its relative loss against
  Off's best: (best_off - best_rule) / |best_off|, sign-flipped when minimizing.
- best_stopped_pct: how often every job that reaches Off's best was stopped.
- equal_budget_win_pct (and _tie_): how often the rule's best is strictly better
  than (equal to) the best of the jobs Off had finished when Off had used as much
  total training time as the rule used in all.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from jobs.tuning.early_stopping import (
    DEFAULT_RULE,
    RULES,
    BestSoFarRankRule,
    EarlyStoppingRule,
    MedianStoppingRule,
)
from jobs.tuning.strategies.base import Direction

DEFAULT_SEEDS = 200
DEFAULT_JOBS = 20
DEFAULT_PARALLEL = 2


# --- the curve file -----------------------------------------------------------------


@dataclass(frozen=True)
class Curve:
    values: tuple[float, ...]  # index 0 is epoch 1; NaN for a non-finite value
    seconds_per_epoch: float
    hyperparameters: dict[str, Any]


@dataclass(frozen=True)
class CurveFile:
    objective_name: str
    direction: Direction
    curves: tuple[Curve, ...]


def parse_curves(document: dict) -> CurveFile:
    """Validate a curve document (see the module docstring of bench.record_curves)."""
    objective = document["objective"]
    direction = Direction(objective["type"])
    curves = []
    for position, entry in enumerate(document["curves"]):
        values = tuple(math.nan if v is None else float(v) for v in entry["values"])
        seconds = float(entry["seconds_per_epoch"])
        if seconds < 0 or not math.isfinite(seconds):
            raise ValueError(f"curves[{position}].seconds_per_epoch must be a non-negative number")
        curves.append(Curve(values, seconds, dict(entry.get("hyperparameters", {}))))
    if not curves:
        raise ValueError("the file holds no curves")
    return CurveFile(str(objective["name"]), direction, tuple(curves))


def load_curves(path: Path) -> CurveFile:
    return parse_curves(json.loads(Path(path).read_text(encoding="utf-8")))


# --- policies: one per simulated tuning job ------------------------------------------


class Policy(Protocol):
    def start(self, job: int) -> None:
        """Job number `job` (0, 1, ... in start order) starts."""

    def report(self, job: int, epoch: int, value: float) -> bool:
        """The job reports its objective for `epoch` (1-based); True stops it here."""

    def finish(self, job: int, value: float, stopped: bool) -> None:
        """The job ends after its last reported epoch, with final objective `value`."""


class OffPolicy:
    def start(self, job: int) -> None:
        pass

    def report(self, job: int, epoch: int, value: float) -> bool:
        return False

    def finish(self, job: int, value: float, stopped: bool) -> None:
        pass


class RulePolicy:
    """Drives a project rule exactly as the live engine does."""

    def __init__(self, rule: EarlyStoppingRule, direction: Direction):
        self._rule = rule
        self._direction = direction
        self._curves: list[list[float]] = []  # every started job's reported values

    def start(self, job: int) -> None:
        self._curves.append([])

    def report(self, job: int, epoch: int, value: float) -> bool:
        self._curves[job].append(value)
        return self._rule.should_stop(self._curves[job], self._curves[:job], self._direction)

    def finish(self, job: int, value: float, stopped: bool) -> None:
        pass


class OptunaPolicy:
    """One Optuna study in memory; each training job is one trial."""

    def __init__(self, pruner: Any, direction: Direction):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._optuna = optuna
        self._study = optuna.create_study(
            storage=optuna.storages.InMemoryStorage(),
            direction="maximize" if direction == Direction.MAXIMIZE else "minimize",
            pruner=pruner,
        )
        self._trials: list[Any] = []

    def start(self, job: int) -> None:
        self._trials.append(self._study.ask())

    def report(self, job: int, epoch: int, value: float) -> bool:
        trial = self._trials[job]
        trial.report(value, epoch)
        return trial.should_prune()

    def finish(self, job: int, value: float, stopped: bool) -> None:
        state = self._optuna.trial.TrialState
        if stopped:
            self._study.tell(self._trials[job], state=state.PRUNED)
        elif math.isfinite(value):
            self._study.tell(self._trials[job], value)
        else:
            self._study.tell(self._trials[job], state=state.FAIL)


PolicyFactory = Callable[[Direction], Policy]


def _optuna_median(direction: Direction) -> Policy:
    from optuna.pruners import MedianPruner

    return OptunaPolicy(MedianPruner(), direction)


def _optuna_sha(direction: Direction) -> Policy:
    from optuna.pruners import SuccessiveHalvingPruner

    return OptunaPolicy(SuccessiveHalvingPruner(), direction)


def _rule(rule: EarlyStoppingRule) -> PolicyFactory:
    return lambda direction: RulePolicy(rule, direction)


CANDIDATES: tuple[EarlyStoppingRule, ...] = (
    # SageMaker's rule with other guards.
    MedianStoppingRule(min_previous_jobs=1),
    MedianStoppingRule(min_previous_jobs=5),
    MedianStoppingRule(grace_epochs=0),
    MedianStoppingRule(grace_epochs=3),
    # The job's best so far against the previous jobs' running averages: other cutoffs
    # (keep_fraction=0.5 is Google Vizier's median stopping rule) and other guards.
    BestSoFarRankRule(keep_fraction=0.5),
    BestSoFarRankRule(keep_fraction=0.25),
    BestSoFarRankRule(min_previous_jobs=1),
    BestSoFarRankRule(min_previous_jobs=5),
    BestSoFarRankRule(grace_epochs=0),
    BestSoFarRankRule(grace_epochs=3),
)
"""Variants compared with `--candidates`: how the cutoff and guards of "auto" were chosen."""


def _label(rule: EarlyStoppingRule) -> str:
    """`name(field=value, ...)` with only the fields that differ from the defaults."""
    default = type(rule)()
    changed = [
        f"{f.name}={getattr(rule, f.name):g}" for f in fields(rule) if getattr(rule, f.name) != getattr(default, f.name)
    ]
    return f"{rule.name}({'; '.join(changed)})" if changed else rule.name


def policy_factories(candidates: bool = False) -> dict[str, PolicyFactory]:
    """Every rule the benchmark knows, by the name used in its output."""
    default = DEFAULT_RULE() if isinstance(DEFAULT_RULE, type) else DEFAULT_RULE
    factories: dict[str, PolicyFactory] = {"off": lambda direction: OffPolicy(), "auto": _rule(default)}
    for name, rule_class in RULES.items():
        factories[name] = _rule(rule_class())
    factories["optuna_median"] = _optuna_median
    factories["optuna_sha"] = _optuna_sha
    if candidates:
        for rule in CANDIDATES:
            factories[_label(rule)] = _rule(rule)
    return factories


# --- the simulation ------------------------------------------------------------------


@dataclass(frozen=True)
class JobRun:
    curve: int  # index into the pool
    start: float
    end: float
    epochs: int  # epochs run
    final: float  # last reported value (NaN if none)
    stopped: bool


def simulate(pool: Sequence[Curve], order: Sequence[int], policy: Policy, parallel: int) -> list[JobRun]:
    """Run the jobs `order` (indices into `pool`) with `parallel` slots in simulated time.

    Events are processed in time order; at equal times, in the order they were
    scheduled, so a job deciding at time t sees every report made up to t that was
    processed before it. Deterministic.
    """
    events: list[tuple[float, int, int, int]] = []  # (time, sequence, job, epoch)
    sequence = 0
    starts: dict[int, float] = {}
    runs: dict[int, JobRun] = {}
    next_job = 0

    def launch(now: float) -> None:
        nonlocal next_job, sequence
        job = next_job
        next_job += 1
        starts[job] = now
        policy.start(job)
        curve = pool[order[job]]
        if not curve.values:  # a job that reports nothing runs no epoch here
            end_job(job, now, 0, False)
            return
        heapq.heappush(events, (now + curve.seconds_per_epoch, sequence, job, 1))
        sequence += 1

    def end_job(job: int, now: float, epochs: int, stopped: bool) -> None:
        curve = pool[order[job]]
        final = curve.values[epochs - 1] if epochs else math.nan
        policy.finish(job, final, stopped)
        runs[job] = JobRun(order[job], starts[job], now, epochs, final, stopped)
        if next_job < len(order):
            launch(now)

    for _ in range(min(parallel, len(order))):
        launch(0.0)
    while events:
        now, _, job, epoch = heapq.heappop(events)
        curve = pool[order[job]]
        last = epoch == len(curve.values)
        stop = policy.report(job, epoch, curve.values[epoch - 1])
        if last or stop:
            end_job(job, now, epoch, stop and not last)
        else:
            heapq.heappush(events, (now + curve.seconds_per_epoch, sequence, job, epoch + 1))
            sequence += 1
    return [runs[job] for job in range(len(order))]


def _better(a: float, b: float, direction: Direction) -> bool:
    return a > b if direction == Direction.MAXIMIZE else a < b


def best_value(values: Sequence[float], direction: Direction) -> float:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan
    return max(finite) if direction == Direction.MAXIMIZE else min(finite)


def training_time(runs: Sequence[JobRun]) -> float:
    return sum(run.end - run.start for run in runs)


def finished_within(runs: Sequence[JobRun], budget: float) -> list[JobRun]:
    """The runs that had ended when the tuning job had used `budget` training time in all."""

    def used_by(moment: float) -> float:
        return sum(max(0.0, min(run.end, moment) - run.start) for run in runs)

    tolerance = 1e-9 * max(1.0, budget)
    return [run for run in runs if used_by(run.end) <= budget + tolerance]


def draw_order(pool_size: int, jobs: int, seed: int) -> list[int]:
    """`jobs` pool indices in random order: without repetition when the pool is big enough."""
    rng = np.random.default_rng(seed)
    if pool_size >= jobs:
        return [int(i) for i in rng.permutation(pool_size)[:jobs]]
    return [int(i) for i in rng.integers(0, pool_size, size=jobs)]


@dataclass(frozen=True)
class SeedResult:
    training_time: float
    wall_time: float
    best: float
    stopped_jobs: int
    best_stopped: bool
    equal_budget_best_off: float


def evaluate(
    curves: CurveFile, rules: dict[str, PolicyFactory], seeds: Sequence[int], jobs: int, parallel: int
) -> dict[str, dict[str, float]]:
    direction = curves.direction
    sign = 1.0 if direction == Direction.MAXIMIZE else -1.0
    per_rule: dict[str, list[SeedResult]] = {name: [] for name in rules}
    off_results: list[tuple[list[JobRun], float]] = []
    for seed in seeds:
        order = draw_order(len(curves.curves), jobs, seed)
        off_runs = simulate(curves.curves, order, OffPolicy(), parallel)
        off_best = best_value([run.final for run in off_runs], direction)
        off_results.append((off_runs, off_best))
        for name, factory in rules.items():
            runs = off_runs if name == "off" else simulate(curves.curves, order, factory(direction), parallel)
            used = training_time(runs)
            best_jobs = [i for i, run in enumerate(off_runs) if run.final == off_best]
            per_rule[name].append(
                SeedResult(
                    training_time=used,
                    wall_time=max(run.end for run in runs),
                    best=best_value([run.final for run in runs], direction),
                    stopped_jobs=sum(run.stopped for run in runs),
                    best_stopped=bool(best_jobs) and all(runs[i].stopped for i in best_jobs),
                    equal_budget_best_off=best_value([run.final for run in finished_within(off_runs, used)], direction),
                )
            )

    summary: dict[str, dict[str, float]] = {}
    for name, results in per_rule.items():
        saved, wall_saved, losses, wins, ties = [], [], [], [], []
        for result, (off_runs, off_best) in zip(results, off_results, strict=True):
            off_time = training_time(off_runs)
            off_wall = max(run.end for run in off_runs)
            saved.append(100.0 * (off_time - result.training_time) / off_time if off_time else 0.0)
            wall_saved.append(100.0 * (off_wall - result.wall_time) / off_wall if off_wall else 0.0)
            losses.append(_relative_loss(off_best, result.best, sign))
            rival = result.equal_budget_best_off
            wins.append(
                math.isfinite(result.best) and (not math.isfinite(rival) or _better(result.best, rival, direction))
            )
            ties.append(result.best == rival)
        summary[name] = {
            "saved_pct": round(float(np.mean(saved)), 2),
            "wall_saved_pct": round(float(np.mean(wall_saved)), 2),
            "mean_best": round(float(np.nanmean([r.best for r in results])), 5),
            "rel_loss_pct": round(float(np.mean(losses)), 3),
            "worst_rel_loss_pct": round(float(np.max(losses)), 3),
            "best_stopped_pct": round(100.0 * float(np.mean([r.best_stopped for r in results])), 1),
            "equal_budget_win_pct": round(100.0 * float(np.mean(wins)), 1),
            "equal_budget_tie_pct": round(100.0 * float(np.mean(ties)), 1),
            "stopped_jobs": round(float(np.mean([r.stopped_jobs for r in results])), 2),
        }
    return summary


def _relative_loss(off_best: float, rule_best: float, sign: float) -> float:
    """Percent by which the rule's best is worse than Off's (negative: better)."""
    if not math.isfinite(off_best):
        return 0.0
    if not math.isfinite(rule_best):
        return 100.0
    return 100.0 * sign * (off_best - rule_best) / max(abs(off_best), 1e-12)


# --- command line --------------------------------------------------------------------

COLUMNS = [
    ("saved_pct", "time saved %", "{:.1f}"),
    ("mean_best", "mean best", "{:.4f}"),
    ("rel_loss_pct", "rel. loss %", "{:.3f}"),
    ("worst_rel_loss_pct", "worst loss %", "{:.2f}"),
    ("best_stopped_pct", "best stopped %", "{:.1f}"),
    ("equal_budget_win_pct", "eq.-budget win %", "{:.1f}"),
    ("equal_budget_tie_pct", "eq.-budget tie %", "{:.1f}"),
    ("stopped_jobs", "jobs stopped", "{:.2f}"),
    ("wall_saved_pct", "wall saved %", "{:.1f}"),
]


def format_table(summary: dict[str, dict[str, float]]) -> str:
    """A Markdown table, one row per rule."""
    lines = [
        "| rule | " + " | ".join(title for _, title, _ in COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
    ]
    for name, row in summary.items():
        lines.append(f"| {name} | " + " | ".join(fmt.format(row[key]) for key, _, fmt in COLUMNS) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--curves", type=Path, required=True, help="a curve file (see bench.record_curves)")
    parser.add_argument(
        "--seeds", type=int, default=DEFAULT_SEEDS, help=f"tuning jobs replayed (default {DEFAULT_SEEDS})"
    )
    parser.add_argument("--jobs", type=int, default=DEFAULT_JOBS, help="training jobs per tuning job")
    parser.add_argument("--parallel", type=int, default=DEFAULT_PARALLEL, help="training jobs at once")
    parser.add_argument("--rules", help="comma-separated rule names (default: all); off is always included")
    parser.add_argument("--candidates", action="store_true", help="also the variants in CANDIDATES")
    parser.add_argument("--json", action="store_true", help="print one JSON object keyed by rule name")
    args = parser.parse_args(argv)

    curves = load_curves(args.curves)
    factories = policy_factories(args.candidates)
    names = list(factories) if args.rules is None else ["off", *(n for n in args.rules.split(",") if n != "off")]
    unknown = [name for name in names if name not in factories]
    if unknown:
        parser.error(f"unknown rule(s) {', '.join(unknown)}; known: {', '.join(factories)}")
    started = time.perf_counter()
    summary = evaluate(curves, {n: factories[n] for n in names}, range(args.seeds), args.jobs, args.parallel)
    elapsed = time.perf_counter() - started
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    lengths = [len(c.values) for c in curves.curves]
    print(
        f"{args.curves}: {len(curves.curves)} curves of {curves.objective_name} ({curves.direction}), "
        f"{min(lengths)}-{max(lengths)} epochs; {args.seeds} seeds x {args.jobs} jobs, {args.parallel} in parallel"
    )
    print(format_table(summary))
    print(
        f"\n{elapsed:.1f} s on {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
