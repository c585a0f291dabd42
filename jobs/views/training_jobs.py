"""A training job's page and what it polls: its metrics and its log."""

import itertools
import os
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from jobs import aws, formatting, selectors
from jobs.backends import s3
from jobs.models import ACTIVE_STATUSES, StopReason, TrainingJob
from jobs.views.base import json_login_required, training_job_seconds, visible_training_job

LOG_TAIL_BYTES = 16 * 1024
# How long a link to a model in S3 works: long enough to start the download.
MODEL_LINK_SECONDS = 300
LOG_CHUNK_BYTES = 64 * 1024


def _status_history(job: TrainingJob) -> list[dict]:
    """What is known of the job's life, from its timestamps; the model keeps no separate history."""
    history = [{"label": "Created", "at": job.created_at, "detail": f"training job {job.sequence} of the tuning job"}]
    if job.started_at:
        history.append({"label": "Started", "at": job.started_at, "detail": f"on {job.worker}" if job.worker else ""})
    if job.stop_reason:
        history.append({"label": "Stop requested", "at": None, "detail": job.get_stop_reason_display()})
    if job.ended_at:
        detail = f"after {formatting.duration(job.elapsed_seconds)}" if job.elapsed_seconds is not None else ""
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
        "objective_text": formatting.number(job.final_objective_value),
        "epochs": job.epochs_run,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "ended_at": job.ended_at.isoformat() if job.ended_at else None,
    }


@login_required
@require_GET
def training_job_detail(request, name):
    training_job = visible_training_job(request, name)
    tuning_job = training_job.tuning_job
    log = _read_log(training_job, offset=None)
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
            "duration_text": formatting.duration(training_job_seconds(training_job, timezone.now())),
            "objective_text": formatting.number(training_job.final_objective_value),
            "log": log,
            "can_operate": selectors.can_operate(user=request.user, tuning_job=tuning_job),
            "choosable": training_job.ended_with_model,
            "notes": training_job.review_notes.select_related("author").order_by("created_at", "id"),
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
    training_job = visible_training_job(request, name)
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


def _read_log(training_job: TrainingJob, offset: int | None) -> dict:
    """The log from byte `offset` on (at most LOG_CHUNK_BYTES, ending at a line end), or its tail.

    Returns {"start", "offset", "size", "text"}: the next read starts at
    "offset". From the database, where workers ship it as it is written; a
    job that ran before logs were shipped is read from its file, if this
    host has it.
    """
    stored = selectors.training_job_log(
        training_job_id=training_job.id, offset=offset, tail_bytes=LOG_TAIL_BYTES, max_bytes=LOG_CHUNK_BYTES
    )
    return stored if stored is not None else _read_log_file(training_job.log_path, offset)


def _read_log_file(path: str, offset: int | None) -> dict:
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
    training_job = visible_training_job(request, name)
    try:
        offset = _int_param(request, "offset", None)
    except ValueError:
        return JsonResponse({"detail": "offset must be a byte offset (a whole number >= 0)."}, status=400)
    return JsonResponse({**_read_log(training_job, offset), "active": training_job.status in ACTIVE_STATUSES})


@login_required
@require_GET
def training_job_log_download(request, name):
    training_job = visible_training_job(request, name)
    pieces = selectors.training_job_log_pieces(training_job_id=training_job.id)
    first = next(pieces, None)
    if first is not None:
        response = StreamingHttpResponse(
            (piece.encode() for piece in itertools.chain([first], pieces)), content_type="text/plain; charset=utf-8"
        )
    else:
        response = _log_file_response(training_job)
    response["Content-Disposition"] = f'inline; filename="{training_job.name}.log"'
    return response


def _log_file_response(training_job: TrainingJob) -> FileResponse:
    """A job that ran before logs were shipped to the database: its file, if this host has it."""
    if not training_job.log_path:
        raise Http404("This training job has no log yet.")
    try:
        log = open(training_job.log_path, "rb")  # FileResponse closes it
    except OSError:
        raise Http404("The log file is gone.") from None
    return FileResponse(log, content_type="text/plain; charset=utf-8")


@login_required
@require_GET
def training_job_model_download(request, name):
    """The job's model.tar.gz: from TUNEBOARD_ARTIFACTS_DIR, or a short-lived link to it in S3."""
    training_job = visible_training_job(request, name)
    uri = training_job.model_artifact_uri
    if uri.startswith("s3://"):
        bucket, key = s3.parse_s3_uri(uri)
        link = aws.client("s3").generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=MODEL_LINK_SECONDS
        )
        return HttpResponseRedirect(link)
    if uri.startswith("file://"):
        path = Path(url2pathname(urlparse(uri).path)).resolve()
        # Only what a worker put there: a row naming another file gets nothing.
        if path.is_relative_to(Path(settings.TUNEBOARD_ARTIFACTS_DIR).resolve()) and path.is_file():
            return FileResponse(open(path, "rb"), as_attachment=True, filename=f"{training_job.name}-model.tar.gz")
    raise Http404("This training job has no model to download here.")
