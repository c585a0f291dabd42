"""The analytics table of a tuning job: SageMaker's HyperparameterTuningJobAnalytics.dataframe().

One row per training job, as a plain dict whose keys are the dataframe's
columns, in the dataframe's order: one column per tuned hyperparameter (in the
order of the tuning job's ParameterRanges), then TrainingJobName,
TrainingJobStatus, FinalObjectiveValue, TrainingStartTime, TrainingEndTime,
TrainingElapsedTimeSeconds; then three columns of ours that SageMaker does not
have, TrainingJobStopReason, EpochsRun and Chosen (whether the team chose it: analytics.models.Decision).

Deliberate differences from the SDK's dataframe:

- hyperparameter values are typed by their range (Integer -> int,
  Continuous -> float, Categorical -> str) where the SDK turns every value
  that looks like a number into a float, categorical "1" included;
- a Failed training job has no FinalObjectiveValue (None), as SageMaker lists
  FinalHyperParameterTuningJobObjectiveMetric only for jobs that end with a
  result; a job that ended with a NaN objective keeps NaN, so that the table
  says what the program emitted;
- a missing value is None rather than pandas' NaN.

Nothing here knows about HTTP: the pages, the exports and the REST API all
build on `analytics_rows`, `analytics_sorted`/`analytics_top`,
`analytics_csv` and `analytics_json`.
"""

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef

from analytics.models import Decision
from jobs.models import ObjectiveType, TrainingJob, TrainingJobStatus, TuningJob, elapsed_seconds
from jobs.tuning.space import SearchSpace, SearchSpaceError

Row = dict[str, Any]

BASE_COLUMNS = (
    "TrainingJobName",
    "TrainingJobStatus",
    "FinalObjectiveValue",
    "TrainingStartTime",
    "TrainingEndTime",
    "TrainingElapsedTimeSeconds",
)
EXTRA_COLUMNS = ("TrainingJobStopReason", "EpochsRun", "Chosen")

# A text cell starting with one of these is run as a formula by spreadsheet
# programs (CSV injection); categorical values are free text, so the CSV
# export prefixes such cells with a quote, as OWASP recommends.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def hyperparameter_names(tuning_job: TuningJob) -> list[str]:
    return [param_range["name"] for param_range in tuning_job.parameter_ranges]


def analytics_columns(tuning_job: TuningJob) -> list[str]:
    """The table's columns, in order; known even when the tuning job has no training job yet."""
    return [*hyperparameter_names(tuning_job), *BASE_COLUMNS, *EXTRA_COLUMNS]


def analytics_rows(tuning_job: TuningJob) -> list[Row]:
    """One row per training job of `tuning_job`, in launch order (one query)."""
    space = _space(tuning_job)
    names = hyperparameter_names(tuning_job)
    # Plain tuples, not model instances: for 10,000 training jobs, building the
    # instances was most of the read.
    training_jobs = (
        TrainingJob.objects.filter(tuning_job_id=tuning_job.id)
        .annotate(chosen=Exists(Decision.objects.filter(tuning_job_id=tuning_job.id, training_job=OuterRef("pk"))))
        .order_by("sequence")
        .values_list(
            "name", "status", "stop_reason", "final_objective_value", "tuned_hyperparameters",
            "epochs_run", "started_at", "ended_at", "chosen",
        )
    )  # fmt: skip
    rows = []
    for (
        name,
        status,
        stop_reason,
        final_objective_value,
        tuned,
        epochs_run,
        started_at,
        ended_at,
        chosen,
    ) in training_jobs:
        # Hyperparameters first, then the fixed columns, as the SDK builds its dict
        # (a hyperparameter named like a fixed column is shadowed, as there).
        row: Row = _typed_hyperparameters(space, names, tuned)
        row["TrainingJobName"] = name
        row["TrainingJobStatus"] = status
        row["FinalObjectiveValue"] = None if status == TrainingJobStatus.FAILED else final_objective_value
        row["TrainingStartTime"] = started_at
        row["TrainingEndTime"] = ended_at
        row["TrainingElapsedTimeSeconds"] = elapsed_seconds(started_at, ended_at)
        row["TrainingJobStopReason"] = stop_reason or None
        row["EpochsRun"] = epochs_run
        row["Chosen"] = chosen
        rows.append(row)
    return rows


def _space(tuning_job: TuningJob) -> SearchSpace | None:
    try:
        return SearchSpace.from_dicts(tuning_job.parameter_ranges)
    except SearchSpaceError:
        return None


def _typed_hyperparameters(space: SearchSpace | None, names: list[str], tuned: dict) -> Row:
    if space is not None:
        try:
            return dict(space.parse(tuned))
        except SearchSpaceError:
            pass
    # A value the space does not accept (it cannot happen for a job the strategy
    # proposed): keep it, typed as loosely as the SDK does.
    return {name: _loose(tuned.get(name)) for name in names}


def _loose(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


# --- ordering ---------------------------------------------------------------------


def objective_sort_key(value: Any, *, objective_type: str) -> tuple[int, float]:
    """A key that puts the best objective first; missing and non-finite values last.

    pandas' sort_values puts NaN last in both directions; an infinite value is
    not a result either (its ObjectiveStatus is Failed), so it goes last too.
    """
    if not is_finite_number(value):
        return (1, 0.0)
    return (0, -value if objective_type == ObjectiveType.MAXIMIZE else value)


def analytics_sorted(rows: Iterable[Row], *, objective_type: str) -> list[Row]:
    """Rows best first: descending FinalObjectiveValue to Maximize, ascending to Minimize.

    The sort is stable, so ties keep launch order.
    """
    return sorted(rows, key=lambda row: objective_sort_key(row["FinalObjectiveValue"], objective_type=objective_type))


def analytics_top(rows: Iterable[Row], *, objective_type: str, n: int = 5) -> list[Row]:
    """`dataframe().sort_values('FinalObjectiveValue', ascending=...).head(n)`."""
    return analytics_sorted(rows, objective_type=objective_type)[:n]


def is_finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# --- exports ------------------------------------------------------------------------


def analytics_csv(rows: Sequence[Row], *, columns: Sequence[str] | None = None) -> str:
    """The table as CSV (RFC 4180, header row first).

    Missing values, NaN and infinities are empty cells; floats are written
    exactly (shortest round-trip form); times in ISO 8601 with their offset.
    `columns` defaults to the first row's keys (pass `analytics_columns` for
    a table that may be empty).
    """
    if columns is None:
        columns = list(rows[0]) if rows else [*BASE_COLUMNS, *EXTRA_COLUMNS]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_cell(row.get(column)) for column in columns])
    return out.getvalue()


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return f"'{value}" if value.startswith(_FORMULA_STARTS) else value
    return str(value)


def analytics_json(rows: Sequence[Row]) -> str:
    """The table as a JSON array of records (pandas' orient="records").

    NaN and infinities become null (JSON has neither); times are ISO 8601.
    """
    return json.dumps([json_ready(row) for row in rows], allow_nan=False)


def json_ready(row: Row) -> Row:
    """A copy of `row` that json.dumps writes as strict JSON."""
    return {column: _json_value(value) for column, value in row.items()}


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return value
