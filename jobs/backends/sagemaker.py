"""Run a training job on Amazon SageMaker and watch it as if it ran here.

CreateTrainingJob starts it; DescribeTrainingJob, polled with backoff, says how
it is doing; its per-epoch metrics come from CloudWatch, where SageMaker
publishes what the metric definitions find in the training log. Those metrics
go to the monitor exactly as a local job's parsed log lines do, so early
stopping "Auto" decides on SageMaker jobs with the same rule, and a stop
request (early stopping or a user) becomes StopTrainingJob.

Django-free: the caller passes boto3 clients, built from its settings.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)

from .base import Outcome, RunMonitor, RunResult, StopCause, TrainingBackend, TrainingRunSpec
from .metrics import MetricRecord
from .s3 import S3Error, describe_error, prefix_exists

# SageMaker's pattern for TrainingJobName.
TRAINING_JOB_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}\Z"
METRICS_NAMESPACE = "/aws/sagemaker/TrainingJobs"
# StoppingCondition.MaxRuntimeInSeconds when the tuning job sets none: SageMaker's default.
DEFAULT_MAX_RUNTIME_SECONDS = 86_400
# One datapoint per epoch: a period of a second keeps epochs apart that ran within
# the same minute (CloudWatch returns coarser metrics at their own resolution).
METRIC_PERIOD_SECONDS = 1
# Metrics of a job are looked for from this long before it was created, so clock
# skew between here and AWS cannot hide its first epochs.
METRIC_LOOKBACK = timedelta(minutes=5)
# How long CloudWatch keeps datapoints at one-second resolution; an older StartTime
# with a one-second period returns nothing.
HIGH_RESOLUTION_RETENTION = timedelta(hours=3) - timedelta(minutes=5)

TERMINAL_STATUSES = ("Completed", "Failed", "Stopped")

T = TypeVar("T")

# What botocore's own retries did not get through, and may yet: throttling, 5xx,
# a dropped connection. Anything else (AccessDenied, ValidationException, bad
# credentials) will not change by asking again.
THROTTLING_ERROR_CODES = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
}
_TRANSIENT_CODES = THROTTLING_ERROR_CODES | {
    "InternalFailure",
    "InternalServerError",
    "InternalError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
}
_TRANSIENT_BOTOCORE = (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, ConnectionClosedError)
# Credentials that are missing, wrong or expired: no retry helps, a person must act.
CREDENTIAL_ERROR_CODES = {
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidSignatureException",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "IncompleteSignature",
    "MissingAuthenticationToken",
}
_CREDENTIALS_HINT = (
    "Check the AWS credentials of the training workers (environment, shared credentials file or instance role)."
)


@dataclass(frozen=True)
class SageMakerTrainingConfig:
    """The parts of CreateTrainingJob that come from the algorithm and the tuning job."""

    remote_name: str  # TrainingJobName: unique, chosen by the caller
    role_arn: str
    output_path: str  # OutputDataConfig.S3OutputPath; SageMaker adds <name>/output/model.tar.gz
    instance_type: str
    instance_count: int = 1
    volume_size_gb: int = 30
    training_image: str = ""
    algorithm_name: str = ""  # instead of training_image: a SageMaker algorithm resource
    input_channels: Mapping[str, str] = field(default_factory=dict)  # channel name -> s3:// URI


def remote_job_name(job_name: str, token: str) -> str:
    """A TrainingJobName for one run of `job_name`.

    SageMaker keeps names of ended jobs, so a name is never used twice: a job
    run again (a redelivered task, a second Tuneboard on the same account)
    gets a new token instead of a ResourceInUse error.
    """
    return f"{job_name}-{token}"


def is_transient(exc: Exception) -> bool:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return error.get("Code") in _TRANSIENT_CODES or status >= 500
    return isinstance(exc, _TRANSIENT_BOTOCORE)


def failure_reason(exc: Exception) -> str:
    """An AWS error as a failure reason a user can act on."""
    if isinstance(exc, NoCredentialsError):
        return f"NoCredentialsError: {exc}. {_CREDENTIALS_HINT}"
    reason = describe_error(exc)
    if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in CREDENTIAL_ERROR_CODES:
        reason = f"{reason} {_CREDENTIALS_HINT}"
    return reason


class CloudWatchMetricReader:
    """A training job's metrics from CloudWatch, each datapoint one epoch, handed out once.

    SageMaker publishes one datapoint per matching log line, so the n-th
    datapoint of a metric in timestamp order is its n-th epoch, as the local
    backend counts lines. Each read asks only for what is newer than the last
    datapoint seen, so the epochs are counted on, never recounted: CloudWatch
    keeps one-second datapoints for three hours only, and a long job's early
    epochs would otherwise drop out of the count.
    """

    def __init__(
        self,
        client,
        training_job_name: str,
        metric_names: Sequence[str],
        since: datetime,
        recorded: Mapping[str, tuple[int, datetime]] | None = None,
    ):
        """`recorded` maps a metric to its last epoch already stored and that epoch's timestamp:
        a watcher taking over a job counts on from there, so no epoch is handed out twice."""
        self._client = client
        self._job = training_job_name
        self._names = list(metric_names)
        self._since = since
        recorded = recorded or {}
        self._epochs = {name: recorded[name][0] if name in recorded else 0 for name in self._names}
        self._last: dict[str, datetime] = {
            name: recorded[name][1].astimezone(UTC) for name in self._names if name in recorded
        }

    def new_records(self) -> list[MetricRecord]:
        if not self._names:
            return []
        now = datetime.now(UTC)
        start = min(self._last.get(name, self._since) for name in self._names)
        start = max(start, now - HIGH_RESOLUTION_RETENTION)
        points: dict[str, list[tuple[datetime, float]]] = {name: [] for name in self._names}
        pages = self._client.get_paginator("get_metric_data").paginate(
            MetricDataQueries=[self._query(index, name) for index, name in enumerate(self._names)],
            StartTime=start,
            EndTime=now + timedelta(minutes=1),
            ScanBy="TimestampAscending",
        )
        for page in pages:
            for result in page.get("MetricDataResults", []):
                name = self._names[int(result["Id"][1:])]
                points[name] += zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
        records = []
        for name, series in points.items():
            last = self._last.get(name)
            for timestamp, value in sorted(series, key=lambda point: point[0]):
                timestamp = timestamp.astimezone(UTC)
                if last is not None and timestamp <= last:
                    continue
                self._epochs[name] += 1
                records.append(MetricRecord(name, self._epochs[name], float(value), timestamp))
                last = timestamp
            if last is not None:
                self._last[name] = last
        # One batch in time order, like log lines.
        records.sort(key=lambda record: (record.timestamp, self._names.index(record.metric_name)))
        return records

    def _query(self, index: int, name: str) -> dict:
        return {
            "Id": f"m{index}",
            "MetricStat": {
                "Metric": {
                    "Namespace": METRICS_NAMESPACE,
                    "MetricName": name,
                    "Dimensions": [{"Name": "TrainingJobName", "Value": self._job}],
                },
                "Period": METRIC_PERIOD_SECONDS,
                "Stat": "Average",
            },
            "ReturnData": True,
        }


class SageMakerBackend(TrainingBackend):
    """Runs each training job as a SageMaker training job and supervises it from here."""

    def __init__(
        self,
        config: SageMakerTrainingConfig,
        *,
        sagemaker,
        cloudwatch,
        s3=None,
        max_describe_interval: float = 30.0,
        max_attempts: int = 4,
        retry_wait_seconds: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        """`max_attempts` bounds our own retries of an error that outlived botocore's;
        `s3`, when given, is used to check the input channels before paying for instances."""
        self.config = config
        self.sagemaker = sagemaker
        self.cloudwatch = cloudwatch
        self.s3 = s3
        self.max_describe_interval = max_describe_interval
        self.max_attempts = max_attempts
        self.retry_wait_seconds = retry_wait_seconds
        self.sleep = sleep

    def run(self, spec: TrainingRunSpec, monitor: RunMonitor) -> RunResult:
        name = self.config.remote_name
        if not re.match(TRAINING_JOB_NAME_PATTERN, name):
            return _failed(
                f"ValidationException: {name!r} is not a valid SageMaker training job name: use 1 to 63 letters, "
                "digits and hyphens, starting and ending with a letter or digit. Rename the tuning job."
            )
        problem = self._check_input_channels()
        if problem:
            return _failed(problem)
        since = datetime.now(UTC) - METRIC_LOOKBACK
        try:
            self._create(spec, monitor)
        except (ClientError, BotoCoreError) as exc:
            return _failed(f"CreateTrainingJob {name}: {failure_reason(exc)}")
        reader = CloudWatchMetricReader(self.cloudwatch, name, [d.name for d in spec.metric_definitions], since)
        return _Watch(self, spec, monitor, reader).run()

    def reattach(
        self, spec: TrainingRunSpec, monitor: RunMonitor, recorded: Mapping[str, tuple[int, datetime]]
    ) -> RunResult:
        """Watch to its end a job that an earlier, lost run created, or may have created.

        Describe first and never create: a worker lost right after sending
        CreateTrainingJob may have started the job, and a second one would train
        (and bill) twice. Metrics carry on after `recorded` (see CloudWatchMetricReader).
        """
        name = self.config.remote_name
        try:
            description = self.request("describe_training_job", monitor, TrainingJobName=name)
        except ClientError as exc:
            if _is_unknown_job(exc):
                return _failed(
                    f"Could not re-attach to SageMaker training job {name}: SageMaker does not know it "
                    f"({describe_error(exc)}). It was never created, or this worker uses another AWS account "
                    "or region than the one that created it."
                )
            return _failed(f"DescribeTrainingJob {name}: {failure_reason(exc)}")
        except BotoCoreError as exc:
            return _failed(f"DescribeTrainingJob {name}: {failure_reason(exc)}")
        since = description.get("CreationTime", datetime.now(UTC)) - METRIC_LOOKBACK
        reader = CloudWatchMetricReader(
            self.cloudwatch, name, [d.name for d in spec.metric_definitions], since, recorded=recorded
        )
        return _Watch(self, spec, monitor, reader).run()

    def request(self, operation: str, monitor: RunMonitor, **params) -> dict:
        return self.retrying(lambda: getattr(self.sagemaker, operation)(**params), monitor)

    def retrying(self, call: Callable[[], T], monitor: RunMonitor) -> T:
        """`call()`, retrying an error that outlived botocore's own retries a bounded number of
        times with growing waits, heartbeating meanwhile so the job is not taken for lost."""
        wait = self.retry_wait_seconds
        attempt = 1
        while True:
            try:
                return call()
            except (ClientError, BotoCoreError) as exc:
                if not is_transient(exc) or attempt >= self.max_attempts:
                    raise
            monitor.heartbeat()
            self.sleep(wait)
            wait *= 2
            attempt += 1

    def _check_input_channels(self) -> str:
        """SageMaker finds a missing channel only after starting instances; look first."""
        if self.s3 is None:
            return ""
        for channel, uri in self.config.input_channels.items():
            try:
                if not prefix_exists(self.s3, uri):
                    return f"ClientError: input channel {channel!r}: {uri} does not exist (no object has this prefix)."
            except S3Error as exc:
                return f"ClientError: input channel {channel!r}: {exc}"
        return ""

    def _create(self, spec: TrainingRunSpec, monitor: RunMonitor) -> None:
        try:
            self.request("create_training_job", monitor, **self.create_request(spec))
        except ClientError as exc:
            # Our own name is unique, so it is in use only if an earlier attempt of
            # this very call reached SageMaker and its answer was lost.
            if exc.response.get("Error", {}).get("Code") != "ResourceInUse":
                raise

    def create_request(self, spec: TrainingRunSpec) -> dict:
        config = self.config
        algorithm = {"TrainingInputMode": "File"}
        if config.training_image:
            algorithm["TrainingImage"] = config.training_image
        else:
            algorithm["AlgorithmName"] = config.algorithm_name
        if spec.metric_definitions:
            algorithm["MetricDefinitions"] = [{"Name": d.name, "Regex": d.regex} for d in spec.metric_definitions]
        request = {
            "TrainingJobName": config.remote_name,
            "HyperParameters": dict(spec.hyperparameters),
            "AlgorithmSpecification": algorithm,
            "RoleArn": config.role_arn,
            "OutputDataConfig": {"S3OutputPath": config.output_path},
            "ResourceConfig": {
                "InstanceType": config.instance_type,
                "InstanceCount": config.instance_count,
                "VolumeSizeInGB": config.volume_size_gb,
            },
            "StoppingCondition": {
                "MaxRuntimeInSeconds": int(spec.max_runtime_seconds or DEFAULT_MAX_RUNTIME_SECONDS),
            },
        }
        if config.input_channels:
            request["InputDataConfig"] = [
                {
                    "ChannelName": channel,
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": uri,
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                }
                for channel, uri in config.input_channels.items()
            ]
        return request


class _Watch:
    """Polls one created job to its end: describe with backoff, metrics, stop requests."""

    def __init__(self, backend: SageMakerBackend, spec: TrainingRunSpec, monitor: RunMonitor, reader):
        self.backend = backend
        self.spec = spec
        self.monitor = monitor
        self.reader = reader
        self.name = backend.config.remote_name
        self.secondary_status = ""
        self.stop_sent = False

    def run(self) -> RunResult:
        interval = self.spec.poll_interval_seconds
        next_describe = 0.0
        next_heartbeat = time.monotonic() + self.spec.heartbeat_interval_seconds
        while True:
            now = time.monotonic()
            if now >= next_describe:
                try:
                    description, changed = self._poll()
                except (ClientError, BotoCoreError) as exc:
                    return self._give_up(exc)
                if description["TrainingJobStatus"] in TERMINAL_STATUSES:
                    return self._result(description)
                # Back off while nothing happens; look again soon once something does.
                interval = (
                    self.spec.poll_interval_seconds
                    if changed
                    else min(interval * 1.5, max(self.backend.max_describe_interval, self.spec.poll_interval_seconds))
                )
                next_describe = time.monotonic() + interval
            if not self.stop_sent and self.monitor.should_stop():
                try:
                    self._stop()
                except (ClientError, BotoCoreError) as exc:
                    return self._give_up(exc)
                next_describe = 0.0
            if time.monotonic() >= next_heartbeat:
                self.monitor.heartbeat()
                next_heartbeat = time.monotonic() + self.spec.heartbeat_interval_seconds
            self.backend.sleep(max(0.0, min(self.spec.poll_interval_seconds, next_describe - time.monotonic())))

    def _poll(self) -> tuple[dict, bool]:
        """Describe first, then read metrics: metrics published before a terminal status are all read."""
        description = self.backend.request("describe_training_job", self.monitor, TrainingJobName=self.name)
        records = self.backend.retrying(self.reader.new_records, self.monitor)
        if records:
            self.monitor.on_metrics(records)
        secondary = description.get("SecondaryStatus", "")
        changed = bool(records)
        if secondary != self.secondary_status:
            self.secondary_status = secondary
            changed = True
            # A RemoteRunMonitor records it; a plain RunMonitor has no use for it.
            report = getattr(self.monitor, "on_secondary_status", None)
            if report is not None:
                report(secondary)
        return description, changed

    def _stop(self) -> None:
        try:
            self.backend.request("stop_training_job", self.monitor, TrainingJobName=self.name)
        except ClientError as exc:
            # The job ended between our last look and the stop: the next describe says how.
            if exc.response.get("Error", {}).get("Code") != "ValidationException":
                raise
        self.stop_sent = True

    def _give_up(self, exc: Exception) -> RunResult:
        """We can no longer watch the job: fail it here, and try not to leave it running there."""
        reason = f"Lost track of SageMaker training job {self.name}: {failure_reason(exc)}"
        if not self.stop_sent:
            try:
                self.backend.sagemaker.stop_training_job(TrainingJobName=self.name)
                reason += "; it was asked to stop."
            except (ClientError, BotoCoreError) as stop_exc:
                reason += f"; stopping it failed too ({describe_error(stop_exc)}): check it in the SageMaker console."
        return RunResult(Outcome.FAILED, None, reason, secondary_status=self.secondary_status)

    def _result(self, description: dict) -> RunResult:
        status = description["TrainingJobStatus"]
        secondary = description.get("SecondaryStatus", "")
        artifact = description.get("ModelArtifacts", {}).get("S3ModelArtifacts", "")
        if status == "Completed":
            return RunResult(Outcome.COMPLETED, None, model_artifact_uri=artifact, secondary_status=secondary)
        if status == "Stopped":
            cause = StopCause.MAX_RUNTIME if secondary == "MaxRuntimeExceeded" else StopCause.REQUESTED
            return RunResult(
                Outcome.STOPPED, None, stop_cause=cause, model_artifact_uri=artifact, secondary_status=secondary
            )
        reason = description.get("FailureReason") or "SageMaker reported the training job Failed without a reason."
        return RunResult(Outcome.FAILED, None, f"SageMaker: {reason}", secondary_status=secondary)


def _failed(reason: str) -> RunResult:
    return RunResult(Outcome.FAILED, None, reason)


def _is_unknown_job(exc: ClientError) -> bool:
    """DescribeTrainingJob of a name SageMaker has never seen: documented as ResourceNotFound,
    answered by the service (and by moto) as a ValidationException."""
    return exc.response.get("Error", {}).get("Code") in ("ResourceNotFound", "ValidationException")
