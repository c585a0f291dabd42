"""Server-rendered pages and the small JSON endpoints their scripts read.

Thin: reads come from selectors, writes go to services. Every page needs a
login; a tuning job (or training job) that the user may not see is a 404 on
every page and endpoint, exactly like one that does not exist, and a viewer
gets a 403 where only an operator may act.

Live data reaches the pages over the websocket (jobs.consumers); these
endpoints serve what a socket does not carry: the table's pages, the training
jobs' hyperparameters for the charts, one training job's metrics and log.
"""

import math
import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST

from jobs import selectors, services
from jobs.forms import TuningJobCreationForm
from jobs.models import (
    ACTIVE_STATUSES,
    ObjectiveType,
    StopReason,
    TrainingJob,
    TrainingJobStatus,
    TuningJob,
    TuningJobStatus,
)
from jobs.tuning.space import (
    CategoricalParameterRange,
    IntegerParameterRange,
    ScalingType,
    SearchSpace,
    effective_scaling,
)

LIST_PAGE_SIZE = 25
TABLE_PAGE_SIZE = 50
LOG_TAIL_BYTES = 16 * 1024
LOG_CHUNK_BYTES = 64 * 1024
# A summary's "as of" is moved back this much: a row written in a transaction
# that began before the read but committed after it still has an updated_at
# before the read, and the next incremental read must not miss it. Rows seen
# twice are merged, so the overlap costs nothing but bytes.
SUMMARY_OVERLAP = timedelta(seconds=10)
TRAINING_JOB_NAME_PLACEHOLDER = "__name__"


def json_login_required(view):
    """login_required for endpoints that scripts read: a 401 in JSON, not a redirect to an HTML page."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return JsonResponse({"detail": "Log in first."}, status=401)
        return view(request, *args, **kwargs)

    return wrapper


def _visible_tuning_job(request, name: str) -> TuningJob:
    return get_object_or_404(selectors.tuning_jobs_visible_to(user=request.user), name=name)


def _visible_training_job(request, name: str) -> TrainingJob:
    return get_object_or_404(
        selectors.training_jobs_visible_to(user=request.user).select_related("tuning_job"), name=name
    )


# --- tuning jobs list ---------------------------------------------------------------------


@dataclass(frozen=True)
class TuningJobRow:
    tuning_job: TuningJob
    counters: selectors.StatusCounters
    training_seconds: float
    wall_seconds: float

    @property
    def counter_items(self) -> list[tuple[str, int]]:
        return list(selectors.counters_payload(self.counters).items())

    @property
    def training_text(self) -> str:
        return duration_text(self.training_seconds)

    @property
    def wall_text(self) -> str:
        return duration_text(self.wall_seconds)

    @property
    def best_value(self) -> float | None:
        best = self.tuning_job.best_training_job
        return selectors.finite_or_none(best.final_objective_value) if best else None

    @property
    def best_text(self) -> str:
        return objective_text(self.best_value)


@login_required
@require_GET
def tuning_job_list(request):
    tuning_jobs = selectors.tuning_jobs_visible_to(user=request.user)
    status = request.GET.get("status", "")
    if status in TuningJobStatus.values:
        tuning_jobs = tuning_jobs.filter(status=status)
    query = request.GET.get("q", "").strip()
    if query:
        tuning_jobs = tuning_jobs.filter(name__icontains=query)
    page = Paginator(tuning_jobs, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    totals = selectors.tuning_job_totals(tuning_job_ids=[job.id for job in page], now=now)
    empty = selectors.TuningJobTotals(counters=selectors.StatusCounters(), training_seconds=0.0)
    rows = [
        TuningJobRow(
            tuning_job=job,
            counters=totals.get(job.id, empty).counters,
            training_seconds=totals.get(job.id, empty).training_seconds,
            wall_seconds=((job.ended_at or now) - job.created_at).total_seconds(),
        )
        for job in page
    ]
    # The script tells a new tuning job from one on another page by this list.
    active = selectors.tuning_jobs_visible_to(user=request.user).filter(
        status__in=[TuningJobStatus.IN_PROGRESS, TuningJobStatus.STOPPING]
    )
    return render(
        request,
        "jobs/tuning_job_list.html",
        {
            "rows": rows,
            "page": page,
            "statuses": TuningJobStatus.values,
            "status": status,
            "query": query,
            "can_create": selectors.can_create_anywhere(user=request.user),
            "page_config": {
                "socket": "/ws/tuning-jobs/",
                "status": status if status in TuningJobStatus.values else "",
                "query": query,
                "active": sorted(active.values_list("name", flat=True)),
            },
        },
    )


# --- create -----------------------------------------------------------------------------------


@login_required
def tuning_job_create(request):
    if not selectors.can_create_anywhere(user=request.user):
        raise PermissionDenied("Only operators create tuning jobs.")
    creation = TuningJobCreationForm(request.POST if request.method == "POST" else None, user=request.user)
    if request.method == "POST" and creation.is_valid():
        config = creation.config()
        try:
            tuning_job = services.tuning_job_create(config=config, owner=request.user)
        except ValidationError as error:
            creation.add_errors(error)
        except IntegrityError:
            # Created by someone else between the check and the insert.
            creation.add_errors(ValidationError({"name": [f"A tuning job named {config.name!r} already exists."]}))
        else:
            messages.success(request, f"Tuning job {tuning_job.name} created.")
            return redirect("tuning-job-detail", name=tuning_job.name)
    return render(
        request, "jobs/tuning_job_form.html", {"creation": creation, "algorithms": creation.algorithm_catalog()}
    )


# --- tuning job detail ---------------------------------------------------------------------------


def _training_job_url(name: str) -> str:
    return reverse("training-job-detail", args=[name])


def _duration_seconds(job: TrainingJob, now: datetime) -> float | None:
    duration = getattr(job, "duration", None)
    if duration is not None:
        return duration.total_seconds()
    if job.started_at is None:
        return None
    return ((job.ended_at or now) - job.started_at).total_seconds()


def duration_text(seconds: float | None) -> str:
    """3 s, 4 m 05 s, 2 h 03 m: short enough for a table cell, exact enough to compare."""
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} m"
    if minutes:
        return f"{minutes} m {seconds:02d} s"
    return f"{seconds} s"


def objective_text(value: float | None) -> str:
    if value is None:
        return "–"
    if math.isnan(value):
        return "NaN"
    return f"{value:.6g}"


def _table_row(job: TrainingJob, now: datetime) -> dict:
    """One row of the training-jobs table, the same for the page and for its JSON pages."""
    duration = _duration_seconds(job, now)
    value = job.final_objective_value
    return {
        "name": job.name,
        "url": _training_job_url(job.name),
        "sequence": job.sequence,
        "status": job.status,
        "stop_reason": job.stop_reason,
        "stop_reason_text": job.get_stop_reason_display() if job.stop_reason else "",
        "objective": selectors.finite_or_none(value),
        "objective_text": objective_text(value),
        "epochs": job.epochs_run,
        "duration": duration,
        "duration_text": duration_text(duration),
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
            query = urlencode({"sort": target, "status": table["status"]})
            column.update(
                first=first[key],
                href=f"?{query}#training-jobs",
                aria_sort=("descending" if descending else "ascending") if current else "none",
            )
        columns.append(column)
    return columns


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
    tuning_job = _visible_tuning_job(request, name)
    counters = selectors.counters_payload(selectors.tuning_job_counters(tuning_job=tuning_job))
    can_operate = selectors.can_operate(user=request.user, tuning_job=tuning_job)
    table = _table(request, tuning_job)
    return render(
        request,
        "jobs/tuning_job_detail.html",
        {
            "tuning_job": tuning_job,
            "counters": counters,
            "can_operate": can_operate,
            "table": table,
            "table_columns": _table_columns(tuning_job, table),
            "training_job_statuses": TrainingJobStatus.values,
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
                    "table": reverse("tuning-job-training-jobs", args=[tuning_job.name]),
                    "training_job": _training_job_url(TRAINING_JOB_NAME_PLACEHOLDER),
                },
                "placeholder": TRAINING_JOB_NAME_PLACEHOLDER,
                "table": {"page": table["page"], "sort": table["sort"], "status": table["status"]},
                "stop_reasons": dict(StopReason.choices),
            },
        },
    )


@json_login_required
@require_GET
def tuning_job_summary(request, name):
    """Every training job in the charts' compact shape; `?updated_since=<as_of>` for only what changed."""
    counters_read_at = time.time()  # before any read, as in tuning_job_detail
    tuning_job = _visible_tuning_job(request, name)
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
    tuning_job = _visible_tuning_job(request, name)
    return JsonResponse(
        selectors.learning_curves_first_load(tuning_job=tuning_job, metric=tuning_job.objective_metric_name)
    )


@json_login_required
@require_GET
def tuning_job_training_jobs(request, name):
    """A page of the training-jobs table: `?page=&sort=&status=`, as the page's links say."""
    tuning_job = _visible_tuning_job(request, name)
    return JsonResponse(_table(request, tuning_job))


@login_required
@require_POST
def tuning_job_stop(request, name):
    tuning_job = _visible_tuning_job(request, name)
    if not selectors.can_operate(user=request.user, tuning_job=tuning_job):
        raise PermissionDenied("Viewers cannot stop tuning jobs.")
    try:
        services.tuning_job_stop(tuning_job_id=tuning_job.id)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("tuning-job-detail", name=name)
    messages.info(request, f"Stopping {tuning_job.name}: its running training jobs are being stopped.")
    return redirect("tuning-job-detail", name=name)


# --- training job detail ---------------------------------------------------------------------------


def _status_history(job: TrainingJob) -> list[dict]:
    """What is known of the job's life, from its timestamps; the model keeps no separate history."""
    history = [{"label": "Created", "at": job.created_at, "detail": f"training job {job.sequence} of the tuning job"}]
    if job.started_at:
        history.append({"label": "Started", "at": job.started_at, "detail": f"on {job.worker}" if job.worker else ""})
    if job.stop_reason:
        history.append({"label": "Stop requested", "at": None, "detail": job.get_stop_reason_display()})
    if job.ended_at:
        detail = f"after {duration_text(job.elapsed_seconds)}" if job.elapsed_seconds is not None else ""
        history.append({"label": job.status, "at": job.ended_at, "detail": detail})
    return history


def _job_state(job: TrainingJob) -> dict:
    """What the training job page updates in place while it polls."""
    return {
        "status": job.status,
        "active": job.is_active,
        "stop_reason": job.stop_reason,
        "stop_reason_text": StopReason(job.stop_reason).label if job.stop_reason else "",
        "failure_reason": job.failure_reason,
        "objective": selectors.finite_or_none(job.final_objective_value),
        "objective_text": objective_text(job.final_objective_value),
        "epochs": job.epochs_run,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "ended_at": job.ended_at.isoformat() if job.ended_at else None,
    }


@login_required
@require_GET
def training_job_detail(request, name):
    training_job = _visible_training_job(request, name)
    tuning_job = training_job.tuning_job
    log = _read_log(training_job.log_path, offset=None)
    tuned = training_job.tuned_hyperparameters
    return render(
        request,
        "jobs/training_job_detail.html",
        {
            "training_job": training_job,
            "tuning_job": tuning_job,
            "hyperparameters": [
                {"name": key, "value": value, "tuned": key in tuned}
                for key, value in sorted(training_job.hyperparameters.items())
            ],
            "history": _status_history(training_job),
            "duration_text": duration_text(_duration_seconds(training_job, timezone.now())),
            "objective_text": objective_text(training_job.final_objective_value),
            "log": log,
            "page_config": {
                "name": training_job.name,
                "objective_metric": tuning_job.objective_metric_name,
                "state": _job_state(training_job),
                "log_offset": log["offset"],
                "urls": {
                    "metrics": reverse("training-job-metrics", args=[training_job.name]),
                    "log": reverse("training-job-log", args=[training_job.name]),
                },
            },
        },
    )


def _int_param(request, key: str, default: int | None) -> int | None:
    """A non-negative integer query parameter; ValueError if it is something else."""
    raw = request.GET.get(key)
    if raw is None or raw == "":
        return default
    value = int(raw)
    if value < 0:
        raise ValueError(key)
    return value


@json_login_required
@require_GET
def training_job_metrics(request, name):
    """Samples of every metric after sample id `after`, and the job's state: what the page polls."""
    training_job = _visible_training_job(request, name)
    try:
        after = _int_param(request, "after", 0)
    except ValueError:
        return JsonResponse({"detail": "after must be a sample id (a whole number >= 0)."}, status=400)
    batch = selectors.metric_samples_since(tuning_job_id=training_job.tuning_job_id, since={name: after}, only={name})
    return JsonResponse(
        {
            "metrics": batch["jobs"].get(name, {}),
            "cursor": batch["cursor"].get(name, after),
            "more": batch["more"],
            "job": _job_state(training_job),
        }
    )


def _read_log(path: str, offset: int | None) -> dict:
    """The log from byte `offset` on (at most LOG_CHUNK_BYTES, ending at a line end), or its tail.

    Returns {"start", "offset", "size", "text"}: the next read starts at
    "offset". Without `offset`, the last LOG_TAIL_BYTES from a line start.
    """
    empty = {"start": 0, "offset": 0, "size": 0, "text": ""}
    if not path:
        return empty
    try:
        with open(path, "rb") as log:
            size = os.fstat(log.fileno()).st_size
            if offset is None:
                start = max(0, size - LOG_TAIL_BYTES)
                log.seek(start)
                if start:
                    start += len(log.readline())  # from the first whole line
            else:
                start = min(offset, size)
            log.seek(start)
            chunk = log.read(LOG_CHUNK_BYTES)
    except OSError:
        return empty
    if len(chunk) == LOG_CHUNK_BYTES and start + len(chunk) < size and b"\n" in chunk:
        # More follows: stop at a line end, so no line (or UTF-8 character) is cut in two.
        chunk = chunk[: chunk.rindex(b"\n") + 1]
    return {
        "start": start,
        "offset": start + len(chunk),
        "size": size,
        "text": chunk.decode("utf-8", errors="replace"),
    }


@json_login_required
@require_GET
def training_job_log(request, name):
    """`?offset=N`: the log from byte N on; without it, the tail. Poll with the returned offset."""
    training_job = _visible_training_job(request, name)
    try:
        offset = _int_param(request, "offset", None)
    except ValueError:
        return JsonResponse({"detail": "offset must be a byte offset (a whole number >= 0)."}, status=400)
    return JsonResponse({**_read_log(training_job.log_path, offset), "active": training_job.status in ACTIVE_STATUSES})


@login_required
@require_GET
def training_job_log_download(request, name):
    training_job = _visible_training_job(request, name)
    if not training_job.log_path:
        raise Http404("This training job has no log yet.")
    try:
        log = open(training_job.log_path, "rb")  # FileResponse closes it
    except OSError:
        raise Http404("The log file is gone.") from None
    response = FileResponse(log, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{training_job.name}.log"'
    return response
