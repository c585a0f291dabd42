"""What a training program needs from its SageMaker-style surroundings.

Hyperparameters arrive as strings, the way SageMaker passes them: in
`input/config/hyperparameters.json` under the job directory (the working directory
when Tuneboard's local backend runs the program) and as `--name value` arguments.
Both are read, the command line winning, so a script runs the same under the
backend and by hand (`python image_classifier.py --epochs 3`).

The typed getters turn a bad value into one clear line on stderr and exit code 2
(the usual code for a usage error), which the backend shows as the failure reason.
"""

from __future__ import annotations

import json
import os
import pickle
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

CONFIG_FILE = Path("input/config/hyperparameters.json")
USAGE_ERROR = 2
# 128 + SIGTERM, what a shell reports for a program ended by SIGTERM: the program
# did not finish, so it must not claim success with 0.
TERMINATED_BY_SIGTERM = 143

_Number = TypeVar("_Number", int, float)


class Hyperparameters:
    """String hyperparameters with typed, range-checked getters."""

    def __init__(self, values: dict[str, str]):
        self._values = values

    @classmethod
    def load(cls) -> Hyperparameters:
        values = read_config_file(CONFIG_FILE)
        values.update(parse_argv(sys.argv[1:]))
        return cls(values)

    def string(self, name: str, default: str, choices: Sequence[str]) -> str:
        value = self._values.get(name, default)
        if value not in choices:
            fail(f"hyperparameter {name}={value!r}: must be one of {', '.join(choices)}")
        return value

    def integer(self, name: str, default: int, minimum: int = 1) -> int:
        value = self._convert(name, default, int, "an integer")
        if value < minimum:
            fail(f"hyperparameter {name}={value}: must be at least {minimum}")
        return value

    def real(self, name: str, default: float, low: float, high: float) -> float:
        """A float in the half-open range (low, high]."""
        value = self._convert(name, default, float, "a number")
        if not low < value <= high:
            fail(f"hyperparameter {name}={value}: must be greater than {low} and at most {high}")
        return value

    def nonnegative(self, name: str, default: float) -> float:
        value = self._convert(name, default, float, "a number")
        if not value >= 0:
            fail(f"hyperparameter {name}={value}: must be at least 0")
        return value

    def _convert(self, name: str, default: _Number, kind: Callable[[str], _Number], what: str) -> _Number:
        if name not in self._values:
            return default
        try:
            return kind(self._values[name])
        except ValueError:
            fail(f"hyperparameter {name}={self._values[name]!r}: must be {what}")


def read_config_file(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        fail(f"{path}: not valid JSON: {exc}")
    if not isinstance(config, dict):
        fail(f"{path}: must hold a JSON object of hyperparameters")
    # SageMaker writes strings; a hand-written file may hold numbers, kept as JSON text.
    return {name: value if isinstance(value, str) else json.dumps(value) for name, value in config.items()}


def parse_argv(argv: Sequence[str]) -> dict[str, str]:
    """`--name value` pairs, taken strictly in pairs so that a value such as `-0.5`
    is never mistaken for an option."""
    if len(argv) % 2:
        fail(f"expected --name value pairs, got an odd number of arguments: {list(argv)}")
    values = {}
    for flag, value in zip(argv[::2], argv[1::2], strict=True):
        if not flag.startswith("--") or len(flag) == 2:
            fail(f"expected --name before each value, got {flag!r}")
        values[flag[2:]] = value
    return values


def fail(message: str) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(USAGE_ERROR)


def save_model(model: object) -> None:
    """Pickle to model.pkl in SM_MODEL_DIR when run by a backend, else in ./model/."""
    path = Path(os.environ.get("SM_MODEL_DIR", "model")) / "model.pkl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as file:
        pickle.dump(model, file)


def finish(model: object, terminated: TerminationFlag, progress: str) -> int:
    """Save the model and give the exit code: 143 when a stop cut the run short after `progress`
    ("epoch 3"), since the run did not finish, else 0."""
    save_model(model)
    if terminated.raised:
        print(f"stopped by SIGTERM after {progress}; model saved", file=sys.stderr)
        return TERMINATED_BY_SIGTERM
    return 0


class TerminationFlag:
    """Turns SIGTERM into a flag the training loop checks between epochs.

    A stopped job (user stop, early stopping, max runtime) gets SIGTERM and a grace
    period, as on SageMaker. Letting the current epoch finish keeps the model in a
    consistent state, so it can still be saved: early-stopped jobs keep their model.
    """

    def __init__(self) -> None:
        self.raised = False
        signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum: int, frame: object) -> None:
        self.raised = True
