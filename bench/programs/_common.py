"""The epoch loop every program in bench/programs shares.

The programs are run as scripts (`python bench/programs/<name>.py`), as a tuning job
runs its training image, so they find this module and examples/sagemaker_env.py by
path, not as packages.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "examples"))

from sagemaker_env import (  # noqa: E402
    TERMINATED_BY_SIGTERM,
    Hyperparameters,
    TerminationFlag,
    save_model,
)

__all__ = ["Hyperparameters", "TerminationFlag", "run_epochs"]


def run_epochs(
    epochs: int,
    train_epoch: Callable[[int], dict[str, float]],
    model: Callable[[], object],
    terminated: TerminationFlag,
) -> int:
    """Train epoch by epoch, print `epoch=N name=value ...` after each, save the model.

    A diverged run prints `nan` or `inf` (what `format` writes for them) and carries on
    to its last epoch, as a real program that does not check its loss would: the curve
    recorder writes such values as null, and early stopping has to cope with them.
    Returns the exit code: 143 when stopped by SIGTERM, as a stopped job must not claim
    success.
    """
    completed = 0
    for epoch in range(1, epochs + 1):
        if terminated.raised:
            break
        metrics = train_epoch(epoch)
        print(f"epoch={epoch} " + " ".join(f"{name}={value:.6g}" for name, value in metrics.items()), flush=True)
        completed = epoch
    save_model(model())
    if terminated.raised:
        print(f"stopped by SIGTERM after epoch {completed}; model saved", file=sys.stderr)
        return TERMINATED_BY_SIGTERM
    return 0
