"""The tuning jobs list, the create form, and the stop button of a tuning job's page."""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from jobs import formatting, selectors, services
from jobs.forms import TuningJobCreationForm
from jobs.models import TuningJob, TuningJobStatus
from jobs.views.base import visible_tuning_job

LIST_PAGE_SIZE = 25


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
