"""The one interface every training backend (local, SageMaker, ...) implements.

A backend runs one training job to its end and reports through a `RunMonitor`
callback, so it knows nothing about Django: the caller decides what a metric batch,
a heartbeat or a stop request means (rows, events, early stopping). Keeping the
boundary this narrow lets the backends be tested with real processes and no database.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from .metrics import MetricDefinition, MetricRecord


@dataclass(frozen=True)
class TrainingRunSpec:
    """Everything a backend needs to run one training job.

    Hyperparameter values are strings because that is how SageMaker hands them to
    training code; the algorithm parses them, the backend never guesses types.
    """

    job_name: str
    command: Sequence[str]  # argv, run without a shell
    hyperparameters: Mapping[str, str]
    metric_definitions: Sequence[MetricDefinition]
    job_dir: Path  # created by the backend if missing
    max_runtime_seconds: float | None = None
    stop_grace_seconds: float = 10.0
    poll_interval_seconds: float = 0.5  # how often should_stop() is asked
    heartbeat_interval_seconds: float = 5.0
    # Variables the program gets beyond the backend's basics (e.g. the algorithm's
    # environment_passthrough): the worker's own environment is not passed on.
    environment: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Fail when the spec is built, in the caller's code, rather than as an odd
        # TypeError from deep inside subprocess once a job is already "running".
        if not self.command:
            raise ValueError("command must not be empty")
        for name, value in self.hyperparameters.items():
            if not isinstance(name, str) or not isinstance(value, str):
                raise TypeError(f"hyperparameter {name!r}: names and values must be str")
        if self.poll_interval_seconds <= 0 or self.heartbeat_interval_seconds <= 0:
            raise ValueError("poll and heartbeat intervals must be positive")
        if self.stop_grace_seconds < 0:
            raise ValueError("stop_grace_seconds must not be negative")


class RunMonitor(Protocol):
    """How a running job talks back to whoever started it."""

    def on_metrics(self, records: list[MetricRecord]) -> None:
        """Receive every record parsed since the last call, in log order.

        Batched so that a flood of log lines costs one call (one transaction), not
        one per line.
        """

    def should_stop(self) -> bool:
        """Asked every poll interval; True stops the job (user stop, early stopping)."""

    def heartbeat(self) -> None:
        """Called every heartbeat interval while the job runs, so a reaper can tell a
        live job from one whose worker died."""


class RemoteRunMonitor(RunMonitor, Protocol):
    """A monitor that also hears about a job running on a remote service (SageMaker)."""

    def on_secondary_status(self, secondary_status: str) -> None:
        """The remote job's SecondaryStatus changed (Downloading, Training, Uploading...)."""


class Outcome(StrEnum):
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPED = "Stopped"


class StopCause(StrEnum):
    REQUESTED = "requested"  # should_stop() said so
    MAX_RUNTIME = "max_runtime"  # like SageMaker's MaxRuntimeInSeconds: Stopped, not Failed


@dataclass(frozen=True)
class RunResult:
    outcome: Outcome
    # As subprocess reports it: negative -N means killed by signal N.
    # None when the program never started.
    exit_code: int | None
    failure_reason: str = ""
    stop_cause: StopCause | None = None
    log_path: Path | None = None
    # Where the job's model.tar.gz went (ModelArtifacts.S3ModelArtifacts), if it was uploaded.
    model_artifact_uri: str = ""
    # The remote service's last SecondaryStatus, for backends that run jobs elsewhere.
    secondary_status: str = ""


# SageMaker's FailureReason prefix for a failure of its own, not of the training program:
# such a job says nothing about the program or its hyperparameters.
INFRASTRUCTURE_ERROR = "InternalServerError"


def infrastructure_failure(message: str) -> str:
    return f"{INFRASTRUCTURE_ERROR}: {message}"


def is_infrastructure_failure(failure_reason: str) -> bool:
    return failure_reason.startswith(f"{INFRASTRUCTURE_ERROR}:")


class TrainingBackend(abc.ABC):
    @abc.abstractmethod
    def run(self, spec: TrainingRunSpec, monitor: RunMonitor) -> RunResult:
        """Run the job to its end (blocking) and say how it ended.

        Problems of the training program are results (FAILED), not exceptions;
        an exception means the backend itself or the monitor broke.
        """
