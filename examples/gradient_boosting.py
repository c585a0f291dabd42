"""Gradient-boosted regression trees: an example with an objective to *minimize*.

scikit-learn's GradientBoostingRegressor learns the diabetes-progression data bundled
with scikit-learn (442 patients, 10 features; nothing is downloaded). With
`warm_start` the ensemble grows by `trees_per_stage` trees per stage, and after each
stage the program prints the root-mean-square error on both sets:

    epoch=N train:loss=X validation:loss=Y

A stage plays the part of an epoch, so learning curves and early stopping work as
for a neural network. Validation RMSE typically falls for a few stages and then rises
as the trees overfit, which gives the tuner something to find and early stopping
something to save.

Hyperparameters (all optional): learning_rate, max_depth, subsample, stages,
trees_per_stage, seed. See README.md for ranges.
"""

from __future__ import annotations

import sys

import numpy as np
from sagemaker_env import Hyperparameters, TerminationFlag, finish
from sklearn.datasets import load_diabetes
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.model_selection import train_test_split

# Fixed, not `seed`, so every training job of a tuning job is judged on the same patients.
SPLIT_SEED = 0


def rmse(model: GradientBoostingRegressor, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.sqrt(np.mean((model.predict(x) - y) ** 2)))


def main() -> int:
    terminated = TerminationFlag()
    hps = Hyperparameters.load()
    learning_rate = hps.real("learning_rate", 0.05, low=0.0, high=1.0)
    max_depth = hps.integer("max_depth", 2)
    subsample = hps.real("subsample", 1.0, low=0.0, high=1.0)
    stages = hps.integer("stages", 20)
    trees_per_stage = hps.integer("trees_per_stage", 10)
    seed = hps.integer("seed", 0, minimum=0)

    features, target = load_diabetes(return_X_y=True)
    x_train, x_valid, y_train, y_valid = train_test_split(features, target, test_size=0.2, random_state=SPLIT_SEED)
    model = GradientBoostingRegressor(
        learning_rate=learning_rate,
        max_depth=max_depth,
        subsample=subsample,
        random_state=seed,
        warm_start=True,
    )

    completed_stages = 0
    for stage in range(1, stages + 1):
        if terminated.raised:
            break
        # warm_start: fit() keeps the trees it has and only adds the missing ones.
        model.set_params(n_estimators=stage * trees_per_stage)
        model.fit(x_train, y_train)
        train_rmse = rmse(model, x_train, y_train)
        valid_rmse = rmse(model, x_valid, y_valid)
        print(f"epoch={stage} train:loss={train_rmse:.6g} validation:loss={valid_rmse:.6g}", flush=True)
        completed_stages = stage

    return finish(model, terminated, f"stage {completed_stages}")


if __name__ == "__main__":
    sys.exit(main())
