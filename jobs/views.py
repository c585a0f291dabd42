"""Server-rendered pages. Thin: reads come from selectors, writes go to services."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from jobs import selectors, services
from jobs.models import TuningJobStatus

LOG_TAIL_BYTES = 16 * 1024


@login_required
def tuning_job_list(request):
    tuning_jobs = selectors.tuning_jobs_visible_to(user=request.user)
    status = request.GET.get("status", "")
    if status in TuningJobStatus.values:
        tuning_jobs = tuning_jobs.filter(status=status)
    rows = [(job, selectors.tuning_job_counters(tuning_job=job)) for job in tuning_jobs[:200]]
    return render(
        request,
        "jobs/tuning_job_list.html",
        {"rows": rows, "statuses": TuningJobStatus.values, "status": status},
    )


@login_required
def tuning_job_detail(request, name):
    tuning_job = get_object_or_404(selectors.tuning_jobs_visible_to(user=request.user), name=name)
    return render(
        request,
        "jobs/tuning_job_detail.html",
        {
            "tuning_job": tuning_job,
            "counters": selectors.tuning_job_counters(tuning_job=tuning_job),
            "training_jobs": selectors.training_jobs_for_tuning_job(tuning_job=tuning_job),
        },
    )


@login_required
@require_POST
def tuning_job_stop(request, name):
    tuning_job = get_object_or_404(selectors.tuning_jobs_visible_to(user=request.user), name=name)
    if not selectors.can_operate(user=request.user, tuning_job=tuning_job):
        raise PermissionDenied("Viewers cannot stop tuning jobs.")
    services.tuning_job_stop(tuning_job_id=tuning_job.id)
    return redirect("tuning-job-detail", name=name)


@login_required
def training_job_detail(request, name):
    training_job = get_object_or_404(
        selectors.training_jobs_visible_to(user=request.user).select_related("tuning_job"), name=name
    )
    return render(
        request,
        "jobs/training_job_detail.html",
        {
            "training_job": training_job,
            "samples": training_job.metric_samples.order_by("metric_name", "epoch"),
            "log_tail": _log_tail(training_job.log_path),
        },
    )


def _log_tail(path: str) -> str:
    if not path:
        return ""
    try:
        with open(path, "rb") as log:
            log.seek(0, 2)
            size = log.tell()
            log.seek(max(0, size - LOG_TAIL_BYTES))
            return log.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
