"""Gradient boosting by stage on Hastie's additive problem: slow learners end best.

scikit-learn's GradientBoostingClassifier learns `make_hastie_10_2` (ten Gaussian
features; the class is whether their sum of squares exceeds 9.34, the chi-square
median) with 15 % of the labels flipped, growing `trees_per_stage` trees per stage
with `warm_start`, and prints the validation log loss (binomial deviance) after each
stage:

    epoch=N train:logloss=X validation:logloss=Y validation:error=Z

Why the best jobs start slowly: the true boundary is additive in the features, so
shallow trees suit it, and boosting's deviance rewards a small learning_rate
(shrinkage) given enough trees (Hastie, Tibshirani & Friedman, The Elements of
Statistical Learning, 10.12, Figures 10.9 and 10.11). After a few stages those jobs
are still near the prior's log loss of 0.69 while deep trees with a large learning
rate are far ahead; the deep, fast ones then fit the flipped labels and their
validation log loss climbs, often past 0.69.

Hyperparameters: learning_rate, max_depth, subsample, stages, trees_per_stage, seed.
The data and split use a fixed seed (2,000 training, 2,000 validation points).
"""

from __future__ import annotations

import sys

import numpy as np
from _common import Hyperparameters, TerminationFlag, run_epochs
from sklearn.datasets import make_hastie_10_2
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import log_loss

DATA_SEED = 0
TRAIN_SIZE = 2000
LABEL_NOISE = 0.15


def main() -> int:
    terminated = TerminationFlag()
    hps = Hyperparameters.load()
    learning_rate = hps.real("learning_rate", 0.1, low=0.0, high=10.0)
    max_depth = hps.integer("max_depth", 1)
    subsample = hps.real("subsample", 1.0, low=0.0, high=1.0)
    stages = hps.integer("stages", 40)
    trees_per_stage = hps.integer("trees_per_stage", 10)
    seed = hps.integer("seed", 0, minimum=0)

    x, y = make_hastie_10_2(n_samples=2 * TRAIN_SIZE, random_state=DATA_SEED)
    # Label noise, in both sets as in real data: it is what makes fast learners overfit.
    y = (y > 0).astype(int) ^ (np.random.default_rng(DATA_SEED).random(len(y)) < LABEL_NOISE)
    x_train, y_train, x_valid, y_valid = x[:TRAIN_SIZE], y[:TRAIN_SIZE], x[TRAIN_SIZE:], y[TRAIN_SIZE:]
    model = GradientBoostingClassifier(
        learning_rate=learning_rate, max_depth=max_depth, subsample=subsample, random_state=seed, warm_start=True
    )

    def train_epoch(stage: int) -> dict[str, float]:
        # warm_start: fit() keeps the trees it has and only adds the missing ones.
        model.set_params(n_estimators=stage * trees_per_stage)
        model.fit(x_train, y_train)
        valid = model.predict_proba(x_valid)[:, 1]
        return {
            "train:logloss": log_loss(y_train, model.predict_proba(x_train)[:, 1]),
            "validation:logloss": log_loss(y_valid, valid),
            "validation:error": float(np.mean((valid > 0.5) != y_valid)),
        }

    return run_epochs(stages, train_epoch, lambda: model, terminated)


if __name__ == "__main__":
    sys.exit(main())
