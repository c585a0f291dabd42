"""What every page module needs: the login check for script endpoints and the scoped lookups."""

from datetime import datetime
from functools import wraps

from django.http import JsonResponse
from django.shortcuts import get_object_or_404

from jobs import selectors
from jobs.models import TrainingJob, TuningJob


def json_login_required(view):
    """login_required for endpoints that scripts read: a 401 in JSON, not a redirect to an HTML page."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return JsonResponse({"detail": "Log in first."}, status=401)
        return view(request, *args, **kwargs)

    return wrapper


def visible_tuning_job(request, name: str) -> TuningJob:
    return get_object_or_404(selectors.tuning_jobs_visible_to(user=request.user), name=name)


def visible_training_job(request, name: str) -> TrainingJob:
    return get_object_or_404(
        selectors.training_jobs_visible_to(user=request.user).select_related("tuning_job"), name=name
    )


def training_job_seconds(job: TrainingJob, now: datetime) -> float | None:
    """How long the job ran (so far, if it runs): the annotated `duration` where the query added it."""
    duration = getattr(job, "duration", None)
    if duration is not None:
        return duration.total_seconds()
    if job.started_at is None:
        return None
    return ((job.ended_at or now) - job.started_at).total_seconds()
