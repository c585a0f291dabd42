"""A tuning job's page, the training-jobs table it swaps in, and the JSON its charts read."""

import time
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET

from jobs import formatting, selectors
from jobs.models import ObjectiveType, TrainingJob, TrainingJobStatus, TuningJob
from jobs.tuning.space import (
    CategoricalParameterRange,
    IntegerParameterRange,
    ScalingType,
    SearchSpace,
    effective_scaling,
)
from jobs.views.base import json_login_required, training_job_seconds, visible_tuning_job

TABLE_PAGE_SIZE = 50
# A summary's "as of" is moved back this much: a row written in a transaction
# that began before the read but committed after it still has an updated_at
# before the read, and the next incremental read must not miss it. Rows seen
# twice are merged, so the overlap costs nothing but bytes.
SUMMARY_OVERLAP = timedelta(seconds=10)
TRAINING_JOB_NAME_PLACEHOLDER = "__name__"
TABLE_TEMPLATE = "jobs/_training_jobs_table.html"


def _training_job_url(name: str) -> str:
    return reverse("training-job-detail", args=[name])


# --- the training-jobs table ----------------------------------------------------------------


def _table_row(job: TrainingJob, now: datetime) -> dict:
    duration = training_job_seconds(job, now)
    value = job.final_objective_value
    return {
        "name": job.name,
        "url": _training_job_url(job.name),
        "sequence": job.sequence,
        "status": job.status,
        "stop_reason": job.stop_reason,
        "stop_reason_text": job.get_stop_reason_display() if job.stop_reason else "",
        "objective": selectors.finite_or_none(value),
        "objective_text": formatting.number(value),
        "epochs": job.epochs_run,
        "duration": duration,
        "duration_text": formatting.duration(duration),
        "hyperparameters": job.tuned_hyperparameters,
    }


def _table(request, tuning_job: TuningJob) -> dict:
    """The page of the training-jobs table that the query string asks for."""
    sort = request.GET.get("sort", "sequence")
    if sort.lstrip("-") not in selectors.TRAINING_JOB_SORTS:
        sort = "sequence"
    status = request.GET.get("status", "")
    if status not in TrainingJobStatus.values:
        status = ""
    now = timezone.now()
    queryset = selectors.training_jobs_table(tuning_job=tuning_job, sort=sort, status=status, now=now)
    page = Paginator(queryset, TABLE_PAGE_SIZE).get_page(request.GET.get("page"))
    return {
        "rows": [_table_row(job, now) for job in page],
        "page": page.number,
        "num_pages": page.paginator.num_pages,
        "count": page.paginator.count,
        "sort": sort,
        "status": status,
    }


TABLE_FIRST_VIEW = {"page": 1, "sort": "sequence", "status": ""}

TABLE_COLUMNS = [
    # (label, sort key or None, class)
    ("#", "sequence", "num"),
    ("Name", None, ""),
    ("Status", "status", ""),
    ("Stop reason", None, ""),
    ("Objective", "objective", "num"),
    ("Epochs", None, "num"),
    ("Duration", "duration", "num"),
    ("Hyperparameters", None, ""),
]


def _table_columns(tuning_job: TuningJob, table: dict) -> list[dict]:
    """The table's headers; a sortable one links to its sort, reversed when it is the current one."""
    best_first = "-objective" if tuning_job.objective_type == ObjectiveType.MAXIMIZE else "objective"
    first = {"sequence": "sequence", "status": "status", "objective": best_first, "duration": "-duration"}
    columns = []
    for label, key, css_class in TABLE_COLUMNS:
        column = {"label": label, "class": css_class, "sort": key}
        if key:
            current = table["sort"].lstrip("-") == key
            descending = table["sort"].startswith("-")
            target = (key if descending else f"-{key}") if current else first[key]
            column.update(
                first=first[key],
                query=urlencode({"sort": target, "status": table["status"]}),
                aria_sort=("descending" if descending else "ascending") if current else "none",
            )
        columns.append(column)
    return columns


def _table_context(request, tuning_job: TuningJob) -> dict:
    """What the table's template needs: the page of rows, the headers, and the links of each.

    Every link carries the same query twice: as its href, for a page load (and
    the address bar), and on the partial's URL, which htmx swaps in.
    """
    table = _table(request, tuning_job)

    def query(**changes) -> str:
        return urlencode({"page": table["page"], "sort": table["sort"], "status": table["status"], **changes})

    # The address bar shows only what differs from the table's first view, so that a live
    # refresh of that view leaves the page's own URL alone.
    chosen = {key: table[key] for key, first in TABLE_FIRST_VIEW.items() if table[key] != first}
    page_url = reverse("tuning-job-detail", args=[tuning_job.name])
    table.update(
        partial_url=reverse("tuning-job-training-jobs", args=[tuning_job.name]),
        page_url=f"{page_url}?{urlencode(chosen)}#training-jobs" if chosen else page_url,
        query=query(),
        previous_query=query(page=table["page"] - 1),
        next_query=query(page=table["page"] + 1),
    )
    return {
        "table": table,
        "table_columns": _table_columns(tuning_job, table),
        "training_job_statuses": TrainingJobStatus.values,
    }


@json_login_required
@require_GET
def tuning_job_training_jobs(request, name):
    """The training-jobs table alone (`?page=&sort=&status=`), as the page swaps it in."""
    tuning_job = visible_tuning_job(request, name)
    return render(request, TABLE_TEMPLATE, _table_context(request, tuning_job))


# --- the page ------------------------------------------------------------------------------


def _parameters(tuning_job: TuningJob) -> list[dict]:
    """The tuned hyperparameters as the charts need them: kind, categories, whether to draw on a log axis."""
    parameters = []
    for param_range in SearchSpace.from_dicts(tuning_job.parameter_ranges).ranges:
        if isinstance(param_range, CategoricalParameterRange):
            parameters.append({"name": param_range.name, "type": "Categorical", "values": list(param_range.values)})
        else:
            parameters.append(
                {
                    "name": param_range.name,
                    "type": "Integer" if isinstance(param_range, IntegerParameterRange) else "Continuous",
                    "min": param_range.min_value,
                    "max": param_range.max_value,
                    "log": effective_scaling(param_range) is ScalingType.LOGARITHMIC,
                }
            )
    return parameters


def _best(tuning_job: TuningJob) -> dict | None:
    best = tuning_job.best_training_job
    if best is None:
        return None
    return {
        "name": best.name,
        "value": selectors.finite_or_none(best.final_objective_value),
        "hyperparameters": best.tuned_hyperparameters,
    }


@login_required
@require_GET
def tuning_job_detail(request, name):
    # Taken before any read: the page keeps whichever counters and best job
    # were read last, these or the socket's.
    counters_read_at = time.time()
    tuning_job = visible_tuning_job(request, name)
    counters = selectors.counters_payload(selectors.tuning_job_counters(tuning_job=tuning_job))
    can_operate = selectors.can_operate(user=request.user, tuning_job=tuning_job)
    return render(
        request,
        "jobs/tuning_job_detail.html",
        {
            "tuning_job": tuning_job,
            "counters": counters,
            "can_operate": can_operate,
            "can_create": selectors.can_create_anywhere(user=request.user),
            "tags": list(tuning_job.tags.all()),
            "notes": tuning_job.review_notes.select_related("author", "training_job").order_by("created_at", "id"),
            **_table_context(request, tuning_job),
            "page_config": {
                "name": tuning_job.name,
                "status": tuning_job.status,
                "objective": {"metric": tuning_job.objective_metric_name, "type": tuning_job.objective_type},
                "parameters": _parameters(tuning_job),
                "counters": counters,
                "counters_read_at": counters_read_at,
                "best": _best(tuning_job),
                "urls": {
                    "socket": f"/ws/tuning-jobs/{tuning_job.name}/",
                    "summary": reverse("tuning-job-summary", args=[tuning_job.name]),
                    "curves": reverse("tuning-job-curves", args=[tuning_job.name]),
                    "training_job": _training_job_url(TRAINING_JOB_NAME_PLACEHOLDER),
                },
                "placeholder": TRAINING_JOB_NAME_PLACEHOLDER,
            },
        },
    )


@json_login_required
@require_GET
def tuning_job_summary(request, name):
    """Every training job in the charts' compact shape; `?updated_since=<as_of>` for only what changed."""
    counters_read_at = time.time()  # before any read, as in tuning_job_detail
    tuning_job = visible_tuning_job(request, name)
    updated_since = None
    if "updated_since" in request.GET:
        updated_since = parse_datetime(request.GET["updated_since"])
        if updated_since is None or updated_since.tzinfo is None:
            return JsonResponse({"detail": "updated_since must be an ISO 8601 time with a zone."}, status=400)
    as_of = timezone.now() - SUMMARY_OVERLAP
    return JsonResponse(
        {
            "as_of": as_of.isoformat(),
            "counters_read_at": counters_read_at,
            "status": tuning_job.status,
            "failure_reason": tuning_job.failure_reason,
            "counters": selectors.counters_payload(selectors.tuning_job_counters(tuning_job=tuning_job)),
            "best": _best(tuning_job),
            "training_jobs": selectors.training_job_summaries(tuning_job=tuning_job, updated_since=updated_since),
        }
    )


@json_login_required
@require_GET
def tuning_job_curves(request, name):
    """The learning curves' first load (thinned if big), read while the page is still loading plotly.js.

    Over HTTP rather than the socket: the request starts from the page's head,
    so the read runs while the browser compiles plotly.js instead of after
    the socket has opened. The socket's catch-up starts from the cursor.
    """
    tuning_job = visible_tuning_job(request, name)
    return JsonResponse(
        selectors.learning_curves_first_load(tuning_job=tuning_job, metric=tuning_job.objective_metric_name)
    )
