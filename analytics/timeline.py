"""The timeline of a tuning job: each training job as a bar over wall time, one row ("slot") per lane.

Pure functions of `analytics.table` rows, like `analytics.compare`, whose
`training_seconds` and `saved_percent` they reuse so that the timeline's
durations and savings are the compare page's.
"""

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from analytics import compare
from analytics.table import Row
from jobs.models import StopReason, TrainingJobStatus

# Stops that cut a job short because it would not beat the best (or, for Hyperband, did
# not make the rung): the time it did not run is what early stopping gave back.
EARLY_STOP_REASONS = (StopReason.EARLY_STOPPING, StopReason.HYPERBAND)
OUTCOMES = ("Completed", "EarlyStopped", "Stopped", "Failed", "InProgress")


@dataclass(frozen=True)
class Bar:
    name: str
    slot: int
    start: datetime
    end: datetime
    seconds: float
    outcome: str
    epochs_run: int
    # Estimated seconds the job would still have run had it not been stopped early; None if unknown.
    gave_back_seconds: float | None


def assign_slots(intervals: Sequence[tuple[float, float]]) -> list[int]:
    """The slot of each (start, end) interval, in input order, so that no two in a slot overlap.

    Greedy in start order (ties in input order, i.e. launch order), each
    interval taking the lowest slot free by its start (a slot whose interval
    ends exactly then is free): this uses as few slots as the largest number
    of intervals running at once.
    """
    order = sorted(range(len(intervals)), key=lambda i: (intervals[i][0], i))
    slots = [0] * len(intervals)
    busy: list[tuple[float, int]] = []  # (end, slot) of the intervals still running
    free: list[int] = []
    opened = 0
    for i in order:
        start, end = intervals[i]
        while busy and busy[0][0] <= start:
            heapq.heappush(free, heapq.heappop(busy)[1])
        if free:
            slot = heapq.heappop(free)
        else:
            slot = opened
            opened += 1
        slots[i] = slot
        heapq.heappush(busy, (end, slot))
    return slots


def outcome(row: Row) -> str:
    status = row["TrainingJobStatus"]
    if status == TrainingJobStatus.STOPPED:
        return "EarlyStopped" if row["TrainingJobStopReason"] in EARLY_STOP_REASONS else "Stopped"
    return compare.STATUS_GROUPS[status]


def gave_back_seconds(*, seconds: float, epochs_run: int, max_epochs: int | None) -> float | None:
    """The epochs not run times the job's mean epoch time; None when either is unknown."""
    if not max_epochs or epochs_run <= 0 or max_epochs <= epochs_run:
        return None
    return (max_epochs - epochs_run) * seconds / epochs_run


def timeline_bars(rows: Sequence[Row], *, max_epochs: Mapping[str, int | None], now: datetime) -> list[Bar]:
    """A bar for every started training job (a running one up to `now`), in launch order.

    `max_epochs` maps an early-stopped job's name to the epochs it would have run
    (from its static hyperparameters); only early-stopped jobs get an estimate.
    """
    started = [row for row in rows if row["TrainingStartTime"] is not None]
    ends = [row["TrainingEndTime"] or now for row in started]
    slots = assign_slots(
        [(row["TrainingStartTime"].timestamp(), end.timestamp()) for row, end in zip(started, ends, strict=True)]
    )
    bars = []
    for row, end, slot in zip(started, ends, slots, strict=True):
        seconds = compare.training_seconds(row, now=now)
        kind = outcome(row)
        epochs_run = row["EpochsRun"] or 0
        gave_back = None
        if kind == "EarlyStopped":
            gave_back = gave_back_seconds(
                seconds=seconds, epochs_run=epochs_run, max_epochs=max_epochs.get(row["TrainingJobName"])
            )
        start = row["TrainingStartTime"]
        bars.append(Bar(row["TrainingJobName"], slot, start, end, seconds, kind, epochs_run, gave_back))
    return bars


def gave_back_summary(bars: Sequence[Bar]) -> dict:
    """What early stopping gave back in all, and as a share of running every stopped job to the end."""
    spent = sum(bar.seconds for bar in bars)
    estimated = [bar.gave_back_seconds for bar in bars if bar.gave_back_seconds is not None]
    gave_back = sum(estimated)
    return {
        "training_seconds": spent,
        "early_stopped": sum(1 for bar in bars if bar.outcome == "EarlyStopped"),
        "estimated": len(estimated),
        "gave_back_seconds": gave_back,
        "saved_percent": compare.saved_percent(spent + gave_back, spent) if estimated else None,
    }
