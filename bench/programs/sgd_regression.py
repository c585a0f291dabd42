"""Linear regression on polynomial features, trained by plain mini-batch SGD.

The early-stopping corpus's heavy-tailed Minimize workload. Friedman's #1 regression
problem (scikit-learn's `make_friedman1`: y = 10 sin(pi x1 x2) + 20 (x3 - 0.5)^2 +
10 x4 + 5 x5 + noise, five more features that are pure noise) is expanded into all
monomials up to `degree`, standardised, and fitted by SGD on the squared error with
an L2 penalty, from zero weights. Prints after each epoch:

    epoch=N train:mse=X validation:mse=Y

Why the values are heavy-tailed: the weights start at zero, so the first epochs'
error is that of predicting 0 (about 220, against about 2-6 for a fitted model);
monomials of degree 3 make the problem badly conditioned, so a learning rate that is
fine for degree 1 makes degree 3 oscillate to errors in the thousands or overflow to
inf and nan, which are printed as such. Nothing stops a diverged run early: that is
early stopping's job.

Hyperparameters: learning_rate, mini_batch_size, degree (1-3), l2, epochs, seed.
The data and the split use a fixed seed, so every job is judged on the same 1,000
validation points; `seed` only orders the mini-batches.
"""

from __future__ import annotations

import sys

import numpy as np
from _common import Hyperparameters, TerminationFlag, run_epochs
from sklearn.datasets import make_friedman1
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

DATA_SEED = 0
TRAIN_SIZE = 10000


def load_data(degree: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = make_friedman1(n_samples=TRAIN_SIZE + 1000, n_features=10, noise=1.0, random_state=DATA_SEED)
    x = PolynomialFeatures(degree, include_bias=False).fit_transform(x)
    scaler = StandardScaler().fit(x[:TRAIN_SIZE])
    x = np.hstack([np.ones((len(x), 1)), scaler.transform(x)])  # the first weight is the intercept
    return x[:TRAIN_SIZE], y[:TRAIN_SIZE], x[TRAIN_SIZE:], y[TRAIN_SIZE:]


def mse(weights: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((x @ weights - y) ** 2))


def main() -> int:
    terminated = TerminationFlag()
    hps = Hyperparameters.load()
    learning_rate = hps.real("learning_rate", 0.01, low=0.0, high=100.0)
    mini_batch_size = hps.integer("mini_batch_size", 32)
    degree = int(hps.string("degree", "2", choices=["1", "2", "3"]))
    l2 = hps.real("l2", 1e-4, low=0.0, high=100.0)
    epochs = hps.integer("epochs", 40)
    seed = hps.integer("seed", 0, minimum=0)

    x_train, y_train, x_valid, y_valid = load_data(degree)
    weights = np.zeros(x_train.shape[1])
    rng = np.random.default_rng(seed)

    def train_epoch(epoch: int) -> dict[str, float]:
        nonlocal weights
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), mini_batch_size):
            batch = order[start : start + mini_batch_size]
            residual = x_train[batch] @ weights - y_train[batch]
            gradient = 2 * x_train[batch].T @ residual / len(batch) + 2 * l2 * weights
            weights = weights - learning_rate * gradient
        return {"train:mse": mse(weights, x_train, y_train), "validation:mse": mse(weights, x_valid, y_valid)}

    # A diverging run overflows on purpose; the warnings would only flood the log.
    with np.errstate(over="ignore", invalid="ignore"):
        return run_epochs(epochs, train_epoch, lambda: weights, terminated)


if __name__ == "__main__":
    sys.exit(main())
