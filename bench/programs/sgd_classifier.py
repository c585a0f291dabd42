"""A linear classifier by SGD, judged on a small validation set: a noisy objective.

scikit-learn's SGDClassifier (one `partial_fit` pass per epoch) learns a synthetic
binary problem (`make_classification`: 20 features, 5 % of the labels flipped, 20,000
training points). Only 80 points are held out for validation, as when data are
scarce, so accuracy moves in steps of 1/80 and a constant learning rate makes it
jump from epoch to epoch: the noisy workload of the early-stopping corpus. Prints
after each epoch:

    epoch=N validation:accuracy=X validation:loss=Y

Hyperparameters: loss (hinge | log_loss | modified_huber), learning_rate (the
schedule: constant | optimal | invscaling | adaptive), eta0 (initial step), alpha
(L2), epochs, seed. The data and split use a fixed seed.
"""

from __future__ import annotations

import sys

import numpy as np
from _common import Hyperparameters, TerminationFlag, run_epochs
from sklearn.datasets import make_classification
from sklearn.linear_model import SGDClassifier

DATA_SEED = 0
TRAIN_SIZE = 20000
VALIDATION_SIZE = 80
CLASSES = np.array([0, 1])


def main() -> int:
    terminated = TerminationFlag()
    hps = Hyperparameters.load()
    loss = hps.string("loss", "hinge", choices=["hinge", "log_loss", "modified_huber"])
    schedule = hps.string("learning_rate", "optimal", choices=["constant", "optimal", "invscaling", "adaptive"])
    eta0 = hps.real("eta0", 0.01, low=0.0, high=100.0)
    alpha = hps.real("alpha", 1e-4, low=0.0, high=100.0)
    epochs = hps.integer("epochs", 30)
    seed = hps.integer("seed", 0, minimum=0)

    x, y = make_classification(
        n_samples=TRAIN_SIZE + VALIDATION_SIZE,
        n_features=20,
        n_informative=6,
        n_redundant=4,
        class_sep=0.8,
        flip_y=0.05,
        random_state=DATA_SEED,
    )
    x_train, y_train = x[VALIDATION_SIZE:], y[VALIDATION_SIZE:]
    x_valid, y_valid = x[:VALIDATION_SIZE], y[:VALIDATION_SIZE]
    model = SGDClassifier(loss=loss, learning_rate=schedule, eta0=eta0, alpha=alpha, random_state=seed)
    rng = np.random.default_rng(seed)

    def train_epoch(epoch: int) -> dict[str, float]:
        order = rng.permutation(len(x_train))
        model.partial_fit(x_train[order], y_train[order], classes=CLASSES)
        margins = model.decision_function(x_valid) * np.where(y_valid == 1, 1, -1)
        return {
            "validation:accuracy": float(np.mean(margins > 0)),
            "validation:loss": float(np.mean(np.maximum(0, 1 - margins))),  # hinge, whatever the training loss
        }

    return run_epochs(epochs, train_epoch, lambda: model, terminated)


if __name__ == "__main__":
    sys.exit(main())
