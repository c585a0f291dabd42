"""Read queries of the analytics pages: summaries, chart data, notes.

Visibility is jobs.selectors.tuning_jobs_visible_to's: whatever a user may not
see does not exist for them here either.
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from django.utils import timezone

from analytics import compare
from analytics.models import Decision, ReviewNote
from analytics.table import Row, analytics_columns, analytics_rows, is_finite_number
from jobs import selectors as jobs_selectors
from jobs.models import TrainingJob, TuningJob


@dataclass(frozen=True)
class TuningJobSummary:
    """One tuning job as the seed reads it off the console."""

    tuning_job: TuningJob
    columns: list[str]
    rows: list[Row]
    total_training_seconds: float
    wall_seconds: float
    best: Row | None
    counts: dict[str, int]
    stopped: list[Row]
    curve: list[compare.CurvePoint]
    # Filled in on the compare page, against the first tuning job picked.
    training_time_saved_percent: float | None = None
    wall_time_saved_percent: float | None = None

    @property
    def best_objective(self) -> float | None:
        return self.best["FinalObjectiveValue"] if self.best else None


def tuning_job_summary(*, tuning_job: TuningJob, now: datetime | None = None) -> TuningJobSummary:
    now = now or timezone.now()
    rows = analytics_rows(tuning_job)
    return TuningJobSummary(
        tuning_job=tuning_job,
        columns=analytics_columns(tuning_job),
        rows=rows,
        total_training_seconds=compare.total_training_seconds(rows, now=now),
        wall_seconds=compare.wall_seconds(created_at=tuning_job.created_at, ended_at=tuning_job.ended_at, now=now),
        best=compare.best_row(rows, objective_type=tuning_job.objective_type),
        counts=compare.status_counts(rows),
        stopped=compare.stopped_rows(rows),
        curve=compare.best_so_far_curve(rows, objective_type=tuning_job.objective_type),
    )


def tuning_jobs_compare(*, tuning_jobs: Sequence[TuningJob], now: datetime | None = None) -> list[TuningJobSummary]:
    """Summaries of `tuning_jobs`, each with its savings against the first one (the baseline)."""
    now = now or timezone.now()
    summaries = [tuning_job_summary(tuning_job=tuning_job, now=now) for tuning_job in tuning_jobs]
    if not summaries:
        return []
    baseline = summaries[0]
    return [
        replace(
            summary,
            training_time_saved_percent=compare.saved_percent(
                baseline.total_training_seconds, summary.total_training_seconds
            ),
            wall_time_saved_percent=compare.saved_percent(baseline.wall_seconds, summary.wall_seconds),
        )
        for summary in summaries
    ]


def tuning_jobs_named_visible_to(*, user, names: Sequence[str]) -> list[TuningJob] | None:
    """The tuning jobs called `names`, in that order; None if any is unknown or not visible to `user`."""
    found = {job.name: job for job in jobs_selectors.tuning_jobs_visible_to(user=user).filter(name__in=names)}
    if any(name not in found for name in names):
        return None
    return [found[name] for name in names]


def compare_choices(*, user) -> list[tuple[str, str]]:
    """(name, label) of every tuning job `user` may compare, oldest first.

    Oldest first because the first job picked is the baseline, and in the
    seed's experiment the baseline (early stopping Off) ran first.
    """
    jobs = (
        jobs_selectors.tuning_jobs_visible_to(user=user)
        .order_by("created_at", "id")
        .values_list("name", "early_stopping_type", "status")
    )
    return [(name, f"{name} (early stopping {early_stopping}, {status})") for name, early_stopping, status in jobs]


def review_notes_for(*, tuning_job: TuningJob, training_job: TrainingJob | None = None):
    """The tuning job's notes (all of them, those on its training jobs included), or one training job's."""
    notes = ReviewNote.objects.filter(tuning_job=tuning_job)
    if training_job is not None:
        notes = notes.filter(training_job=training_job)
    return notes.select_related("author", "training_job").order_by("created_at", "id")


def decision_for(*, tuning_job: TuningJob) -> Decision | None:
    return Decision.objects.filter(tuning_job=tuning_job).select_related("training_job", "decided_by").first()


# --- chart data (JSON-ready: no NaN, which JSON cannot carry) -------------------------


def _finite_or_none(value):
    return value if is_finite_number(value) else None


def best_so_far_series(summary: TuningJobSummary) -> dict:
    job = summary.tuning_job
    return {
        "name": job.name,
        "early_stopping": job.early_stopping_type,
        "x": [point.cumulative_seconds for point in summary.curve],
        "y": [_finite_or_none(point.best) for point in summary.curve],
        "text": [point.name for point in summary.curve],
    }


def objective_by_training_job(rows: Sequence[Row]) -> dict[str, dict]:
    """Final objective of each training job in launch order, grouped by status (one trace each)."""
    groups: dict[str, dict] = {}
    for index, row in enumerate(rows, start=1):
        group = groups.setdefault(compare.STATUS_GROUPS[row["TrainingJobStatus"]], {"x": [], "y": [], "text": []})
        group["x"].append(index)
        group["y"].append(_finite_or_none(row["FinalObjectiveValue"]))
        group["text"].append(row["TrainingJobName"])
    return groups


def objective_learning_curves(*, tuning_job: TuningJob, rows: Sequence[Row]) -> dict:
    """The objective metric per epoch of every training job, grouped by status, in launch order.

    {"groups": {status group: {"names": [job, ...], "curves": [[[epoch, value], ...], ...]}},
    "thinned": None or as the tuning job page says it}. Read as that page's
    first load reads them (jobs.selectors.learning_curves_first_load): whole for
    a small tuning job; past 60,000 samples thinned (the best and running jobs
    whole), so a 10,000-job report stays a few hundred kilobytes.
    """
    metric = tuning_job.objective_metric_name
    first_load = jobs_selectors.learning_curves_first_load(tuning_job=tuning_job, metric=metric)
    groups: dict[str, dict] = {}
    for row in rows:
        name = row["TrainingJobName"]
        points = first_load["jobs"].get(name, {}).get(metric)
        if not points:
            continue
        group = groups.setdefault(compare.STATUS_GROUPS[row["TrainingJobStatus"]], {"names": [], "curves": []})
        group["names"].append(name)
        group["curves"].append(sorted(points, key=lambda point: point[0]))
    return {"groups": groups, "thinned": first_load.get("thinned")}
