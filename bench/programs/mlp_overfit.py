"""An MLP on a small, noisy training set: validation loss falls, then rises.

scikit-learn's MLPClassifier (Adam, one `partial_fit` pass per epoch) learns a
synthetic 3-class problem (`make_classification`, 30 features of which 8 are
informative, 10 % of the labels flipped) from only 300 training points, judged on
1,000 validation points, for 120 epochs by default: the long workload of the
early-stopping corpus, and the one that overfits late. Prints after each epoch:

    epoch=N train:loss=X validation:loss=Y validation:accuracy=Z

The objective is the validation cross-entropy (Minimize). With that few points a
wide network with little L2 (`alpha`) memorises the flipped labels: its validation
loss reaches a minimum after some tens of epochs and climbs for the rest of the run,
often past where it started, while its accuracy barely moves. So a job's final value
can be much worse than its best, and the jobs that look best in the middle of the
run are not the ones that end best.

Hyperparameters: learning_rate, hidden_units, alpha, mini_batch_size, epochs, seed.
The data and split use a fixed seed; `seed` sets the initial weights and the order
of the points.
"""

from __future__ import annotations

import sys

import numpy as np
from _common import Hyperparameters, TerminationFlag, run_epochs
from sklearn.datasets import make_classification
from sklearn.metrics import log_loss
from sklearn.neural_network import MLPClassifier

DATA_SEED = 0
TRAIN_SIZE = 300
CLASSES = np.arange(3)


def main() -> int:
    terminated = TerminationFlag()
    hps = Hyperparameters.load()
    learning_rate = hps.real("learning_rate", 0.001, low=0.0, high=1.0)
    hidden_units = hps.integer("hidden_units", 128)
    alpha = hps.real("alpha", 1e-4, low=0.0, high=100.0)
    mini_batch_size = hps.integer("mini_batch_size", 32)
    epochs = hps.integer("epochs", 120)
    seed = hps.integer("seed", 0, minimum=0)

    x, y = make_classification(
        n_samples=TRAIN_SIZE + 1000,
        n_features=30,
        n_informative=8,
        n_redundant=4,
        n_classes=len(CLASSES),
        flip_y=0.1,
        random_state=DATA_SEED,
    )
    x_train, y_train, x_valid, y_valid = x[:TRAIN_SIZE], y[:TRAIN_SIZE], x[TRAIN_SIZE:], y[TRAIN_SIZE:]
    model = MLPClassifier(
        hidden_layer_sizes=(hidden_units,),
        learning_rate_init=learning_rate,
        alpha=alpha,
        batch_size=mini_batch_size,
        shuffle=False,
        random_state=seed,
    )
    rng = np.random.default_rng(seed)

    def train_epoch(epoch: int) -> dict[str, float]:
        # Our own shuffle: the estimator's would repeat the same order every epoch.
        order = rng.permutation(TRAIN_SIZE)
        model.partial_fit(x_train[order], y_train[order], classes=CLASSES)
        probabilities = model.predict_proba(x_valid)
        return {
            "train:loss": model.loss_,
            "validation:loss": log_loss(y_valid, probabilities, labels=CLASSES),
            "validation:accuracy": float(np.mean(probabilities.argmax(1) == y_valid)),
        }

    return run_epochs(epochs, train_epoch, lambda: model, terminated)


if __name__ == "__main__":
    sys.exit(main())
