"""The tuning jobs list, the create form, and the stop button of a tuning job's page."""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.db.models import F
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from jobs import formatting, selectors, services
from jobs.forms import TuningJobCreationForm
from jobs.models import Tag, TuningJob, TuningJobStatus
from jobs.views.base import visible_tuning_job

LIST_PAGE_SIZE = 25
# ?sort=<key> or -<key>: the columns the list sorts by, each with the ordering it means (ties by name).
LIST_SORTS = {
    "name": (F("name"),),
    "status": (F("status"), F("name")),
    "algorithm": (F("algorithm__name"), F("name")),
    "best": (F("best_training_job__final_objective_value"), F("name")),
    "created": (F("created_at"), F("id")),
}
LIST_DEFAULT_SORT = "-created"
LIST_COLUMNS = [
    # (label, sort key or None, class, title)
    ("Name", "name", "", ""),
    ("Status", "status", "", ""),
    ("Algorithm", "algorithm", "", ""),
    ("Objective", None, "", "The objective metric and its goal"),
    ("Strategy", None, "", ""),
    ("Early stopping", None, "", ""),
    ("Completed", None, "num", "Training jobs Completed"),
    ("InProgress", None, "num", "Training jobs InProgress (including Stopping)"),
    ("Stopped", None, "num", "Training jobs Stopped"),
    ("Failed", None, "num", "Training jobs Failed"),
    ("Best objective", "best", "num", ""),
    ("Training time", None, "num", "Sum of the training jobs' running times"),
    ("Wall time", None, "num", "From creation to the end (or now)"),
    ("Created", "created", "", ""),
]


def _list_ordering(sort: str) -> list:
    """The ORDER BY of `sort`: descending for a leading "-", tuning jobs without a value last either way."""
    descending = sort.startswith("-")
    keys = LIST_SORTS[sort.lstrip("-")]
    return [key.desc(nulls_last=True) if descending else key.asc(nulls_last=True) for key in keys]


def _list_columns(sort: str) -> list[dict]:
    """The list's headers; a sortable one links to its sort, reversed when it is the current one."""
    current, descending = sort.lstrip("-"), sort.startswith("-")
    columns = []
    for label, key, css_class, title in LIST_COLUMNS:
        column = {"label": label, "class": css_class, "title": title, "sort": key}
        if key:
            is_current = key == current
            # Names and algorithms read A to Z first; values, times and statuses newest or highest first.
            ascending_first = key in ("name", "algorithm", "status")
            next_descending = not descending if is_current else not ascending_first
            column["next"] = f"{'-' if next_descending else ''}{key}"
            column["aria_sort"] = ("descending" if descending else "ascending") if is_current else "none"
        columns.append(column)
    return columns


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
        return formatting.duration(self.training_seconds)

    @property
    def wall_text(self) -> str:
        return formatting.duration(self.wall_seconds)

    @property
    def best_value(self) -> float | None:
        best = self.tuning_job.best_training_job
        return selectors.finite_or_none(best.final_objective_value) if best else None

    @property
    def best_text(self) -> str:
        return formatting.number(self.best_value)


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
    tag_key, tag_value = request.GET.get("tag", "").strip(), request.GET.get("tag_value", "").strip()
    if tag_key:
        tagged = Tag.objects.filter(key=tag_key, **({"value": tag_value} if tag_value else {}))
        tuning_jobs = tuning_jobs.filter(id__in=tagged.values("tuning_job_id"))
    sort = request.GET.get("sort", "")
    if sort.lstrip("-") not in LIST_SORTS:
        sort = LIST_DEFAULT_SORT
    tuning_jobs = (
        tuning_jobs.order_by(*_list_ordering(sort)).select_related("decision__training_job").prefetch_related("tags")
    )
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
            "tag": tag_key,
            "tag_value": tag_value,
            "sort": sort,
            "columns": _list_columns(sort),
            "can_create": selectors.can_create_anywhere(user=request.user),
            "page_config": {
                "socket": "/ws/tuning-jobs/",
                "status": status if status in TuningJobStatus.values else "",
                "query": query,
                "tag": tag_key,
                "active": sorted(active.values_list("name", flat=True)),
            },
        },
    )


@login_required
def tuning_job_create(request):
    if not selectors.can_create_anywhere(user=request.user):
        raise PermissionDenied("Only operators create tuning jobs.")
    # ?clone=<name> starts from a tuning job the user may see; ?warm_start=<name> also makes it the parent.
    source_name = request.GET.get("warm_start") or request.GET.get("clone")
    source = visible_tuning_job(request, source_name) if source_name else None
    creation = TuningJobCreationForm(
        request.POST if request.method == "POST" else None,
        user=request.user,
        source=source,
        warm_start="warm_start" in request.GET,
    )
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


@login_required
@require_POST
def tuning_job_stop(request, name):
    tuning_job = visible_tuning_job(request, name)
    if not selectors.can_operate(user=request.user, tuning_job=tuning_job):
        raise PermissionDenied("Viewers cannot stop tuning jobs.")
    try:
        services.tuning_job_stop(tuning_job_id=tuning_job.id)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("tuning-job-detail", name=name)
    messages.info(request, f"Stopping {tuning_job.name}: its running training jobs are being stopped.")
    return redirect("tuning-job-detail", name=name)
