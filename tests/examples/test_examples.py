"""The example training programs, run as real processes with a few epochs each."""

import json
import os
import pickle
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jobs.backends import LocalBackend, MetricDefinition, Outcome, TrainingRunSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# The regexes examples/README.md tells staff to register.
IMAGE_CLASSIFIER_METRICS = [
    MetricDefinition("train:loss", r"train:loss=(\S+)"),
    MetricDefinition("validation:accuracy", r"validation:accuracy=(\S+)"),
]
GRADIENT_BOOSTING_METRICS = [
    MetricDefinition("train:loss", r"train:loss=(\S+)"),
    MetricDefinition("validation:loss", r"validation:loss=(\S+)"),
]
SMALL_RUNS = {
    "image_classifier.py": ["--epochs", "2", "--hidden_units", "32"],
    # Subsampling, or the seed would have nothing to decide.
    "gradient_boosting.py": ["--stages", "3", "--trees_per_stage", "2", "--subsample", "0.5"],
}


class Recorder:
    def __init__(self):
        self.records = []

    def on_metrics(self, records):
        self.records += records

    def should_stop(self):
        return False

    def heartbeat(self):
        pass


def run_with_backend(tmp_path, script, metric_definitions, hyperparameters):
    recorder = Recorder()
    spec = TrainingRunSpec(
        job_name="example",
        command=[sys.executable, str(EXAMPLES / script)],
        hyperparameters=hyperparameters,
        metric_definitions=metric_definitions,
        job_dir=tmp_path / "job",
    )
    result = LocalBackend().run(spec, recorder)
    return result, {(r.metric_name, r.epoch): r.value for r in recorder.records}


def start_script(cwd, script, *args):
    cwd.mkdir(exist_ok=True)
    return subprocess.Popen(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=cwd,
        env={**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process):
    """(exit code, stdout, stderr) once the process has ended."""
    stdout, stderr = process.communicate(timeout=60)
    return process.returncode, stdout, stderr


def run_script(cwd, script, *args):
    return finish(start_script(cwd, script, *args))


def load_model(job_dir):
    with open(job_dir / "model" / "model.pkl", "rb") as file:
        return pickle.load(file)


def test_image_classifier_reports_each_epoch_and_saves_its_model(tmp_path):
    result, metrics = run_with_backend(
        tmp_path,
        "image_classifier.py",
        IMAGE_CLASSIFIER_METRICS,
        {"epochs": "3", "optimizer": "nag", "learning_rate": "0.05", "mini_batch_size": "64"},
    )

    assert result.outcome == Outcome.COMPLETED, result.failure_reason
    assert sorted(metrics) == [(name, epoch) for name in ("train:loss", "validation:accuracy") for epoch in (1, 2, 3)]
    assert metrics["train:loss", 3] < metrics["train:loss", 1]
    assert 0.8 < metrics["validation:accuracy", 3] <= 1
    model = load_model(tmp_path / "job")
    assert model.predict(np.zeros((1, 64))).shape == (1,)


def test_gradient_boosting_reports_each_stage_and_saves_its_model(tmp_path):
    result, metrics = run_with_backend(
        tmp_path,
        "gradient_boosting.py",
        GRADIENT_BOOSTING_METRICS,
        {"stages": "3", "trees_per_stage": "5", "subsample": "0.8", "max_depth": "3"},
    )

    assert result.outcome == Outcome.COMPLETED, result.failure_reason
    assert sorted(metrics) == [(name, epoch) for name in ("train:loss", "validation:loss") for epoch in (1, 2, 3)]
    assert metrics["train:loss", 3] < metrics["train:loss", 1]
    assert 20 < metrics["validation:loss", 3] < 100  # RMSE in the target's units
    assert len(load_model(tmp_path / "job").estimators_) == 15


@pytest.mark.parametrize("script", sorted(SMALL_RUNS))
def test_same_seed_gives_the_same_output(tmp_path, script):
    # Side by side, which also shows two jobs do not disturb each other.
    runs = [start_script(tmp_path / name, script, *SMALL_RUNS[script], "--seed", "7") for name in ("a", "b")]
    (code, first, errors), (_, again, _) = [finish(process) for process in runs]

    assert code == 0, errors
    assert first.startswith("epoch=1 ")
    assert first == again


def test_command_line_overrides_the_config_file(tmp_path):
    config = tmp_path / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps({"stages": "4", "trees_per_stage": "1"}))

    code, stdout, stderr = run_script(tmp_path, "gradient_boosting.py", "--stages", "2")

    assert code == 0, stderr
    assert [line.split()[0] for line in stdout.splitlines()] == ["epoch=1", "epoch=2"]
    assert len(load_model(tmp_path).estimators_) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--optimizer", "rmsprop"], "optimizer='rmsprop': must be one of sgd, nag, adam"),
        (["--learning_rate", "0"], "learning_rate=0.0: must be greater than 0.0"),
    ],
)
def test_bad_hyperparameters_exit_2_with_a_clear_error(tmp_path, args, message):
    code, stdout, stderr = run_script(tmp_path, "image_classifier.py", *args)

    assert code == 2
    assert message in stderr
    assert stdout == ""


def test_sigterm_stops_after_the_epoch_saves_the_model_and_exits_143(tmp_path):
    process = start_script(tmp_path, "image_classifier.py", "--epochs", "1000")
    first_line = process.stdout.readline()
    process.send_signal(signal.SIGTERM)
    code, stdout, stderr = finish(process)

    assert first_line.startswith("epoch=1 ")
    assert code == 143
    assert "stopped by SIGTERM after epoch" in stderr
    assert len(stdout.splitlines()) < 5
    # Saved after a whole epoch: t_ counts the training images seen, 7,185 per epoch.
    samples_seen = load_model(tmp_path).t_
    assert samples_seen >= 7185 and samples_seen % 7185 == 0
