"""A numpy MLP trained with learning-rate warm-up and a constant rate: slow starters.

A two-hidden-layer ReLU network, written out in numpy (forward, backward, SGD with
Nesterov momentum), learns a synthetic 4-class problem (`make_classification`: 20
features, 12 informative, 3 clusters per class, 8,000 training and 2,000 validation
points). The learning rate rises linearly from near zero to `learning_rate` over
`warmup_epochs` (Goyal et al. 2017) and then stays there, as in the many recipes
without a decay. Prints after each epoch:

    epoch=N train:loss=X validation:loss=Y validation:accuracy=Z

The objective is the validation cross-entropy (Minimize). Why the best jobs start
slowly: at a constant rate, SGD settles at a noise floor that grows with the rate
and shrinks with the batch, and a fast learner also overfits sooner. So small rates,
large batches and long warm-ups, all slow in the first epochs, end best, while jobs
with a large rate and small batches lead at first and then stall or climb; rates
near 1 kill the ReLUs (the loss then sticks at ln 4 = 1.39).

Hyperparameters: learning_rate (after warm-up), warmup_epochs, mini_batch_size,
hidden_units, epochs, seed. The data and split use a fixed seed.
"""

from __future__ import annotations

import math
import sys

import numpy as np
from _common import Hyperparameters, TerminationFlag, run_epochs
from sklearn.datasets import make_classification

DATA_SEED = 0
TRAIN_SIZE = 8000
CLASSES = 4
MOMENTUM = 0.9


class MLP:
    def __init__(self, inputs: int, hidden: int, rng: np.random.Generator):
        sizes = [inputs, hidden, hidden, CLASSES]
        # He initialisation, the usual one for ReLU layers.
        self.weights = [rng.normal(0, math.sqrt(2 / a), (a, b)) for a, b in zip(sizes, sizes[1:], strict=False)]
        self.biases = [np.zeros(b) for b in sizes[1:]]
        self._velocity = [np.zeros_like(p) for p in self.weights + self.biases]

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        """Every layer's activations, the input first and the logits last."""
        activations = [x]
        for layer, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            z = activations[-1] @ w + b
            activations.append(z if layer == len(self.weights) - 1 else np.maximum(z, 0))
        return activations

    def step(self, x: np.ndarray, y: np.ndarray, learning_rate: float) -> float:
        """One SGD step with Nesterov momentum on the mean cross-entropy; returns the loss."""
        activations = self.forward(x)
        probabilities = softmax(activations[-1])
        loss = cross_entropy(probabilities, y)
        delta = probabilities
        delta[np.arange(len(y)), y] -= 1
        delta /= len(y)
        gradients_w, gradients_b = [], []
        for layer in reversed(range(len(self.weights))):
            gradients_w.insert(0, activations[layer].T @ delta)
            gradients_b.insert(0, delta.sum(0))
            if layer:
                delta = (delta @ self.weights[layer].T) * (activations[layer] > 0)
        for parameter, gradient, velocity in zip(
            self.weights + self.biases, gradients_w + gradients_b, self._velocity, strict=True
        ):
            velocity *= MOMENTUM
            velocity -= learning_rate * gradient
            parameter += MOMENTUM * velocity - learning_rate * gradient
        return loss


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(1, keepdims=True))
    return shifted / shifted.sum(1, keepdims=True)


def cross_entropy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return -float(np.mean(np.log(probabilities[np.arange(len(labels)), labels] + 1e-12)))


def schedule(rate: float, warmup_epochs: int, progress: float) -> float:
    """The learning rate after `progress` epochs (fractional): linear warm-up, then constant."""
    if progress < warmup_epochs:
        return rate * (progress + 1e-3) / warmup_epochs
    return rate


def main() -> int:
    terminated = TerminationFlag()
    hps = Hyperparameters.load()
    learning_rate = hps.real("learning_rate", 0.1, low=0.0, high=100.0)
    warmup_epochs = hps.integer("warmup_epochs", 0, minimum=0)
    mini_batch_size = hps.integer("mini_batch_size", 64)
    hidden_units = hps.integer("hidden_units", 64)
    epochs = hps.integer("epochs", 60)
    seed = hps.integer("seed", 0, minimum=0)

    x, y = make_classification(
        n_samples=TRAIN_SIZE + 2000,
        n_features=20,
        n_informative=12,
        n_redundant=2,
        n_classes=CLASSES,
        n_clusters_per_class=3,
        flip_y=0.02,
        random_state=DATA_SEED,
    )
    x_train, y_train, x_valid, y_valid = x[:TRAIN_SIZE], y[:TRAIN_SIZE], x[TRAIN_SIZE:], y[TRAIN_SIZE:]
    rng = np.random.default_rng(seed)
    model = MLP(x.shape[1], hidden_units, rng)
    steps_per_epoch = math.ceil(TRAIN_SIZE / mini_batch_size)

    def train_epoch(epoch: int) -> dict[str, float]:
        order = rng.permutation(TRAIN_SIZE)
        losses = []
        for step, start in enumerate(range(0, TRAIN_SIZE, mini_batch_size)):
            rate = schedule(learning_rate, warmup_epochs, epoch - 1 + step / steps_per_epoch)
            batch = order[start : start + mini_batch_size]
            losses.append(model.step(x_train[batch], y_train[batch], rate))
        probabilities = softmax(model.forward(x_valid)[-1])
        return {
            "train:loss": float(np.mean(losses)),
            "validation:loss": cross_entropy(probabilities, y_valid),
            "validation:accuracy": float(np.mean(probabilities.argmax(1) == y_valid)),
        }

    # A diverging run overflows; its nan loss is the result, the warnings are noise.
    with np.errstate(over="ignore", invalid="ignore"):
        return run_epochs(epochs, train_epoch, lambda: model, terminated)


if __name__ == "__main__":
    sys.exit(main())
