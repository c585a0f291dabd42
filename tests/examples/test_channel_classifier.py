"""examples/channel_classifier.py, run as a process on channel files in its working directory."""

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "channel_classifier.py"


def write_channel(job_dir: Path, name: str, rows: np.ndarray) -> None:
    directory = job_dir / "input" / "data" / name
    directory.mkdir(parents=True, exist_ok=True)
    np.savetxt(directory / "part-0.csv", rows, fmt="%d", delimiter=",")


@pytest.fixture
def job_dir(tmp_path):
    images, labels = load_digits(return_X_y=True)
    rows = np.column_stack([labels, images])
    write_channel(tmp_path, "train", rows[:300])
    write_channel(tmp_path, "validation", rows[300:400])
    return tmp_path


def start(job_dir: Path, *args: str) -> subprocess.Popen:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SM_")}
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), *args],
        cwd=job_dir,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(job_dir: Path, *args: str) -> tuple[int, str, str]:
    stdout, stderr = (process := start(job_dir, *args)).communicate(timeout=60)
    return process.returncode, stdout, stderr


def model(job_dir: Path) -> dict:
    with open(job_dir / "model" / "model.pkl", "rb") as file:
        return pickle.load(file)


@pytest.mark.parametrize(
    ("optimizer", "learning_rate"), [("sgd", "0.5"), ("nag", "0.2"), ("adam", "0.05"), ("rmsprop", "0.02")]
)
def test_it_learns_from_its_channels_with_each_of_the_seeds_optimizers(job_dir, optimizer, learning_rate):
    code, stdout, stderr = run(job_dir, "--optimizer", optimizer, "--learning_rate", learning_rate, "--epochs", "3")

    assert code == 0, stderr
    lines = stdout.splitlines()
    assert lines[0] == "train: 300 images, validation: 100 images"
    assert [line.split()[0] for line in lines[1:]] == ["epoch=1", "epoch=2", "epoch=3"]
    accuracy = float(lines[-1].rsplit("validation:accuracy=", 1)[1])
    assert 0.7 < accuracy <= 1
    assert accuracy * 100 == pytest.approx(round(accuracy * 100))  # a share of the 100 validation images
    assert model(job_dir)["trained_on"] == {"train": 300, "validation": 100}


def test_the_channels_decide_what_it_learns(job_dir):
    # Every validation label shifted by one: what it learned from train is now always wrong.
    images, labels = load_digits(return_X_y=True)
    write_channel(job_dir, "validation", np.column_stack([(labels[300:400] + 1) % 10, images[300:400]]))

    code, stdout, stderr = run(job_dir, "--learning_rate", "0.05", "--epochs", "3")

    assert code == 0, stderr
    assert float(stdout.splitlines()[-1].rsplit("validation:accuracy=", 1)[1]) < 0.2


@pytest.mark.parametrize(
    ("channel", "rows", "message"),
    [
        ("validation", None, "error: no CSV files in channel 'validation'"),
        ("train", np.ones((3, 10)), "error: channel 'train': rows have 10 columns, expected a label and 64 pixels"),
    ],
)
def test_a_missing_or_malformed_channel_exits_2_saying_which(job_dir, channel, rows, message):
    (job_dir / "input" / "data" / channel / "part-0.csv").unlink()
    if rows is not None:
        write_channel(job_dir, channel, rows)

    code, stdout, stderr = run(job_dir)

    assert (code, stdout) == (2, "")
    assert stderr.startswith(message)


def test_sigterm_during_an_epochs_pause_stops_at_once_and_keeps_the_model(job_dir):
    process = start(job_dir, "--epochs", "5", "--epoch_seconds", "30")
    process.stdout.readline()
    first_epoch = process.stdout.readline()
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=10)

    assert time.monotonic() - sent < 2
    assert first_epoch.startswith("epoch=1 ") and stdout == ""
    assert process.returncode == 143
    assert "stopped by SIGTERM after epoch 1; model saved" in stderr
    assert model(job_dir)["weights"].shape == (64, 10)
