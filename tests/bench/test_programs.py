"""The training programs of the early-stopping corpus (bench/programs), run for real.

Each runs for two epochs through `bench.record_curves.run_one`, that is through the
project's LocalBackend and metric parser, with hyperparameters drawn by its recorder
sampler and shrunk to a tiny job.
"""

import math
import pickle
import signal
import subprocess
import sys

import numpy as np
import pytest

from bench import record_curves

PROGRAMS = {name: a for name, a in record_curves.ALGORITHMS.items() if a.script.parent == record_curves.PROGRAMS}
# Two epochs each, made cheap; sgd-regression's learning rate is one that diverges.
TINY = {
    "sgd-regression": {"epochs": "2", "learning_rate": "5", "degree": "3"},
    "boosting-stages": {"stages": "2", "trees_per_stage": "2"},
    "mlp-overfit": {"epochs": "2"},
    "sgd-classifier": {"epochs": "2"},
    "mlp-warmup": {"epochs": "2", "mini_batch_size": "512", "learning_rate": "0.05"},
    "lookup-transformer": {"epochs": "2", "mini_batch_size": "256", "d_model": "16"},
}


# Programs that import torch, a benchmark dependency (requirements-bench.txt), not a test one.
NEEDS_TORCH = {"lookup-transformer"}


def test_every_program_has_a_tiny_configuration():
    assert sorted(PROGRAMS) == sorted(TINY)


@pytest.mark.parametrize("name", sorted(TINY))
def test_program_reports_its_objective_each_epoch_through_the_backend(tmp_path, name):
    if name in NEEDS_TORCH:
        pytest.importorskip("torch", reason="the torch workloads need requirements-bench.txt")
    algorithm = PROGRAMS[name]
    hyperparameters = {**algorithm.sample(np.random.default_rng(0), 3), **TINY[name]}

    entry = record_curves.run_one(algorithm, hyperparameters, 3, tmp_path)

    assert entry["status"] == "Completed"
    assert len(entry["values"]) == 2
    if name == "sgd-regression":
        # Diverged: the program printed inf/nan and finished; the recorder keeps null.
        assert entry["values"] == [None, None]
    else:
        assert all(isinstance(v, float) and math.isfinite(v) for v in entry["values"])
        if algorithm.objective_type == "Maximize":
            assert all(0 <= v <= 1 for v in entry["values"])  # accuracies
        else:
            assert all(v > 0 for v in entry["values"])  # losses
    model = tmp_path / "job-3" / "model" / "model.pkl"
    assert model.stat().st_size > 0


def test_sigterm_ends_a_program_after_its_epoch_with_the_model_saved(tmp_path):
    process = subprocess.Popen(
        [sys.executable, str(record_curves.PROGRAMS / "sgd_classifier.py"), "--epochs", "100000"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first_line = process.stdout.readline()
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)

    assert first_line.startswith("epoch=1 validation:accuracy=")
    assert process.returncode == 143
    assert "stopped by SIGTERM after epoch" in stderr
    with open(tmp_path / "model" / "model.pkl", "rb") as file:
        model = pickle.load(file)
    # Saved after whole epochs: t_ is one more than the updates, one per training point.
    assert (model.t_ - 1) % 20000 == 0 and model.t_ > 1
