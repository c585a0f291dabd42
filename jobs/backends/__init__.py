"""Training backends: run one training job, stream its metrics, stop it on request.

Pure Python (no Django): the caller connects a backend to the database through the
`RunMonitor` callbacks.
"""

from .base import (
    Outcome,
    RunMonitor,
    RunResult,
    StopCause,
    TrainingBackend,
    TrainingRunSpec,
)
from .local import LocalBackend
from .metrics import (
    MetricDefinition,
    MetricDefinitionError,
    MetricParser,
    MetricRecord,
    compile_metric_definitions,
)

__all__ = [
    "LocalBackend",
    "MetricDefinition",
    "MetricDefinitionError",
    "MetricParser",
    "MetricRecord",
    "Outcome",
    "RunMonitor",
    "RunResult",
    "StopCause",
    "TrainingBackend",
    "TrainingRunSpec",
    "compile_metric_definitions",
]
