"""An image classifier that reads its data the SageMaker way, from its input channels.

The stand-in for SageMaker's built-in image-classification algorithm in the seed's
notebook (examples/seed_notebook.py): softmax regression on 8x8 digit images, trained
in mini-batches with one of the notebook's four optimizers, on whatever CSV files the
channels hold:

    input/data/train/*.csv        input/data/validation/*.csv

(under $SM_INPUT_DIR when a backend runs it, else under the working directory), each
row a label 0-9 and then 64 pixel intensities 0-16. After each epoch it prints

    epoch=N train:loss=X validation:accuracy=Y

Hyperparameters: learning_rate, mini_batch_size, optimizer (sgd | nag | adam |
rmsprop), epochs, seed, and epoch_seconds: a pause after each epoch that stands in
for the minutes an epoch of the notebook's Caltech-256 takes, so that early stopping
has something to save. Others (the notebook's num_classes, ...) are ignored, as
SageMaker's algorithms ignore what they do not know. The model, and how many rows of
each channel it learned from, is pickled to $SM_MODEL_DIR/model.pkl.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
from sagemaker_env import Hyperparameters, TerminationFlag, fail, finish

CLASSES = 10
PIXELS = 64
MAX_INTENSITY = 16.0
OPTIMIZERS = ("sgd", "nag", "adam", "rmsprop")
MOMENTUM = 0.9
EPSILON = 1e-8
# A pause is slept in slices, so that SIGTERM (a stop) ends it within one slice.
SLICE_SECONDS = 0.05


def read_channel(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(images scaled to 0..1, labels) of every CSV file in the channel's directory."""
    directory = Path(os.environ.get("SM_INPUT_DIR", "input")) / "data" / name
    files = sorted(directory.rglob("*.csv"))
    if not files:
        fail(f"no CSV files in channel {name!r} ({directory})")
    try:
        rows = np.concatenate([np.loadtxt(path, delimiter=",", ndmin=2) for path in files])
    except ValueError as exc:
        fail(f"channel {name!r}: {exc}")
    if rows.shape[1] != 1 + PIXELS:
        fail(f"channel {name!r}: rows have {rows.shape[1]} columns, expected a label and {PIXELS} pixels")
    return rows[:, 1:] / MAX_INTENSITY, rows[:, 0].astype(int)


class Optimizer:
    """One update rule over the parameters [weights, bias]."""

    def __init__(self, kind: str, learning_rate: float, shapes: list[tuple[int, ...]]):
        self.kind = kind
        self.learning_rate = learning_rate
        self.first = [np.zeros(shape) for shape in shapes]
        self.second = [np.zeros(shape) for shape in shapes]
        self.steps = 0

    def step(self, parameters: list[np.ndarray], gradients: list[np.ndarray]) -> None:
        self.steps += 1
        rate = self.learning_rate
        for parameter, gradient, first, second in zip(parameters, gradients, self.first, self.second, strict=True):
            if self.kind == "sgd":
                parameter -= rate * gradient
            elif self.kind == "nag":
                first *= MOMENTUM
                first -= rate * gradient
                parameter += MOMENTUM * first - rate * gradient
            elif self.kind == "adam":
                first += (1 - 0.9) * (gradient - first)
                second += (1 - 0.999) * (gradient**2 - second)
                unbiased = first / (1 - 0.9**self.steps), second / (1 - 0.999**self.steps)
                parameter -= rate * unbiased[0] / (np.sqrt(unbiased[1]) + EPSILON)
            else:  # rmsprop
                second += (1 - 0.9) * (gradient**2 - second)
                parameter -= rate * gradient / (np.sqrt(second) + EPSILON)


def probabilities(images: np.ndarray, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
    logits = images @ weights + bias
    logits -= logits.max(axis=1, keepdims=True)
    exponentials = np.exp(logits)
    return exponentials / exponentials.sum(axis=1, keepdims=True)


def pause(seconds: float, terminated: TerminationFlag) -> None:
    deadline = time.monotonic() + seconds
    while not terminated.raised and (left := deadline - time.monotonic()) > 0:
        time.sleep(min(SLICE_SECONDS, left))


def main() -> int:
    terminated = TerminationFlag()
    hps = Hyperparameters.load()
    learning_rate = hps.real("learning_rate", 0.01, low=0.0, high=1.0)
    mini_batch_size = hps.integer("mini_batch_size", 32)
    optimizer_kind = hps.string("optimizer", "adam", choices=OPTIMIZERS)
    epochs = hps.integer("epochs", 10)
    seed = hps.integer("seed", 0, minimum=0)
    epoch_seconds = hps.nonnegative("epoch_seconds", 0.0)

    x_train, y_train = read_channel("train")
    x_valid, y_valid = read_channel("validation")
    print(f"train: {len(x_train)} images, validation: {len(x_valid)} images", flush=True)
    rng = np.random.default_rng(seed)
    weights = rng.normal(0.0, 0.01, (PIXELS, CLASSES))
    bias = np.zeros(CLASSES)
    optimizer = Optimizer(optimizer_kind, learning_rate, [weights.shape, bias.shape])
    one_hot = np.eye(CLASSES)[y_train]

    completed_epochs = 0
    for epoch in range(1, epochs + 1):
        if terminated.raised:
            break
        order = rng.permutation(len(x_train))
        losses = []
        for start in range(0, len(order), mini_batch_size):
            batch = order[start : start + mini_batch_size]
            predicted = probabilities(x_train[batch], weights, bias)
            losses.append(-np.mean(np.log(predicted[np.arange(len(batch)), y_train[batch]] + EPSILON)))
            error = (predicted - one_hot[batch]) / len(batch)
            optimizer.step([weights, bias], [x_train[batch].T @ error, error.sum(axis=0)])
        accuracy = np.mean(probabilities(x_valid, weights, bias).argmax(axis=1) == y_valid)
        print(f"epoch={epoch} train:loss={np.mean(losses):.6g} validation:accuracy={accuracy:.4f}", flush=True)
        completed_epochs = epoch
        if epoch < epochs:
            pause(epoch_seconds, terminated)

    return finish(
        {"weights": weights, "bias": bias, "trained_on": {"train": len(x_train), "validation": len(x_valid)}},
        terminated,
        f"epoch {completed_epochs}",
    )


if __name__ == "__main__":
    sys.exit(main())
