"""Import SageMaker tuning jobs for review: read them through boto3, store them through the services.

The reading happens here (DescribeHyperParameterTuningJob,
ListTrainingJobsForHyperParameterTuningJob, DescribeTrainingJob, CloudWatch's
GetMetricData); the translation of SageMaker's JSON lives in
jobs.sagemaker.shapes and every write in services.tuning_job_import. The
clients are parameters, so a caller (a test) may hand in clients of its own.

Every failure reaches the caller as a SageMakerImportError with a sentence a
person can act on; AccessError, its subclass, means no further tuning job
would import either (credentials, permissions, an unreachable endpoint).
"""

import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from jobs import aws, services
from jobs.backends.metrics import MetricRecord
from jobs.backends.sagemaker import CREDENTIAL_ERROR_CODES, THROTTLING_ERROR_CODES
from jobs.models import ACTIVE_STATUSES, TUNING_JOB_NAME_PATTERN, TrainingJob, TuningJob, TuningJobSource
from jobs.sagemaker.shapes import (
    ShapeError,
    parse_imported_training_job,
    parse_imported_tuning_job,
)

METRICS_NAMESPACE = "/aws/sagemaker/TrainingJobs"
# GetMetricData takes at most 500 queries per request.
MAX_METRIC_QUERIES = 500

_ACCESS_DENIED_ERRORS = {"AccessDenied", "AccessDeniedException"}


class SageMakerImportError(Exception):
    """A tuning job that cannot be imported, said so that a person knows what to do."""


class AccessError(SageMakerImportError):
    """AWS cannot be used at all: nothing else would import either."""


@dataclass(frozen=True)
class Clients:
    sagemaker: Any
    cloudwatch: Any


def default_clients() -> Clients:
    return Clients(sagemaker=aws.client("sagemaker"), cloudwatch=aws.client("cloudwatch"))


@dataclass
class ImportReport:
    imported: list[services.ImportOutcome] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def parse_since(text: str) -> datetime:
    """A date (midnight UTC) or an ISO 8601 time (UTC unless it says otherwise)."""
    text = text.strip()
    try:
        moment = parse_datetime(text)
        if moment is None:
            day = parse_date(text)
            moment = datetime.combine(day, time.min) if day else None
    except ValueError:
        moment = None
    if moment is None:
        raise SageMakerImportError(f"{text!r} is not a date (2026-11-01) or an ISO 8601 time (2026-11-01T08:00:00Z).")
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def import_tuning_jobs(
    *,
    name: str | None = None,
    since: datetime | None = None,
    team_name: str | None = None,
    owner=None,
    clients: Clients | None = None,
) -> ImportReport:
    """Import one tuning job by name, or every one created after `since`.

    With `since`, a tuning job that cannot be imported is reported in
    `failed` and the others still import; an AccessError stops everything.
    """
    if (name is None) == (since is None):
        raise SageMakerImportError("Give either a tuning job name or a date to import the jobs created since.")
    team = None
    if team_name:
        team = Group.objects.filter(name=team_name).first()
        if team is None:
            raise SageMakerImportError(f"No team named {team_name!r}.")
    if name is not None and not re.match(TUNING_JOB_NAME_PATTERN, name):
        raise SageMakerImportError(
            f"{name!r} is not a SageMaker tuning job name: 1 to 32 letters, digits and hyphens, "
            "starting and ending with a letter or digit."
        )
    clients = clients or default_clients()
    report = ImportReport()
    names = [name] if name is not None else _tuning_job_names_since(clients.sagemaker, since)
    for tuning_job_name in names:
        try:
            report.imported.append(import_tuning_job(tuning_job_name, clients=clients, team=team, owner=owner))
        except AccessError:
            raise
        except SageMakerImportError as exc:
            report.failed.append((tuning_job_name, str(exc)))
    return report


def import_tuning_job(name: str, *, clients: Clients, team=None, owner=None) -> services.ImportOutcome:
    """Read one SageMaker tuning job with its training jobs and metrics, and store it."""
    sagemaker = clients.sagemaker
    with _aws_errors(f"tuning job {name}"):
        description = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        paginator = sagemaker.get_paginator("list_training_jobs_for_hyper_parameter_tuning_job")
        summaries = [
            summary
            for page in paginator.paginate(HyperParameterTuningJobName=name)
            for summary in page["TrainingJobSummaries"]
        ]
    try:
        imported = parse_imported_tuning_job(description, len(summaries))
    except ShapeError as exc:
        raise SageMakerImportError(f"{name} cannot be imported: {exc}") from None
    if TuningJob.objects.filter(name=name, source=TuningJobSource.NATIVE).exists():
        # The service refuses it too; saying so now spares reading its training jobs.
        raise SageMakerImportError(f"{name} cannot be imported: {services.native_name_taken_message(name)}")

    stored = dict(
        TrainingJob.objects.filter(tuning_job__name=name, tuning_job__source_arn=imported.arn).values_list(
            "name", "status"
        )
    )
    last_created_at = max((summary["CreationTime"] for summary in summaries), default=None)
    now = timezone.now()
    training_jobs, windows = [], {}
    for summary in summaries:
        job_name = summary["TrainingJobName"]
        if stored.get(job_name) == summary["TrainingJobStatus"] and stored[job_name] not in ACTIVE_STATUSES:
            # Ended at the last import, and SageMaker never changes an ended job.
            continue
        with _aws_errors(f"training job {job_name}"):
            detail = sagemaker.describe_training_job(TrainingJobName=job_name)
        try:
            training_job = parse_imported_training_job(
                summary, detail, tuning_job=imported, last_created_at=last_created_at
            )
        except ShapeError as exc:
            raise SageMakerImportError(f"{name} cannot be imported: {exc}") from None
        training_jobs.append(training_job)
        windows[job_name] = (training_job.started_at or training_job.created_at, training_job.ended_at or now)
    with _aws_errors(f"the training metrics of tuning job {name}"):
        metrics = epoch_metrics(clients.cloudwatch, windows, imported.metric_names)
    try:
        return services.tuning_job_import(
            imported=imported, training_jobs=training_jobs, metrics=metrics, team=team, owner=owner
        )
    except ValidationError as exc:
        raise SageMakerImportError(f"{name} cannot be imported: {' '.join(exc.messages)}") from None


def _tuning_job_names_since(sagemaker, since: datetime) -> list[str]:
    with _aws_errors("the tuning jobs list"):
        paginator = sagemaker.get_paginator("list_hyper_parameter_tuning_jobs")
        return [
            summary["HyperParameterTuningJobName"]
            for page in paginator.paginate(CreationTimeAfter=since, SortBy="CreationTime", SortOrder="Ascending")
            for summary in page["HyperParameterTuningJobSummaries"]
        ]


def metric_period(start: datetime, now: datetime | None = None) -> int:
    """The finest period CloudWatch still keeps for data that old: 1 min for 15 days, 5 min for 63, then 1 h."""
    age = (now or timezone.now()) - start
    if age <= timedelta(days=15):
        return 60
    if age <= timedelta(days=63):
        return 300
    return 3600


def epoch_metrics(
    cloudwatch, windows: dict[str, tuple[datetime, datetime]], metric_names: list[str]
) -> dict[str, list[MetricRecord]]:
    """Training jobs' metrics from CloudWatch, the n-th datapoint of a metric being its epoch n.

    `windows` maps each training job's name to when it ran. SageMaker
    publishes what the MetricDefinitions match in the log, one value per
    epoch; CloudWatch keeps them at one-minute resolution at best, so epochs
    shorter than the period are merged into one datapoint (their average).
    One GetMetricData request (and its pages) reads up to 500 series over the
    span of their jobs, so a tuning job's metrics take a few requests, not one
    per training job.
    """
    by_period: dict[int, list[tuple[str, str]]] = {}
    for job_name, (start, _) in windows.items():
        by_period.setdefault(metric_period(start), []).extend((job_name, metric) for metric in metric_names)
    records: dict[str, list[MetricRecord]] = {job_name: [] for job_name in windows}
    for period, series in by_period.items():
        for offset in range(0, len(series), MAX_METRIC_QUERIES):
            chunk = series[offset : offset + MAX_METRIC_QUERIES]
            start = min(windows[job_name][0] for job_name, _ in chunk)
            end = max(windows[job_name][1] for job_name, _ in chunk)
            points = _metric_data(cloudwatch, chunk, period, start, end)
            for (job_name, metric), values in zip(chunk, points, strict=True):
                for epoch, (timestamp, value) in enumerate(sorted(values), start=1):
                    records[job_name].append(MetricRecord(metric, epoch, float(value), timestamp))
    return records


def _metric_data(
    cloudwatch, series: list[tuple[str, str]], period: int, start: datetime, end: datetime
) -> list[list[tuple[datetime, float]]]:
    """Every datapoint of each (training job, metric) series between `start` and `end`, through all pages."""
    queries = [
        {
            "Id": f"m{index}",
            "MetricStat": {
                "Metric": {
                    "Namespace": METRICS_NAMESPACE,
                    "MetricName": metric,
                    "Dimensions": [{"Name": "TrainingJobName", "Value": job_name}],
                },
                "Period": period,
                "Stat": "Average",
            },
            "ReturnData": True,
        }
        for index, (job_name, metric) in enumerate(series)
    ]
    points: dict[str, list[tuple[datetime, float]]] = {query["Id"]: [] for query in queries}
    pages = cloudwatch.get_paginator("get_metric_data").paginate(
        MetricDataQueries=queries,
        StartTime=_floor(start - timedelta(seconds=period), period),
        EndTime=_floor(end, period) + timedelta(seconds=2 * period),
        ScanBy="TimestampAscending",
    )
    for page in pages:
        for result in page["MetricDataResults"]:
            points[result["Id"]].extend(zip(result["Timestamps"], result["Values"], strict=True))
    return [points[query["Id"]] for query in queries]


def _floor(moment: datetime, period: int) -> datetime:
    """Periods start at whole multiples of the period, as CloudWatch aligns them."""
    seconds = int(moment.timestamp())
    return datetime.fromtimestamp(seconds - seconds % period, tz=UTC)


@contextmanager
def _aws_errors(what: str):
    """Turn boto3's exceptions into SageMakerImportError sentences that name what was being read."""
    try:
        yield
    except NoCredentialsError:
        raise AccessError(
            "No AWS credentials found. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, "
            "or run where an instance role applies."
        ) from None
    except EndpointConnectionError as exc:
        raise AccessError(f"Cannot reach AWS while reading {what}: {exc}") from None
    except ClientError as exc:
        raise _client_error(exc, what) from None
    except BotoCoreError as exc:
        raise AccessError(f"AWS could not be used while reading {what}: {exc}") from None


def _client_error(exc: ClientError, what: str) -> SageMakerImportError:
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    message = error.get("Message", "") or str(exc)
    operation = exc.operation_name
    if code in CREDENTIAL_ERROR_CODES:
        return AccessError(f"AWS rejected the credentials ({code}): {message}")
    if code in _ACCESS_DENIED_ERRORS:
        return AccessError(
            f"AWS denied {operation} ({code}): {message}. The import needs sagemaker:DescribeHyperParameterTuningJob, "
            "sagemaker:ListHyperParameterTuningJobs, sagemaker:ListTrainingJobsForHyperParameterTuningJob, "
            "sagemaker:DescribeTrainingJob and cloudwatch:GetMetricData."
        )
    if code in THROTTLING_ERROR_CODES:
        return AccessError(
            f"AWS kept throttling {operation} after {settings.TUNEBOARD_AWS_MAX_ATTEMPTS} attempts; try again later."
        )
    if code == "ResourceNotFound" or (code == "ValidationException" and "Could not find" in message):
        return SageMakerImportError(f"SageMaker has no {what} in region {settings.TUNEBOARD_AWS_REGION}: {message}")
    return SageMakerImportError(f"{operation} failed while reading {what} ({code}): {message}")
