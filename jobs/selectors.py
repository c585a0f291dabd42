"""Read queries shared by pages, the API, commands and workers."""

import math
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import Group
from django.contrib.postgres.aggregates import ArrayAgg
from django.db import connection
from django.db.models import Case, Count, DateTimeField, DurationField, ExpressionWrapper, F, Max, Q, Sum, Value, When
from django.db.models.functions import Coalesce

from jobs.backends.base import INFRASTRUCTURE_ERROR
from jobs.models import (
    MetricSample,
    ObjectiveStatus,
    ObjectiveType,
    TeamMember,
    TeamRole,
    TrainingJob,
    TrainingJobLogChunk,
    TrainingJobStatus,
    TuningJob,
    TuningJobSource,
    TuningJobStatus,
)
from jobs.tuning import criteria
from jobs.tuning.strategies import Direction


def training_job_status(*, training_job_id: int) -> str:
    return TrainingJob.objects.values_list("status", flat=True).get(pk=training_job_id)


@dataclass(frozen=True)
class StatusCounters:
    """SageMaker's TrainingJobStatusCounters and ObjectiveStatusCounters, derived on read."""

    completed: int = 0
    in_progress: int = 0
    retryable_error: int = 0
    non_retryable_error: int = 0
    stopped: int = 0
    objective_succeeded: int = 0
    objective_pending: int = 0
    objective_failed: int = 0


def _counter_aggregates(prefix: str = "") -> dict:
    status = f"{prefix}status"
    objective = f"{prefix}objective_status"
    internal_error = Q(**{f"{prefix}failure_reason__startswith": f"{INFRASTRUCTURE_ERROR}:"})
    return {
        "completed": Count("pk", filter=Q(**{status: TrainingJobStatus.COMPLETED})),
        # A job that is Stopping still runs (and costs) until its program exits.
        "in_progress": Count(
            "pk", filter=Q(**{f"{status}__in": [TrainingJobStatus.IN_PROGRESS, TrainingJobStatus.STOPPING]})
        ),
        # SageMaker's split: an internal error (a lost worker, a full disk) could be retried, a program's failure not.
        "retryable_error": Count("pk", filter=Q(**{status: TrainingJobStatus.FAILED}) & internal_error),
        "non_retryable_error": Count("pk", filter=Q(**{status: TrainingJobStatus.FAILED}) & ~internal_error),
        "stopped": Count("pk", filter=Q(**{status: TrainingJobStatus.STOPPED})),
        "objective_succeeded": Count("pk", filter=Q(**{objective: ObjectiveStatus.SUCCEEDED})),
        "objective_pending": Count("pk", filter=Q(**{objective: ObjectiveStatus.PENDING})),
        "objective_failed": Count("pk", filter=Q(**{objective: ObjectiveStatus.FAILED})),
    }


def tuning_job_counters(*, tuning_job: TuningJob) -> StatusCounters:
    """Counters of one tuning job, in one aggregate query.

    A job failed by an InternalServerError counts as RetryableError, as on
    SageMaker, whether or not its RetryStrategy had attempts left.
    """
    return StatusCounters(**TrainingJob.objects.filter(tuning_job=tuning_job).aggregate(**_counter_aggregates()))


def tuning_job_get(*, name: str) -> TuningJob:
    return TuningJob.objects.select_related("algorithm", "best_training_job", "owner").get(name=name)


def training_jobs_for_tuning_job(*, tuning_job: TuningJob, status: str | None = None):
    queryset = tuning_job.training_jobs.all()
    if status:
        queryset = queryset.filter(status=status)
    return queryset


# --- who may see and do what ------------------------------------------------------


def tuning_jobs_visible_to(*, user):
    """The tuning jobs `user` may see: staff all of them, others their teams' ones.

    Everything a user may not see is treated as absent (a 404 everywhere), so
    a name leaks nothing about another team's work.
    """
    queryset = TuningJob.objects.select_related("algorithm", "best_training_job", "team", "owner")
    if not user.is_authenticated:
        return queryset.none()
    if user.is_staff:
        return queryset
    return queryset.filter(team__members__user=user).distinct()


def training_jobs_visible_to(*, user):
    return TrainingJob.objects.filter(tuning_job__in=tuning_jobs_visible_to(user=user).values("id"))


def tuning_jobs_named_for(*, user):
    """The tuning jobs a name may resolve to for `user`; None is a trusted caller (a management command).

    Every lookup by name on behalf of someone (warm-start parents included)
    goes through here, so another team's job answers exactly as a missing one.
    """
    return TuningJob.objects.select_related("algorithm") if user is None else tuning_jobs_visible_to(user=user)


def teams_visible_to(*, user):
    """The teams `user` may name: staff every one, others those they belong to; None is a trusted caller."""
    if user is None or user.is_staff:
        return Group.objects.all()
    return Group.objects.filter(members__user=user).distinct()


def can_operate(*, user, tuning_job: TuningJob) -> bool:
    """Whether `user` may stop `tuning_job` (viewers may only look)."""
    if user.is_staff:
        return True
    return TeamMember.objects.filter(team_id=tuning_job.team_id, user=user, role=TeamRole.OPERATOR).exists()


def can_create_in(*, user, team) -> bool:
    if user.is_staff:
        return True
    return team is not None and TeamMember.objects.filter(team=team, user=user, role=TeamRole.OPERATOR).exists()


def teams_for_creation(*, user):
    """The teams `user` may create tuning jobs in."""
    if user.is_staff:
        return Group.objects.order_by("name")
    return Group.objects.filter(members__user=user, members__role=TeamRole.OPERATOR).order_by("name")


# --- live pages -----------------------------------------------------------------------


def counters_payload(counters: StatusCounters) -> dict:
    return {
        "Completed": counters.completed,
        "InProgress": counters.in_progress,
        "Stopped": counters.stopped,
        "Failed": counters.non_retryable_error,
    }


def metric_samples_since(
    *,
    tuning_job_id: int,
    since: dict[str, int],
    only: set[str] | None = None,
    metric: str | None = None,
    limit: int = 20_000,
) -> dict:
    """The samples of a tuning job that a client holding cursor `since` has not seen.

    The cursor is the last sample id per training job (by name). One
    training job's samples are written by one runner, batch after batch, so
    its ids grow in commit order and "id > cursor" misses nothing; a single
    cursor for the whole tuning job would not be safe, because two jobs'
    batches can commit out of id order.

    Reading "id > the lowest cursor" would read most of a big tuning job on
    every reconnect (a job that ended long ago has a low cursor, and a job
    without samples yet is at 0), so the jobs are split: those without a
    cursor are read whole by job; of those with one, only the jobs whose
    newest sample is past their cursor (one grouped query on the index) are
    read, from the lowest of their cursors.

    `only` narrows the read to the named training jobs (those an event said
    had new samples), so a live page's refresh reads what changed, not the
    whole tuning job; `metric` to one metric (a cursor is then that metric's).

    Returns {"jobs": {name: {metric: [[epoch, value], ...]}}, "cursor": {name: id}, "more": bool};
    non-finite values become None (JSON has no NaN), which charts draw as gaps.
    """
    jobs_queryset = TrainingJob.objects.filter(tuning_job_id=tuning_job_id)
    if only is not None:
        jobs_queryset = jobs_queryset.filter(name__in=only)
    names = dict(jobs_queryset.values_list("id", "name"))
    samples = MetricSample.objects.filter(tuning_job_id=tuning_job_id)
    if metric is not None:
        samples = samples.filter(metric_name=metric)
    after = {job_id: since[name] for job_id, name in names.items() if since.get(name, 0) > 0}
    unseen = [job_id for job_id in names if job_id not in after]
    if after:
        newest = samples.filter(training_job_id__in=list(after)) if only is not None else samples
        newest = dict(newest.order_by().values("training_job_id").annotate(newest=Max("id")).values_list(
            "training_job_id", "newest"
        ))  # fmt: skip
        after = {job_id: cursor for job_id, cursor in after.items() if newest.get(job_id, 0) > cursor}
    if only is None and not after and len(unseen) == len(names):
        reads = [samples]  # a first load: the whole tuning job
    else:
        reads = [samples.filter(training_job_id__in=unseen)] if unseen else []
        if after:
            reads.append(samples.filter(training_job_id__in=list(after), id__gt=min(after.values())))
    jobs: dict[str, dict[str, list]] = {}
    cursor: dict[str, int] = {}
    count = 0
    for read in reads:
        rows = read.order_by("id").values_list("id", "training_job_id", "metric_name", "epoch", "value")
        for sample_id, job_id, metric_name, epoch, value in rows.iterator(chunk_size=5000):
            if sample_id <= after.get(job_id, 0) or job_id not in names:
                continue
            if count >= limit:
                return {"jobs": jobs, "cursor": cursor, "more": True}
            name = names[job_id]
            jobs.setdefault(name, {}).setdefault(metric_name, []).append([epoch, finite_or_none(value)])
            cursor[name] = sample_id
            count += 1
    return {"jobs": jobs, "cursor": cursor, "more": False}


# A tuning job's learning curves are sent whole up to this many samples of the
# metric; past it the first load thins them to about CURVE_POINT_BUDGET points
# (10,000 jobs x 50 epochs would be 500,000 points: seconds to send and draw,
# and no eye tells 10,000 overlapping curves at full resolution apart).
CURVE_FULL_SAMPLES = 60_000
CURVE_POINT_BUDGET = 50_000
CURVE_MIN_POINTS = 5
# Whose curves stay whole when the rest are thinned: the ones a reader looks at.
CURVE_KEEP_BEST = 20


def learning_curves_overview(*, tuning_job: TuningJob, metric: str) -> dict | None:
    """The first load of a big tuning job's curves, thinned; None when it is small enough to send whole.

    Running jobs (their curves grow live) and the CURVE_KEEP_BEST best keep
    every epoch; the others keep every `stride`-th epoch, their first and
    their last, so each curve keeps its start, shape and end. The cursor is
    the newest sample sent per job, so a later read brings what follows and
    nothing is doubled. Same shape as metric_samples_since, plus "thinned":
    {"stride", "jobs"} for the page to say so, and "statuses" (see learning_curves_first_load).
    """
    rows = list(
        TrainingJob.objects.filter(tuning_job=tuning_job).values_list(
            "id", "name", "status", "final_objective_value", "epochs_run"
        )
    )
    if not rows or sum(epochs for *_, epochs in rows) <= CURVE_FULL_SAMPLES:
        return None
    longest = max(epochs for *_, epochs in rows)
    stride = math.ceil(longest / max(CURVE_MIN_POINTS, CURVE_POINT_BUDGET // len(rows)))
    if stride <= 1:
        return None
    finals = [(value, job_id) for job_id, _, _, value, _ in rows if value is not None and math.isfinite(value)]
    finals.sort(reverse=tuning_job.objective_type == ObjectiveType.MAXIMIZE)
    whole = {job_id for _, job_id in finals[:CURVE_KEEP_BEST]}
    whole |= {
        job_id
        for job_id, _, status, _, _ in rows
        if status in (TrainingJobStatus.IN_PROGRESS, TrainingJobStatus.STOPPING)
    }
    names = {job_id: name for job_id, name, *_ in rows}
    # The kept epochs named outright and the last one read from the training
    # job's row: no per-job lists of ids in the query (10,000 of them took
    # Django longer to compile than PostgreSQL to run the query).
    kept = Q(epoch__in=[1, *range(stride, longest + 1, stride)]) | Q(epoch=F("training_job__epochs_run"))
    if whole:
        kept |= Q(training_job_id__in=whole)
    samples = MetricSample.objects.filter(tuning_job_id=tuning_job.id, metric_name=metric).filter(kept)
    jobs: dict[str, dict[str, list]] = {}
    cursor: dict[str, int] = {}
    for job_id, newest, epochs, values in samples_by_training_job(samples):
        name = names[job_id]
        jobs[name] = {metric: [[epoch, six_digits(value)] for epoch, value in zip(epochs, values, strict=True)]}
        cursor[name] = newest
    return {
        "jobs": jobs,
        "cursor": cursor,
        "more": False,
        "thinned": {"stride": stride, "jobs": len(rows) - len(whole), "whole": len(whole)},
        "statuses": {name: status for _, name, status, _, _ in rows},
    }


def samples_by_training_job(samples):
    """(training job id, newest sample id, epochs, values) per training job of `samples`.

    Grouped by the database where it can (PostgreSQL's array_agg): a row per
    job instead of a row per sample is most of what makes a 10,000-job
    overview quick, and the Python that is left runs under the GIL beside the
    page's other requests. Elsewhere (SQLite) the same grouping is done here.
    """
    samples = samples.order_by()
    if connection.vendor == "postgresql":
        grouped = samples.values_list("training_job_id").annotate(
            newest=Max("id"), epochs=ArrayAgg("epoch"), values=ArrayAgg("value")
        )
        # Run as plain SQL: psycopg already returns lists of ints and floats, and
        # Django's array converters would take longer than the query for 10,000 rows.
        sql, params = grouped.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    by_job: dict[int, tuple[list, list, list]] = {}
    for sample_id, job_id, epoch, value in samples.values_list("id", "training_job_id", "epoch", "value").iterator(
        chunk_size=20_000
    ):
        newest, epochs, values = by_job.setdefault(job_id, ([0], [], []))
        newest[0] = max(newest[0], sample_id)
        epochs.append(epoch)
        values.append(value)
    return [(job_id, newest[0], epochs, values) for job_id, (newest, epochs, values) in by_job.items()]


def six_digits(value: float) -> float | None:
    """Six significant digits, as the charts show them (a third of the bytes of a full float); None if not finite."""
    return float(f"{value:.6g}") if math.isfinite(value) else None


def learning_curves_first_load(*, tuning_job: TuningJob, metric: str) -> dict:
    """What a page first draws of the learning curves: the overview if the tuning job is big, else every sample.

    Same shape as metric_samples_since, plus "statuses" {training job: status}:
    the page groups the curves by status, so with them it draws at once
    instead of waiting for summary.json. Its cursor is what the page's socket
    then sends in its catch-up, so the socket brings only what came after.
    """
    overview = learning_curves_overview(tuning_job=tuning_job, metric=metric)
    if overview is not None:
        return overview
    # Read before the samples, as the overview does: a status that changes after this read
    # reaches the page by the socket's events or its first summary.json.
    statuses = dict(TrainingJob.objects.filter(tuning_job=tuning_job).values_list("name", "status"))
    first_load = metric_samples_since(tuning_job_id=tuning_job.id, since={}, metric=metric, limit=CURVE_FULL_SAMPLES)
    return {**first_load, "statuses": statuses}


# --- pages: list, table, charts ---------------------------------------------------------

TRAINING_JOB_SORTS = ("sequence", "objective", "duration", "status")
# Running first, then the endings; a list reads better in this order than alphabetically.
_STATUS_ORDER = [
    TrainingJobStatus.IN_PROGRESS,
    TrainingJobStatus.STOPPING,
    TrainingJobStatus.COMPLETED,
    TrainingJobStatus.STOPPED,
    TrainingJobStatus.FAILED,
]


@dataclass(frozen=True)
class TuningJobTotals:
    counters: StatusCounters
    training_seconds: float


def _running_time(now: datetime):
    """A training job's (ended or now) - started, as a database expression; NULL until it starts."""
    return ExpressionWrapper(
        Coalesce("ended_at", Value(now, output_field=DateTimeField())) - F("started_at"),
        output_field=DurationField(),
    )


def tuning_job_totals(*, tuning_job_ids, now: datetime) -> dict[int, TuningJobTotals]:
    """Counters and total training time of several tuning jobs, in one grouped query.

    For a page of the tuning-job list: asking tuning_job_counters once per row
    would be a query per row.
    """
    rows = (
        TrainingJob.objects.filter(tuning_job_id__in=list(tuning_job_ids))
        .values("tuning_job_id")
        .annotate(**_counter_aggregates(), training=Sum(_running_time(now)))
        .order_by()
    )
    totals = {}
    for row in rows:
        training = row.pop("training")
        tuning_job_id = row.pop("tuning_job_id")
        totals[tuning_job_id] = TuningJobTotals(
            counters=StatusCounters(**row),
            training_seconds=training.total_seconds() if training else 0.0,
        )
    return totals


def training_jobs_table(*, tuning_job: TuningJob, sort: str = "sequence", status: str = "", now: datetime):
    """A tuning job's training jobs for the table: filtered by `status`, ordered by `sort`.

    `sort` is one of TRAINING_JOB_SORTS, "-" in front for descending. Jobs
    without a finite objective (or without a duration) come last either way,
    so "best first" never opens on a page of blanks. Rows carry `duration`.
    """
    queryset = tuning_job.training_jobs.annotate(
        duration=_running_time(now),
        objective_missing=Case(
            When(final_objective_value__isnull=True, then=Value(1)),
            When(final_objective_value=math.nan, then=Value(1)),
            default=Value(0),
        ),
        status_rank=Case(
            *(When(status=value, then=Value(rank)) for rank, value in enumerate(_STATUS_ORDER)),
            default=Value(len(_STATUS_ORDER)),
        ),
    )
    if status:
        queryset = queryset.filter(status=status)
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    if key == "objective":
        value = F("final_objective_value")
        order = [
            "objective_missing",
            value.desc(nulls_last=True) if descending else value.asc(nulls_last=True),
        ]
    elif key == "duration":
        value = F("duration")
        order = [value.desc(nulls_last=True) if descending else value.asc(nulls_last=True)]
    elif key == "status":
        order = ["-status_rank" if descending else "status_rank"]
    else:
        order = []
    return queryset.order_by(*order, "-sequence" if descending and not order else "sequence")


def training_job_summaries(*, tuning_job: TuningJob, updated_since: datetime | None = None) -> list[dict]:
    """Every training job of a tuning job in the compact shape the detail page's charts draw.

    With `updated_since`, only the jobs that changed since then: how a page
    that has the rest already catches up after a dropped connection.
    """
    queryset = tuning_job.training_jobs.all()
    if updated_since is not None:
        queryset = queryset.filter(updated_at__gte=updated_since)
    rows = queryset.order_by("sequence").values_list(
        "name",
        "sequence",
        "status",
        "stop_reason",
        "final_objective_value",
        "objective_status",
        "tuned_hyperparameters",
        "epochs_run",
    )
    return [
        {
            "name": name,
            "sequence": sequence,
            "status": status,
            "stop_reason": stop_reason,
            "objective": finite_or_none(value),
            "objective_status": objective_status,
            "hyperparameters": hyperparameters,
            "epochs": epochs,
        }
        for name, sequence, status, stop_reason, value, objective_status, hyperparameters, epochs in rows
    ]


def finite_or_none(value: float | None) -> float | None:
    """JSON has no NaN or Infinity; a chart draws None as a gap."""
    return value if value is not None and math.isfinite(value) else None


def can_create_anywhere(*, user) -> bool:
    """Whether `user` may open the create form at all: staff, or an operator of some team."""
    return user.is_staff or teams_for_creation(user=user).exists()


def tuning_job_completion_criteria(*, tuning_job: TuningJob) -> criteria.CompletionCriteria:
    return criteria.CompletionCriteria(
        target_objective_value=tuning_job.target_objective_value,
        max_jobs_not_improving=tuning_job.max_jobs_not_improving,
        complete_on_convergence=tuning_job.complete_on_convergence,
    )


def tuning_job_completion_details(*, tuning_job: TuningJob) -> criteria.CompletionState:
    """TuningJobCompletionDetails as of now, for Describe (the reconcile step records its own)."""
    ended = tuning_job.training_jobs.filter(ended_at__isnull=False).order_by("ended_at", "sequence")
    finals = [
        value if status == ObjectiveStatus.SUCCEEDED and value is not None else math.nan
        for value, status in ended.values_list("final_objective_value", "objective_status")
    ]
    return criteria.evaluate(
        tuning_job_completion_criteria(tuning_job=tuning_job), finals, Direction(tuning_job.objective_type)
    )


def active_tuning_job_ids() -> list[int]:
    """The tuning jobs the reconcile loop advances: native ones still running or stopping."""
    return list(
        TuningJob.objects.filter(status__in=[TuningJobStatus.IN_PROGRESS, TuningJobStatus.STOPPING])
        .filter(source=TuningJobSource.NATIVE)
        .values_list("id", flat=True)
    )


def training_job_recorded_epochs(*, training_job: TrainingJob) -> dict[str, tuple[int, datetime]]:
    """Each metric's last stored epoch and its timestamp (CloudWatch's, for SageMaker jobs)."""
    samples = MetricSample.objects.filter(training_job=training_job)
    latest = dict(
        samples.order_by().values("metric_name").annotate(last=Max("epoch")).values_list("metric_name", "last")
    )
    if not latest:
        return {}
    matching = Q()
    for metric_name, epoch in latest.items():
        matching |= Q(metric_name=metric_name, epoch=epoch)
    return {
        metric_name: (epoch, timestamp)
        for metric_name, epoch, timestamp in samples.filter(matching).values_list("metric_name", "epoch", "timestamp")
    }


def training_job_log(*, training_job_id: int, offset: int | None, tail_bytes: int, max_bytes: int) -> dict | None:
    """The stored log from byte `offset` on (at most `max_bytes`, ending at a line end), or its tail.

    Returns {"start", "offset", "size", "text"}, the next read starting at
    "offset"; without `offset`, the last `tail_bytes` from a line start.
    None when nothing of this job's log was shipped to the database.
    """
    chunks = TrainingJobLogChunk.objects.filter(training_job_id=training_job_id)
    size = chunks.aggregate(end=Max(F("start") + F("size")))["end"]
    if size is None:
        return None
    start = max(0, size - tail_bytes) if offset is None else min(offset, size)
    pieces, end = [], start
    covering = chunks.annotate(end=F("start") + F("size")).filter(end__gt=start).order_by("start")
    for chunk in covering.values_list("start", "text").iterator():
        pieces.append(chunk[1].encode()[max(0, start - chunk[0]) :])
        end = chunk[0] + len(chunk[1].encode())
        if end - start >= max_bytes:
            break
    data = b"".join(pieces)[:max_bytes]
    if offset is None and start and b"\n" in data:
        skipped = data.index(b"\n") + 1  # from the first whole line
        data, start = data[skipped:], start + skipped
    if start + len(data) < size and b"\n" in data:
        # More follows: stop at a line end, so no line (or UTF-8 character) is cut in two.
        data = data[: data.rindex(b"\n") + 1]
    return {"start": start, "offset": start + len(data), "size": size, "text": data.decode("utf-8", errors="replace")}


def training_job_log_pieces(*, training_job_id: int):
    """The stored log's text, chunk by chunk in order: for a download of any length."""
    chunks = TrainingJobLogChunk.objects.filter(training_job_id=training_job_id).order_by("start")
    return chunks.values_list("text", flat=True).iterator()
