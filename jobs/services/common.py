"""Steps several services share: stopping a training job, its event, the best job, the read-only guard."""

from django.core.exceptions import ValidationError
from django.utils import timezone

from jobs import realtime
from jobs.models import ObjectiveStatus, ObjectiveType, TrainingJob, TrainingJobStatus, TuningJob
from jobs.selectors import finite_or_none


def request_training_job_stop(training_job: TrainingJob, reason: str) -> None:
    """Mark a running job Stopping; its worker sees that on its next poll.

    A job whose program has not started yet has nothing to signal, so it ends
    Stopped at once; its task then finds nothing to claim.
    """
    training_job.stop_reason = reason
    if training_job.started_at is None:
        training_job.status = TrainingJobStatus.STOPPED
        training_job.objective_status = ObjectiveStatus.FAILED
        training_job.ended_at = timezone.now()
    else:
        training_job.status = TrainingJobStatus.STOPPING
    training_job.save(update_fields=["status", "stop_reason", "objective_status", "ended_at", "updated_at"])
    publish_training_job(realtime.TRAINING_JOB_STATUS, training_job)


def update_best_training_job(tuning_job: TuningJob) -> None:
    order = "-final_objective_value" if tuning_job.objective_type == ObjectiveType.MAXIMIZE else "final_objective_value"
    best = (
        tuning_job.training_jobs.filter(objective_status=ObjectiveStatus.SUCCEEDED).order_by(order, "sequence").first()
    )
    TuningJob.objects.filter(pk=tuning_job.pk).update(best_training_job=best, updated_at=timezone.now())


def publish_training_job(event_type: str, training_job: TrainingJob) -> None:
    realtime.publish(
        realtime.Event(
            event_type,
            training_job.tuning_job_id,
            {
                "name": training_job.name,
                "status": training_job.status,
                "stop_reason": training_job.stop_reason,
                "final_objective_value": finite_or_none(training_job.final_objective_value),
            },
        )
    )


class ImportedTuningJobReadOnly(ValidationError):
    """An action that would change an imported tuning job; a ValidationError so every entry point shows it."""


def refuse_imported(tuning_job: TuningJob, action: str) -> None:
    if tuning_job.is_imported:
        raise ImportedTuningJobReadOnly(
            {
                "tuning_job": [
                    f"{tuning_job.name} was imported from SageMaker and is read-only here: "
                    f"{action} it on SageMaker, then import it again."
                ]
            }
        )
