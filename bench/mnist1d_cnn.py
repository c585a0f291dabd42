"""A small 1-D CNN on MNIST-1D: the early-stopping benchmark's second, harder workload.

MNIST-1D (Greydanus, 2020) is a 1-D analogue of MNIST: 10 digit templates of length
12, padded, scaled, sheared, shifted and noised into 40-sample signals. The `mnist1d`
package generates it from a seed, offline (its `get_dataset` would download the
original pickle; `make_dataset` does not). 4,000 training and 1,000 validation
signals; a small CNN reaches about 90-95 %, a linear model about 30 %, so learning
rates and optimizers matter much more than on the 8x8 digits.

Prints after each epoch, like the image-classifier example:

    epoch=N train:loss=X validation:accuracy=Y

Hyperparameters (SageMaker style, see examples/sagemaker_env.py): learning_rate,
mini_batch_size, optimizer (sgd | nag | adam), channels, epochs, seed.

The generated data set is cached as .npz (`MNIST1D_CACHE`, default
`var/mnist1d-seed42.npz` in the repository): generating it costs several seconds,
which would otherwise be paid by every training job.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "examples"))

from sagemaker_env import (  # noqa: E402
    TERMINATED_BY_SIGTERM,
    Hyperparameters,
    TerminationFlag,
    save_model,
)

DATA_SEED = 42  # mnist1d's own default: every job sees the same data set


def load_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    cache = Path(os.environ.get("MNIST1D_CACHE", REPO / "var" / f"mnist1d-seed{DATA_SEED}.npz"))
    if not cache.exists():
        from mnist1d.data import get_dataset_args, make_dataset

        args = get_dataset_args()
        args.seed = DATA_SEED
        data = make_dataset(args)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f"{cache.stem}.{os.getpid()}.tmp.npz")
        np.savez(tmp, x=data["x"], y=data["y"], x_test=data["x_test"], y_test=data["y_test"])
        os.replace(tmp, cache)  # atomic: parallel jobs never read half a file
    with np.load(cache) as data:
        return data["x"], data["y"], data["x_test"], data["y_test"]


def build_model(channels: int):
    from torch import nn

    # Three strided convolutions (40 -> 20 -> 10 -> 5 samples), then a linear layer:
    # the shape of the CNN baseline in the MNIST-1D paper, narrower.
    return nn.Sequential(
        nn.Conv1d(1, channels, 5, stride=2, padding=2),
        nn.ReLU(),
        nn.Conv1d(channels, channels, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv1d(channels, channels, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(channels * 5, 10),
    )


def main() -> int:
    terminated = TerminationFlag()
    hps = Hyperparameters.load()
    learning_rate = hps.real("learning_rate", 0.01, low=0.0, high=10.0)
    mini_batch_size = hps.integer("mini_batch_size", 64)
    optimizer_name = hps.string("optimizer", "adam", choices=["sgd", "nag", "adam"])
    channels = hps.integer("channels", 16)
    epochs = hps.integer("epochs", 30)
    seed = hps.integer("seed", 0, minimum=0)

    import torch

    torch.set_num_threads(1)  # one core per training job, as the local backend plans
    torch.manual_seed(seed)
    x_train, y_train, x_valid, y_valid = load_data()
    x_train = torch.tensor(x_train, dtype=torch.float32).unsqueeze(1)
    y_train = torch.tensor(y_train, dtype=torch.long)
    x_valid = torch.tensor(x_valid, dtype=torch.float32).unsqueeze(1)
    y_valid = torch.tensor(y_valid, dtype=torch.long)

    model = build_model(channels)
    if optimizer_name == "adam":
        optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    else:
        momentum = 0.9 if optimizer_name == "nag" else 0.0
        optimizer = torch.optim.SGD(
            model.parameters(), lr=learning_rate, momentum=momentum, nesterov=optimizer_name == "nag"
        )
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)

    completed = 0
    for epoch in range(1, epochs + 1):
        if terminated.raised:
            break
        model.train()
        order = torch.randperm(len(x_train), generator=generator)
        total, batches = 0.0, 0
        for start in range(0, len(order), mini_batch_size):
            batch = order[start : start + mini_batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(x_train[batch]), y_train[batch])
            loss.backward()
            optimizer.step()
            total += loss.item()
            batches += 1
        model.eval()
        with torch.no_grad():
            accuracy = (model(x_valid).argmax(1) == y_valid).float().mean().item()
        print(f"epoch={epoch} train:loss={total / batches:.6g} validation:accuracy={accuracy:.4f}", flush=True)
        completed = epoch

    save_model({name: tensor.numpy() for name, tensor in model.state_dict().items()})
    if terminated.raised:
        print(f"stopped by SIGTERM after epoch {completed}; model saved", file=sys.stderr)
        return TERMINATED_BY_SIGTERM
    return 0


if __name__ == "__main__":
    sys.exit(main())
