"""Reads of a tuning job's Analysis page and importance API: importance, per-job observations, timeline.

The tuning job passed in was found through jobs.selectors.tuning_jobs_visible_to
by the caller; everything here reads only that job's training jobs.
"""

from datetime import UTC, datetime

from django.utils import timezone

from analytics import importance, timeline
from analytics.table import Row, analytics_rows, is_finite_number
from jobs.models import ObjectiveType, TrainingJob, TrainingJobStatus, TuningJob
from jobs.tuning.hyperband import infer_max_resource
from jobs.tuning.space import (
    CategoricalParameterRange,
    IntegerParameterRange,
    ScalingType,
    SearchSpace,
    SearchSpaceError,
    effective_scaling,
)


def _space(tuning_job: TuningJob) -> SearchSpace | None:
    try:
        return SearchSpace.from_dicts(tuning_job.parameter_ranges)
    except SearchSpaceError:
        return None


def _observations(space: SearchSpace, rows: list[Row]) -> list[importance.Observation]:
    return [
        importance.Observation({name: row[name] for name in space.names}, row["FinalObjectiveValue"])
        for row in rows
        if is_finite_number(row["FinalObjectiveValue"])
    ]


def tuning_job_importance(*, tuning_job: TuningJob, rows: list[Row] | None = None) -> importance.ImportanceResult:
    space = _space(tuning_job)
    if space is None:
        return importance.ImportanceResult(0, (), "This tuning job's parameter ranges cannot be read.")
    rows = analytics_rows(tuning_job) if rows is None else rows
    return importance.hyperparameter_importance(
        space, _observations(space, rows), maximize=tuning_job.objective_type == ObjectiveType.MAXIMIZE
    )


def _parameters(space: SearchSpace | None) -> list[dict]:
    """Each hyperparameter as the charts need it: a log axis is offered for positive ranges only."""
    if space is None:
        return []
    parameters = []
    for param_range in space.ranges:
        if isinstance(param_range, CategoricalParameterRange):
            parameters.append({"name": param_range.name, "type": "Categorical", "values": list(param_range.values)})
            continue
        parameters.append(
            {
                "name": param_range.name,
                "type": "Integer" if isinstance(param_range, IntegerParameterRange) else "Continuous",
                "log_possible": param_range.min_value > 0,
                "log": effective_scaling(param_range) is ScalingType.LOGARITHMIC,
            }
        )
    return parameters


def _max_epochs(tuning_job: TuningJob) -> dict[str, int | None]:
    """What each early-stopped job would have run: Hyperband's MaxResource, or its own static epochs."""
    stopped = TrainingJob.objects.filter(
        tuning_job_id=tuning_job.id, status=TrainingJobStatus.STOPPED, stop_reason__in=timeline.EARLY_STOP_REASONS
    ).values_list("name", "hyperparameters")
    return {
        name: tuning_job.hyperband_max_resource or infer_max_resource(hyperparameters or {})
        for name, hyperparameters in stopped
    }


def _wall_clock_ms(moment: datetime) -> float:
    """`moment` on the server's zone's wall clock, in milliseconds as if that clock were UTC.

    Plotly's date axes know no zones and show milliseconds as UTC; written so, the
    timeline reads in the zone every other page shows times in.
    """
    return round(timezone.localtime(moment).replace(tzinfo=UTC).timestamp() * 1000)


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def analysis_charts(*, tuning_job: TuningJob, now: datetime | None = None) -> dict:
    """The JSON the Analysis page draws from (no NaN: only finite objectives are observations)."""
    now = now or timezone.now()
    rows = analytics_rows(tuning_job)
    space = _space(tuning_job)
    finished = [row for row in rows if is_finite_number(row["FinalObjectiveValue"])] if space else []
    bars = timeline.timeline_bars(rows, max_epochs=_max_epochs(tuning_job), now=now)
    return {
        "objective": {
            "name": tuning_job.objective_metric_name,
            "type": tuning_job.objective_type,
            "log_possible": bool(finished) and all(row["FinalObjectiveValue"] > 0 for row in finished),
        },
        "parameters": _parameters(space),
        "observations": {
            "names": [row["TrainingJobName"] for row in finished],
            "values": [row["FinalObjectiveValue"] for row in finished],
            "outcomes": [timeline.outcome(row) for row in finished],
            "params": {name: [row[name] for row in finished] for name in (space.names if space else ())},
        },
        "importance": tuning_job_importance(tuning_job=tuning_job, rows=rows).as_dict(),
        # Column by column, as the observations: a 10,000-job timeline is then ~0.7 MB, not 1.6.
        "timeline": {
            "names": [bar.name for bar in bars],
            "slots": [bar.slot for bar in bars],
            "starts": [_wall_clock_ms(bar.start) for bar in bars],
            "seconds": [round(bar.seconds, 3) for bar in bars],
            "outcomes": [bar.outcome for bar in bars],
            "epochs_run": [bar.epochs_run for bar in bars],
            "gave_back_seconds": [_rounded(bar.gave_back_seconds) for bar in bars],
            "summary": timeline.gave_back_summary(bars),
        },
    }
