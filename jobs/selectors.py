"""Read queries shared by pages, the API, commands and workers."""

from dataclasses import dataclass

from django.db.models import Count, Q

from jobs.models import ObjectiveStatus, TrainingJob, TrainingJobStatus, TuningJob


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
    return {
        "completed": Count("pk", filter=Q(**{status: TrainingJobStatus.COMPLETED})),
        # A job that is Stopping still runs (and costs) until its program exits.
        "in_progress": Count(
            "pk", filter=Q(**{f"{status}__in": [TrainingJobStatus.IN_PROGRESS, TrainingJobStatus.STOPPING]})
        ),
        "non_retryable_error": Count("pk", filter=Q(**{status: TrainingJobStatus.FAILED})),
        "stopped": Count("pk", filter=Q(**{status: TrainingJobStatus.STOPPED})),
        "objective_succeeded": Count("pk", filter=Q(**{objective: ObjectiveStatus.SUCCEEDED})),
        "objective_pending": Count("pk", filter=Q(**{objective: ObjectiveStatus.PENDING})),
        "objective_failed": Count("pk", filter=Q(**{objective: ObjectiveStatus.FAILED})),
    }


def tuning_job_counters(*, tuning_job: TuningJob) -> StatusCounters:
    """Counters of one tuning job, in one aggregate query.

    Failed training jobs are never retried here, so they all count as
    NonRetryableError and RetryableError stays 0, as SageMaker reports it
    for jobs it did not retry.
    """
    return StatusCounters(**TrainingJob.objects.filter(tuning_job=tuning_job).aggregate(**_counter_aggregates()))


def tuning_job_get(*, name: str) -> TuningJob:
    return TuningJob.objects.select_related("algorithm", "best_training_job", "owner").get(name=name)


def training_jobs_for_tuning_job(*, tuning_job: TuningJob, status: str | None = None):
    queryset = tuning_job.training_jobs.all()
    if status:
        queryset = queryset.filter(status=status)
    return queryset
