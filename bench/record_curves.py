"""Record real learning curves for the early-stopping replay (`bench.early_stopping`).

Runs a real training program many times with random hyperparameters, through the
project's own local backend (the same subprocess runner and metric parser a tuning
job uses), and writes every job's objective curve to one JSON file:

    python -m bench.record_curves --algorithm image-classifier --count 150 \\
        --out bench/curves/image_classifier.json --parallel 2 --seed 0

The file format (documented in docs/benchmarks.md, "Early stopping"):

    {"objective": {"name": "validation:accuracy", "type": "Maximize"},
     "curves": [{"hyperparameters": {...}, "values": [epoch 1, epoch 2, ...],
                 "seconds_per_epoch": 0.14}, ...]}

`values` holds the objective as the program reported it after each epoch; a
non-finite value (a diverged run) is written as null. `seconds_per_epoch` is
measured: the time between the first and the last epoch line over the epochs in
between. Extra keys (`startup_seconds`, `status`, `index` per curve; `algorithm`,
`recorded` at the top) are informative and ignored by the replay.

The file is rewritten after every finished job, so an interrupted recording keeps
what it has and `--resume` carries on from there.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from jobs.backends.base import RunResult, TrainingRunSpec
from jobs.backends.local import LocalBackend
from jobs.backends.metrics import MetricDefinition, MetricRecord

REPO = Path(__file__).resolve().parent.parent
PROGRAMS = REPO / "bench" / "programs"

Sampler = Callable[[np.random.Generator, int], dict[str, str]]


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(10 ** rng.uniform(math.log10(low), math.log10(high)))


def _image_classifier_hps(rng: np.random.Generator, index: int) -> dict[str, str]:
    """The SageMaker blog's ranges: learning_rate 1e-5..1 (log), mini_batch_size 16..64,
    optimizer sgd/adam/nag (the example has no rmsprop), 30 epochs."""
    return {
        "learning_rate": f"{_log_uniform(rng, 1e-5, 1.0):.6g}",
        "mini_batch_size": str(int(rng.integers(16, 65))),
        "optimizer": str(rng.choice(["sgd", "adam", "nag"])),
        "epochs": "30",
        "seed": str(index),
    }


def _mnist1d_hps(rng: np.random.Generator, index: int) -> dict[str, str]:
    """The same kind of ranges for the 1-D CNN, plus its width. Mini-batches are larger
    (32..256, log) because a step of this tiny network costs ~10 ms of framework overhead
    on one core, whatever its size: 4,000 signals in batches of 16 would take 2.5 s an epoch."""
    return {
        "learning_rate": f"{_log_uniform(rng, 1e-4, 1.0):.6g}",
        "mini_batch_size": str(round(_log_uniform(rng, 32, 256))),
        "optimizer": str(rng.choice(["sgd", "adam", "nag"])),
        "channels": str(int(rng.choice([8, 16, 32]))),
        "epochs": "30",
        "seed": str(index),
    }


def _sgd_regression_hps(rng: np.random.Generator, index: int) -> dict[str, str]:
    """Learning rates up to 0.3, where degree-3 features diverge (above ~0.03) and degree 1
    does not: the heavy tail and the diverged runs come from the range, not from a flaw."""
    return {
        "learning_rate": f"{_log_uniform(rng, 1e-4, 0.3):.6g}",
        "mini_batch_size": str(round(_log_uniform(rng, 8, 512))),
        "degree": str(int(rng.integers(1, 4))),
        "l2": f"{_log_uniform(rng, 1e-6, 0.1):.6g}",
        "epochs": "40",
        "seed": str(index),
    }


def _boosting_stages_hps(rng: np.random.Generator, index: int) -> dict[str, str]:
    """Over half the learning rates (0.02..1, log) are above 0.1, fast starters that
    overfit the noisy labels; slow ones (shallow trees, rates near 0.05-0.1) end best."""
    return {
        "learning_rate": f"{_log_uniform(rng, 0.02, 1.0):.6g}",
        "max_depth": str(int(rng.integers(1, 6))),
        "subsample": f"{rng.uniform(0.5, 1.0):.3g}",
        "stages": "40",
        "trees_per_stage": "10",
        "seed": str(index),
    }


def _mlp_overfit_hps(rng: np.random.Generator, index: int) -> dict[str, str]:
    return {
        "learning_rate": f"{_log_uniform(rng, 3e-5, 1e-2):.6g}",
        "hidden_units": str(round(_log_uniform(rng, 16, 256))),
        "alpha": f"{_log_uniform(rng, 1e-5, 3.0):.6g}",
        "mini_batch_size": str(round(_log_uniform(rng, 16, 128))),
        "epochs": "120",
        "seed": str(index),
    }


def _sgd_classifier_hps(rng: np.random.Generator, index: int) -> dict[str, str]:
    return {
        "loss": str(rng.choice(["hinge", "log_loss", "modified_huber"])),
        "learning_rate": str(rng.choice(["constant", "optimal", "invscaling", "adaptive"])),
        "eta0": f"{_log_uniform(rng, 1e-5, 1.0):.6g}",
        "alpha": f"{_log_uniform(rng, 1e-6, 0.1):.6g}",
        "epochs": "30",
        "seed": str(index),
    }


def _mlp_warmup_hps(rng: np.random.Generator, index: int) -> dict[str, str]:
    """Rates up to 1, which no warm-up makes safe: the collapses are part of the workload
    (see the program's docstring)."""
    return {
        "learning_rate": f"{_log_uniform(rng, 1e-3, 1.0):.6g}",
        "warmup_epochs": str(int(rng.integers(0, 11))),
        "mini_batch_size": str(round(_log_uniform(rng, 16, 1024))),
        "hidden_units": str(int(rng.choice([32, 64, 128]))),
        "epochs": "60",
        "seed": str(index),
    }


def _lookup_transformer_hps(rng: np.random.Generator, index: int) -> dict[str, str]:
    return {
        "learning_rate": f"{_log_uniform(rng, 3e-4, 3e-2):.6g}",
        "warmup_epochs": str(int(rng.integers(0, 4))),
        "mini_batch_size": str(round(_log_uniform(rng, 32, 256))),
        "d_model": str(int(rng.choice([16, 32, 64]))),
        "epochs": "8",
        "seed": str(index),
    }


@dataclass(frozen=True)
class Algorithm:
    script: Path
    objective: str
    objective_type: str  # "Maximize" | "Minimize"
    sample: Sampler


ALGORITHMS: dict[str, Algorithm] = {
    "image-classifier": Algorithm(
        REPO / "examples" / "image_classifier.py", "validation:accuracy", "Maximize", _image_classifier_hps
    ),
    "mnist1d-cnn": Algorithm(REPO / "bench" / "mnist1d_cnn.py", "validation:accuracy", "Maximize", _mnist1d_hps),
    "sgd-regression": Algorithm(PROGRAMS / "sgd_regression.py", "validation:mse", "Minimize", _sgd_regression_hps),
    "boosting-stages": Algorithm(
        PROGRAMS / "boosting_stages.py", "validation:logloss", "Minimize", _boosting_stages_hps
    ),
    "mlp-overfit": Algorithm(PROGRAMS / "mlp_overfit.py", "validation:loss", "Minimize", _mlp_overfit_hps),
    "mlp-warmup": Algorithm(PROGRAMS / "mlp_warmup.py", "validation:loss", "Minimize", _mlp_warmup_hps),
    "lookup-transformer": Algorithm(
        PROGRAMS / "lookup_transformer.py", "validation:loss", "Minimize", _lookup_transformer_hps
    ),
    "sgd-classifier": Algorithm(PROGRAMS / "sgd_classifier.py", "validation:accuracy", "Maximize", _sgd_classifier_hps),
}


class _Collector:
    """A RunMonitor that keeps the objective's values and when they were read."""

    def __init__(self, metric: str):
        self._metric = metric
        self.records: list[MetricRecord] = []

    def on_metrics(self, records: list[MetricRecord]) -> None:
        self.records += [r for r in records if r.metric_name == self._metric]

    def should_stop(self) -> bool:
        return False

    def heartbeat(self) -> None:
        pass


def run_one(algorithm: Algorithm, hyperparameters: dict[str, str], index: int, work: Path) -> dict:
    """Run one training job to its end and return its curve entry."""
    collector = _Collector(algorithm.objective)
    spec = TrainingRunSpec(
        job_name=f"record-{index}",
        command=[sys.executable, str(algorithm.script)],
        hyperparameters=hyperparameters,
        metric_definitions=[MetricDefinition(algorithm.objective, rf"{algorithm.objective}=(\S+)")],
        job_dir=work / f"job-{index}",
        poll_interval_seconds=0.2,
    )
    started = datetime.now(UTC)
    result: RunResult = LocalBackend().run(spec, collector)
    by_epoch = {r.epoch: r for r in collector.records}  # a repeated epoch keeps its last value
    records = [by_epoch[e] for e in sorted(by_epoch)]
    values = [r.value if math.isfinite(r.value) else None for r in records]
    if len(records) >= 2:
        span = (records[-1].timestamp - records[0].timestamp).total_seconds()
        seconds_per_epoch = span / (len(records) - 1)
    elif records:
        seconds_per_epoch = (records[0].timestamp - started).total_seconds()
    else:
        seconds_per_epoch = 0.0
    startup = (records[0].timestamp - started).total_seconds() - seconds_per_epoch if records else 0.0
    return {
        "index": index,
        "hyperparameters": hyperparameters,
        "values": values,
        "seconds_per_epoch": round(seconds_per_epoch, 5),
        "startup_seconds": round(max(startup, 0.0), 3),
        "status": str(result.outcome),
    }


def _write(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def record(name: str, count: int, out: Path, parallel: int, seed: int, resume: bool = False) -> dict:
    algorithm = ALGORITHMS[name]
    rng = np.random.default_rng(seed)
    # All hyperparameters are drawn up front, so job i has the same ones whatever the
    # parallelism or the order in which jobs finish.
    planned = [algorithm.sample(rng, index) for index in range(count)]
    done: dict[int, dict] = {}
    previous_seconds = 0.0
    if resume and out.exists():
        old = json.loads(out.read_text(encoding="utf-8"))
        done = {c["index"]: c for c in old["curves"] if c.get("index") is not None and c["index"] < count}
        previous_seconds = old.get("recorded", {}).get("wall_seconds", 0.0)
    document = {
        "objective": {"name": algorithm.objective, "type": algorithm.objective_type},
        "algorithm": name,
        "recorded": {
            "command": f"python -m bench.record_curves --algorithm {name} --count {count} "
            f"--out {out} --parallel {parallel} --seed {seed}",
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "parallel": parallel,
            "wall_seconds": previous_seconds,
        },
        "curves": [],
    }
    lock = threading.Lock()
    started = time.monotonic()

    def finish(entry: dict) -> None:
        with lock:
            done[entry["index"]] = entry
            document["curves"] = [done[i] for i in sorted(done)]
            document["recorded"]["wall_seconds"] = round(previous_seconds + time.monotonic() - started, 1)
            _write(out, document)
            pick = max if algorithm.objective_type == "Maximize" else min
            best = pick((v for v in entry["values"] if v is not None), default=float("nan"))
            print(
                f"[{len(done)}/{count}] job {entry['index']}: {len(entry['values'])} epochs, "
                f"{entry['seconds_per_epoch']:.3f} s/epoch, best {best:.4f} {entry['hyperparameters']}",
                flush=True,
            )

    with tempfile.TemporaryDirectory(prefix="record-curves-") as tmp, ThreadPoolExecutor(parallel) as pool:
        futures = [
            pool.submit(lambda i=i: finish(run_one(algorithm, planned[i], i, Path(tmp))))
            for i in range(count)
            if i not in done
        ]
        for future in futures:
            future.result()
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--algorithm", choices=sorted(ALGORITHMS), required=True)
    parser.add_argument("--count", type=int, default=150)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="keep the jobs already in --out")
    args = parser.parse_args(argv)
    document = record(args.algorithm, args.count, args.out, args.parallel, args.seed, args.resume)
    print(f"wrote {len(document['curves'])} curves to {args.out} in {document['recorded']['wall_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
