"""A training program that runs outside Tuneboard and reports through the API.

Usage: python external_trainer.py BASE_URL USER_TOKEN TUNING_JOB [--epochs N]

It claims training jobs of TUNING_JOB one after another until the tuning
job has ended, trains scikit-learn's MLP on the bundled digits for each (the
image-classifier example's model), reports validation:accuracy every epoch
and stops when Tuneboard says so.
"""

import argparse
import sys
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from tuneboard_trainer import claim, tuning_job_status


def train(trainer, epochs):
    hp = trainer.hyperparameters
    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(x / 16.0, y, test_size=0.25, random_state=0)
    model = MLPClassifier(hidden_layer_sizes=(64,), learning_rate_init=float(hp["learning_rate"]),
                          batch_size=int(hp.get("mini_batch_size", 32)), solver="sgd", momentum=0.0,
                          random_state=0)  # fmt: skip
    classes = np.unique(y)
    for epoch in range(1, epochs + 1):
        model.partial_fit(x_train, y_train, classes=classes)
        accuracy = model.score(x_val, y_val)
        print(f"{trainer.name} epoch={epoch} validation:accuracy={accuracy:.4f}", flush=True)
        if trainer.report(epoch, {"validation:accuracy": accuracy, "train:loss": model.loss_}):
            print(f"{trainer.name} stopped: {trainer.stop_reason}", flush=True)
            trainer.finish("Stopped")
            return
    trainer.finish("Completed")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url")
    parser.add_argument("user_token")
    parser.add_argument("tuning_job")
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    while True:
        trainer = claim(args.base_url, args.user_token, args.tuning_job)
        if trainer is None:
            # Tuneboard creates the next jobs as earlier ones end: wait for them.
            if tuning_job_status(args.base_url, args.user_token, args.tuning_job) != "InProgress":
                return 0
            time.sleep(0.5)
            continue
        try:
            train(trainer, args.epochs)
        except Exception as exc:
            trainer.finish("Failed", failure_reason=f"{type(exc).__name__}: {exc}")
            raise


if __name__ == "__main__":
    sys.exit(main())
