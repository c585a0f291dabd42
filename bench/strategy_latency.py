"""How long one suggestion takes, by number of observations.

    python -m bench.strategy_latency [--repeats 30] [--json]

The space is HPOLib-FCNet's (nine hyperparameters, twelve encoded columns, as in
``bench.search_efficiency``) and the observations are random configurations with their losses
from the ``naval`` table: the time depends on how many observations there are and on the
space, not on where they came from. Each repeat builds a new strategy with another seed, as
the orchestrator does on every reconcile, and times one ``suggest(observations, 1)``: wall
time (median and 95th percentile), and the process's CPU time (median), which is what the
suggestion costs on an idle core when the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from bench.search_efficiency import Benchmark
from jobs.tuning.space import SearchSpace
from jobs.tuning.strategies import BayesianSearch, Direction, Observation, RandomSearch

OBSERVATION_COUNTS = (10, 50, 200)


def observations(benchmark: Benchmark, count: int) -> list[Observation]:
    rng = np.random.default_rng(count)
    space = benchmark.space()
    configurations = [space.sample(rng) for _ in range(count)]
    return [Observation(c, benchmark.evaluate(c), "Completed") for c in configurations]


def timings(cls: type, space: SearchSpace, history: list[Observation], repeats: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds of one suggestion, per repeat."""
    wall, cpu = [], []
    for seed in range(repeats):
        strategy = cls(space, Direction.MINIMIZE, seed)
        started, started_cpu = time.perf_counter(), time.process_time()
        strategy.suggest(history, 1)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    return wall, cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)

    load = os.getloadavg()[0]
    benchmark = Benchmark("naval", 0)
    rows = []
    for count in OBSERVATION_COUNTS:
        history = observations(benchmark, count)
        for cls in (BayesianSearch, RandomSearch):
            wall, cpu = timings(cls, benchmark.space(), history, args.repeats)
            rows.append(
                {
                    "strategy": cls.name,
                    "observations": count,
                    "median_ms": 1000 * float(np.median(wall)),
                    "p95_ms": 1000 * float(np.percentile(wall, 95)),
                    "cpu_median_ms": 1000 * float(np.median(cpu)),
                }
            )
    if args.json:
        json.dump({"load_average": load, "rows": rows}, sys.stdout, indent=2)
        print()
        return
    print(f"1-minute load average at the start: {load:.2f} on {os.cpu_count()} CPUs")
    print("| strategy | observations | median ms | p95 ms | CPU median ms |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['strategy']} | {row['observations']} | {row['median_ms']:.1f} | {row['p95_ms']:.1f}"
            f" | {row['cpu_median_ms']:.1f} |"
        )


if __name__ == "__main__":
    main()
