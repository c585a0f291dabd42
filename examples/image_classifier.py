"""Image classification, the example of SageMaker's tuning blog, at laptop scale.

A scikit-learn multi-layer perceptron learns the 8x8 handwritten digits bundled with
scikit-learn (nothing is downloaded), one epoch at a time, and prints after each
epoch:

    epoch=N train:loss=X validation:accuracy=Y

Hyperparameters (all optional): learning_rate, mini_batch_size, optimizer
(sgd | nag | adam), epochs, hidden_units, seed. See README.md for ranges.

The validation split uses a fixed seed, not `seed`, so every training job of a
tuning job is judged on the same images. The 1,437 training images are enlarged
five-fold with one-pixel shifts (up, down, left, right): that makes an epoch take a
realistic fraction of a second on one core, so there are curves to watch and epochs
for early stopping to save, and it is the classic augmentation for digit images.
Shifted copies of validation images are never trained on.
"""

from __future__ import annotations

import sys

import numpy as np
from sagemaker_env import Hyperparameters, TerminationFlag, finish
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

SPLIT_SEED = 0
CLASSES = np.arange(10)
OPTIMIZERS = {
    "sgd": {"solver": "sgd", "momentum": 0.0},
    "nag": {"solver": "sgd", "momentum": 0.9, "nesterovs_momentum": True},
    "adam": {"solver": "adam"},
}


def load_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    images, labels = load_digits(return_X_y=True)
    images = images / 16.0  # pixel intensities are 0..16
    x_train, x_valid, y_train, y_valid = train_test_split(
        images, labels, test_size=0.2, random_state=SPLIT_SEED, stratify=labels
    )
    return *augment(x_train, y_train), x_valid, y_valid


def augment(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The images plus their four one-pixel shifts, vacated edges set to blank."""
    images = x.reshape(-1, 8, 8)
    padded = np.pad(images, ((0, 0), (1, 1), (1, 1)))
    shifted = [padded[:, 1 + dy : 9 + dy, 1 + dx : 9 + dx] for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))]
    return np.concatenate([images, *shifted]).reshape(-1, 64), np.tile(y, 5)


def main() -> int:
    terminated = TerminationFlag()
    hps = Hyperparameters.load()
    learning_rate = hps.real("learning_rate", 0.001, low=0.0, high=1.0)
    mini_batch_size = hps.integer("mini_batch_size", 32)
    optimizer = hps.string("optimizer", "adam", choices=list(OPTIMIZERS))
    epochs = hps.integer("epochs", 30)
    hidden_units = hps.integer("hidden_units", 128)
    seed = hps.integer("seed", 0, minimum=0)

    x_train, y_train, x_valid, y_valid = load_data()
    # Mini-batches are formed inside partial_fit (batch_size): calling it once per
    # batch would spend ~9 ms per call on input validation, 100 times the arithmetic.
    # shuffle=False because we shuffle with our own generator, which, unlike the
    # estimator's, advances from one epoch to the next.
    model = MLPClassifier(
        hidden_layer_sizes=(hidden_units,),
        learning_rate_init=learning_rate,
        batch_size=mini_batch_size,
        shuffle=False,
        random_state=seed,
        **OPTIMIZERS[optimizer],
    )
    rng = np.random.default_rng(seed)

    completed_epochs = 0
    for epoch in range(1, epochs + 1):
        if terminated.raised:
            break
        order = rng.permutation(len(x_train))
        model.partial_fit(x_train[order], y_train[order], classes=CLASSES)
        accuracy = model.score(x_valid, y_valid)
        print(f"epoch={epoch} train:loss={model.loss_:.6g} validation:accuracy={accuracy:.4f}", flush=True)
        completed_epochs = epoch

    return finish(model, terminated, f"epoch {completed_epochs}")


if __name__ == "__main__":
    sys.exit(main())
