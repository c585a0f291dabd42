"""Storing tuning jobs imported from SageMaker.

An imported tuning job is a record of work SageMaker did: Tuneboard shows,
compares and reports it, but never runs, stops or advances it. Importing is
an upsert keyed by the tuning job's name (and checked against its ARN), so
importing again brings the record up to date and never duplicates it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs import realtime
from jobs.backends.metrics import MetricRecord
from jobs.backends.text import clean_program_text
from jobs.models import Algorithm, Backend, MetricSample, TrainingJob, TuningJob, TuningJobSource
from jobs.sagemaker.algorithm import algorithm_for_image
from jobs.services import common

if TYPE_CHECKING:
    from jobs.sagemaker.shapes import ImportedTrainingJob, ImportedTuningJob


def native_name_taken_message(name: str) -> str:
    return f"A tuning job named {name!r} was created in Tuneboard; a SageMaker job cannot replace it."


@dataclass(frozen=True)
class ImportOutcome:
    tuning_job: TuningJob
    created: bool
    training_jobs_created: int
    training_jobs_updated: int
    metric_samples: int


@transaction.atomic
def tuning_job_import(
    *,
    imported: "ImportedTuningJob",
    training_jobs: Sequence["ImportedTrainingJob"],
    metrics: dict[str, list[MetricRecord]],
    team=None,
    owner=None,
) -> ImportOutcome:
    """Store or update a SageMaker tuning job, the given training jobs and their metric samples.

    Training jobs not given are left as they are: the caller leaves out the
    ones that ended before the last import, since SageMaker never changes an
    ended job. `team` None keeps the team of an earlier import.
    """
    name = imported.config.name
    tuning_job = TuningJob.objects.select_for_update(no_key=True).filter(name=name).first()
    if tuning_job is not None and not tuning_job.is_imported:
        raise ValidationError({"name": [native_name_taken_message(name)]})
    if tuning_job is not None and tuning_job.source_arn != imported.arn:
        raise ValidationError({"name": [f"{name} was imported from {tuning_job.source_arn}, not from {imported.arn}."]})
    names = [job.name for job in training_jobs]
    taken = TrainingJob.objects.filter(name__in=names)
    if tuning_job is not None:
        taken = taken.exclude(tuning_job=tuning_job)
    taken = sorted(taken.values_list("name", flat=True))
    if taken:
        raise ValidationError({"training_jobs": [f"Training jobs of other tuning jobs have these names: {taken}."]})

    fields = _imported_tuning_job_fields(imported)
    created = tuning_job is None
    previous_status = None if created else tuning_job.status
    if created:
        try:
            with transaction.atomic():
                tuning_job = TuningJob.objects.create(
                    name=name, owner=owner, team=team, algorithm=_imported_algorithm(imported), **fields
                )
        except IntegrityError:
            raise ValidationError({"name": [f"{name} is being imported by someone else; try again."]}) from None
    else:
        for field_name, value in fields.items():
            setattr(tuning_job, field_name, value)
        if team is not None:
            tuning_job.team = team
        tuning_job.save()
    # auto_now_add ignores a given value; the record keeps SageMaker's time.
    TuningJob.objects.filter(pk=tuning_job.pk).update(created_at=imported.created_at)
    tuning_job.warm_start_parents.set(TuningJob.objects.filter(name__in=imported.config.warm_start_parents))

    stored, updated = _store_imported_training_jobs(tuning_job, training_jobs)
    samples = _store_imported_metrics(tuning_job, stored, metrics)
    common.update_best_training_job(tuning_job)
    tuning_job.refresh_from_db()

    if created:
        realtime.publish(realtime.Event(realtime.TUNING_JOB_CREATED, tuning_job.id, {"name": tuning_job.name}))
    elif previous_status != tuning_job.status:
        realtime.publish(
            realtime.Event(
                realtime.TUNING_JOB_STATUS,
                tuning_job.id,
                {"status": tuning_job.status, "failure_reason": tuning_job.failure_reason},
            )
        )
    return ImportOutcome(
        tuning_job=tuning_job,
        created=created,
        training_jobs_created=len(training_jobs) - updated,
        training_jobs_updated=updated,
        metric_samples=samples,
    )


def _imported_tuning_job_fields(imported: "ImportedTuningJob") -> dict:
    config = imported.config
    return {
        "source": TuningJobSource.SAGEMAKER_IMPORT,
        "source_arn": imported.arn,
        "strategy": config.strategy,
        "objective_metric_name": config.objective_metric_name,
        "objective_type": config.objective_type,
        "parameter_ranges": config.parameter_ranges,
        "static_hyperparameters": dict(config.static_hyperparameters),
        "max_training_jobs": config.max_training_jobs,
        "max_parallel_training_jobs": config.max_parallel_training_jobs,
        "max_runtime_seconds": config.max_runtime_seconds,
        "training_max_runtime_seconds": config.training_max_runtime_seconds,
        "max_retry_attempts": config.max_retry_attempts or 0,
        "early_stopping_type": config.early_stopping_type,
        "random_seed": config.random_seed,
        "hyperband_min_resource": config.hyperband_min_resource,
        "hyperband_max_resource": config.hyperband_max_resource,
        "target_objective_value": config.target_objective_value,
        "max_jobs_not_improving": config.max_jobs_not_improving,
        "complete_on_convergence": config.complete_on_convergence,
        "warm_start_type": config.warm_start_type,
        "s3_output_path": imported.s3_output_path,
        "status": imported.status,
        "failure_reason": imported.failure_reason[:4000],
        "ended_at": imported.ended_at,
    }


def _imported_algorithm(imported: "ImportedTuningJob") -> Algorithm:
    """The algorithm the job's TrainingImage (or AlgorithmName) names; registered for the sagemaker backend if new.

    An image URI alias counts as on the endpoint: registering another
    algorithm under that URI would take the alias over.
    """
    if imported.training_image:
        algorithm = algorithm_for_image(imported.training_image)
    else:
        algorithm = Algorithm.objects.filter(sagemaker_config__AlgorithmName=imported.algorithm_name).first()
    if algorithm is not None:
        return algorithm
    base = imported.algorithm_registration_name
    name, suffix = base, 1
    while Algorithm.objects.filter(name=name).exists():
        suffix += 1
        name = f"{base}-{suffix}"
    return Algorithm.objects.create(
        name=name,
        description=f"Registered by the import of SageMaker tuning job {imported.config.name}.",
        backend=Backend.SAGEMAKER,
        metric_definitions=imported.metric_definitions,
        image_uri=imported.training_image or None,
        sagemaker_config=imported.sagemaker_config,
    )


def _store_imported_training_jobs(
    tuning_job: TuningJob, training_jobs: Sequence["ImportedTrainingJob"]
) -> tuple[dict[str, TrainingJob], int]:
    """Upsert by name; new jobs are numbered after the stored ones, in SageMaker's creation order."""
    existing = {job.name: job for job in tuning_job.training_jobs.select_for_update(no_key=True)}
    sequence = max((job.sequence for job in existing.values()), default=0)
    now = timezone.now()
    stored, new, status_changed, created_times = {}, [], [], {}
    for imported in sorted(training_jobs, key=lambda job: (job.created_at, job.name)):
        job = existing.get(imported.name)
        if job is None:
            sequence += 1
            job = TrainingJob(name=imported.name, tuning_job=tuning_job, sequence=sequence)
            new.append(job)
        elif job.status != imported.status:
            status_changed.append(job)
        job.remote_name = imported.name
        job.status = imported.status
        job.secondary_status = imported.secondary_status[:32]
        job.stop_reason = imported.stop_reason
        job.failure_reason = clean_program_text(imported.failure_reason)[:4000]
        job.hyperparameters = imported.hyperparameters
        job.tuned_hyperparameters = imported.tuned_hyperparameters
        job.final_objective_value = imported.final_objective_value
        job.objective_status = imported.objective_status
        job.model_artifact_uri = imported.model_artifact_uri
        job.started_at = imported.started_at
        job.ended_at = imported.ended_at
        job.updated_at = now
        created_times[imported.name] = imported.created_at
        stored[imported.name] = job
    TrainingJob.objects.bulk_create(new)
    for job in stored.values():
        job.created_at = created_times[job.name]
    TrainingJob.objects.bulk_update(
        list(stored.values()),
        [
            "remote_name", "status", "secondary_status", "stop_reason", "failure_reason", "hyperparameters",
            "tuned_hyperparameters", "final_objective_value", "objective_status", "model_artifact_uri",
            "started_at", "ended_at", "created_at", "updated_at",
        ],
    )  # fmt: skip
    for job in new:
        common.publish_training_job(realtime.TRAINING_JOB_CREATED, job)
    for job in status_changed:
        common.publish_training_job(realtime.TRAINING_JOB_STATUS, job)
    return stored, len(stored) - len(new)


def _store_imported_metrics(
    tuning_job: TuningJob, training_jobs: dict[str, TrainingJob], metrics: dict[str, list[MetricRecord]]
) -> int:
    """One upsert for every sample: a sample is unique per training job, metric and epoch."""
    samples = [
        MetricSample(
            tuning_job_id=tuning_job.id,
            training_job_id=training_jobs[name].id,
            metric_name=record.metric_name,
            epoch=record.epoch,
            value=record.value,
            timestamp=record.timestamp,
        )
        for name, records in metrics.items()
        if name in training_jobs
        for record in records
    ]
    MetricSample.objects.bulk_create(
        samples,
        update_conflicts=True,
        unique_fields=["training_job", "metric_name", "epoch"],
        update_fields=["value", "timestamp"],
    )
    for name, records in metrics.items():
        if name in training_jobs and records:
            epochs = max(record.epoch for record in records)
            TrainingJob.objects.filter(pk=training_jobs[name].id).update(epochs_run=epochs)
            realtime.publish(
                realtime.Event(realtime.METRICS_APPENDED, tuning_job.id, {"training_job": name, "count": len(records)})
            )
    return len(samples)
