"""A one-layer transformer learns to look up a token by position: the short workload.

Each synthetic sequence is a pointer token naming a position k, then 16 random digits;
the label is the digit at position k. Nothing short of attention from the pointer to
position k solves it (the digits are uniform, so any pooled summary is at chance,
0.1), which makes it a small but genuine transformer task. A torch
`TransformerEncoderLayer` (post-norm, as in the original transformer, the variant
that needs warm-up at large learning rates: Xiong et al. 2020) reads the sequence
with learned position embeddings, and a linear layer classifies the pointer's output.
Adam, learning rate warmed up linearly over `warmup_epochs`, then constant; 8 epochs
of 4,000 sequences by default: the short workload of the early-stopping corpus.
Prints after each epoch:

    epoch=N train:loss=X validation:loss=Y validation:accuracy=Z

The objective is the validation cross-entropy (Minimize): accuracy reaches 1.0 for
every job that solves the task, and would tie them all, while the loss keeps telling
them apart. Learning shows a plateau near chance (loss ln 10 = 2.30) and then a
sudden drop once attention finds the pointed-at position, so when a job leaves the
plateau matters more than how it started.

Hyperparameters: learning_rate, warmup_epochs, mini_batch_size, d_model (16 | 32 |
64), epochs, seed. The sequences come from a fixed seed (2,000 for validation).
"""

from __future__ import annotations

import sys

import numpy as np
from _common import Hyperparameters, TerminationFlag, run_epochs

DATA_SEED = 0
LENGTH = 16
DIGITS = 10
TRAIN_SIZE = 4000
VALIDATION_SIZE = 2000


def make_sequences(count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Token 0 is the pointer (ids DIGITS..DIGITS+LENGTH-1), then LENGTH digits."""
    digits = rng.integers(0, DIGITS, (count, LENGTH))
    pointers = rng.integers(0, LENGTH, count)
    return np.hstack([(DIGITS + pointers)[:, None], digits]), digits[np.arange(count), pointers]


def build_model(d_model: int):
    import torch
    from torch import nn

    class Lookup(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tokens = nn.Embedding(DIGITS + LENGTH, d_model)
            self.positions = nn.Parameter(torch.randn(LENGTH + 1, d_model) * 0.1)
            self.encoder = nn.TransformerEncoderLayer(
                d_model, nhead=4, dim_feedforward=2 * d_model, dropout=0.0, batch_first=True
            )
            self.classify = nn.Linear(d_model, DIGITS)

        def forward(self, sequences: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(self.tokens(sequences) + self.positions)
            return self.classify(hidden[:, 0])

    return Lookup()


def main() -> int:
    terminated = TerminationFlag()
    hps = Hyperparameters.load()
    learning_rate = hps.real("learning_rate", 0.001, low=0.0, high=10.0)
    warmup_epochs = hps.integer("warmup_epochs", 1, minimum=0)
    mini_batch_size = hps.integer("mini_batch_size", 64)
    d_model = int(hps.string("d_model", "32", choices=["16", "32", "64"]))
    epochs = hps.integer("epochs", 8)
    seed = hps.integer("seed", 0, minimum=0)

    import torch

    torch.set_num_threads(1)  # one core per training job, as the local backend plans
    torch.manual_seed(seed)
    data_rng = np.random.default_rng(DATA_SEED)
    x_train, y_train = (torch.tensor(a) for a in make_sequences(TRAIN_SIZE, data_rng))
    x_valid, y_valid = (torch.tensor(a) for a in make_sequences(VALIDATION_SIZE, data_rng))
    model = build_model(d_model)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    steps_per_epoch = -(-TRAIN_SIZE // mini_batch_size)
    warmup_steps = warmup_epochs * steps_per_epoch
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
    )
    loss_fn = torch.nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)

    def train_epoch(epoch: int) -> dict[str, float]:
        model.train()
        order = torch.randperm(TRAIN_SIZE, generator=generator)
        total = 0.0
        for start in range(0, TRAIN_SIZE, mini_batch_size):
            batch = order[start : start + mini_batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(x_train[batch]), y_train[batch])
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item()
        model.eval()
        with torch.no_grad():
            logits = model(x_valid)
        return {
            "train:loss": total / steps_per_epoch,
            "validation:loss": loss_fn(logits, y_valid).item(),
            "validation:accuracy": (logits.argmax(1) == y_valid).float().mean().item(),
        }

    return run_epochs(epochs, train_epoch, lambda: {k: v.numpy() for k, v in model.state_dict().items()}, terminated)


if __name__ == "__main__":
    sys.exit(main())
