"""The seed's experiment as arithmetic over analytics rows: what one tuning job cost and found.

Pure functions of `analytics.table` rows (plus the tuning job's own times),
so the compare page, the review report and the REST API compute the same
numbers the same way.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from analytics.table import Row, analytics_sorted, is_finite_number
from jobs.models import ObjectiveType, TrainingJobStatus

# The four counters SageMaker's console shows; a Stopping job still runs.
STATUS_GROUPS = {
    TrainingJobStatus.COMPLETED: "Completed",
    TrainingJobStatus.IN_PROGRESS: "InProgress",
    TrainingJobStatus.STOPPING: "InProgress",
    TrainingJobStatus.STOPPED: "Stopped",
    TrainingJobStatus.FAILED: "Failed",
}
COUNTER_NAMES = ("Completed", "InProgress", "Stopped", "Failed")


@dataclass(frozen=True)
class CurvePoint:
    """After the training job `name` ended: training time spent so far, best objective so far."""

    name: str
    cumulative_seconds: float
    best: float | None


def training_seconds(row: Row, *, now: datetime) -> float:
    """What a training job has cost so far: its elapsed time, or its time up to `now` if it runs."""
    if row["TrainingElapsedTimeSeconds"] is not None:
        return row["TrainingElapsedTimeSeconds"]
    if row["TrainingStartTime"] is not None and row["TrainingEndTime"] is None:
        return max(0.0, (now - row["TrainingStartTime"]).total_seconds())
    return 0.0  # never started


def total_training_seconds(rows: Iterable[Row], *, now: datetime) -> float:
    """The console's "total training duration": the sum over training jobs, i.e. what was paid for."""
    return sum(training_seconds(row, now=now) for row in rows)


def wall_seconds(*, created_at: datetime, ended_at: datetime | None, now: datetime) -> float:
    """How long the tuning job took from creation to its end (or to `now` while it runs)."""
    return max(0.0, ((ended_at or now) - created_at).total_seconds())


def status_counts(rows: Iterable[Row]) -> dict[str, int]:
    counts = dict.fromkeys(COUNTER_NAMES, 0)
    for row in rows:
        counts[STATUS_GROUPS[row["TrainingJobStatus"]]] += 1
    return counts


def best_row(rows: Iterable[Row], *, objective_type: str) -> Row | None:
    """The training job with the best finite FinalObjectiveValue, the earliest of equals."""
    ranked = analytics_sorted(rows, objective_type=objective_type)
    if ranked and is_finite_number(ranked[0]["FinalObjectiveValue"]):
        return ranked[0]
    return None


def stopped_rows(rows: Iterable[Row]) -> list[Row]:
    """`df[df.TrainingJobStatus == 'Stopped']`."""
    return [row for row in rows if row["TrainingJobStatus"] == TrainingJobStatus.STOPPED]


def saved_percent(baseline: float | None, value: float | None) -> float | None:
    """(baseline - value) / baseline * 100: the seed's "23% shorter"; None without a baseline."""
    if baseline is None or value is None or baseline <= 0:
        return None
    return (baseline - value) / baseline * 100


def best_so_far_curve(rows: Sequence[Row], *, objective_type: str) -> list[CurvePoint]:
    """Best objective so far against training time spent so far, one point per ended training job.

    Jobs are taken in the order they ended (ties by launch order), each adding
    its elapsed time; the best is None until a job ends with a finite value.
    """
    ended = [row for row in rows if row["TrainingEndTime"] is not None]
    ended.sort(key=lambda row: row["TrainingEndTime"])
    points = []
    cumulative = 0.0
    best: float | None = None
    for row in ended:
        cumulative += row["TrainingElapsedTimeSeconds"] or 0.0
        value = row["FinalObjectiveValue"]
        if is_finite_number(value) and (best is None or _better(value, best, objective_type)):
            best = value
        points.append(CurvePoint(row["TrainingJobName"], cumulative, best))
    return points


def _better(value: float, than: float, objective_type: str) -> bool:
    return value > than if objective_type == ObjectiveType.MAXIMIZE else value < than
