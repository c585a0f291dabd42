"""The API an outside trainer uses: report epochs, heartbeat, finish, obey stop.

A trainer authenticates with the per-training-job token it got when it
claimed the job (`Authorization: TrainingJob <key>`); that token can do
nothing but report for its own job, and user credentials cannot be used
here. The URL names the job too, so that a trainer started with the wrong
token is refused instead of reporting its epochs into another job. Every
answer says whether the trainer must stop, so a trainer that only ever
posts metrics still learns about early stopping at once.
"""

import math
import sys
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from rest_framework import authentication, exceptions, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from jobs import services
from jobs.api.parsers import JSONParser
from jobs.api.serializers import parse_moment
from jobs.backends.base import Outcome, RunResult, StopCause
from jobs.backends.metrics import MetricRecord
from jobs.models import TrainingJob, TrainingJobStatus, TrainingJobToken

MAX_BATCH = 10_000
# The epoch column is a 32-bit integer.
MAX_EPOCH = 2**31 - 1
# A sample's time is when the trainer measured it: a clock a little ahead is tolerated, a
# year 9999 is no measurement (and would break every time axis and duration computed from it).
EARLIEST_SAMPLE_TIME = datetime(2000, 1, 1, tzinfo=UTC)
SAMPLE_CLOCK_SKEW = timedelta(days=1)


class TrainingJobTokenAuthentication(authentication.TokenAuthentication):
    keyword = "TrainingJob"

    def authenticate_credentials(self, key):
        token = (
            TrainingJobToken.objects.select_related("training_job__tuning_job__algorithm")
            .filter(key_hash=services.token_hash(key))
            .first()
        )
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid training job token.")
        return (TrainerUser(token.training_job), token)


class TrainerUser:
    """The caller of the trainer API: a training job, not a person."""

    is_authenticated = True
    is_staff = False
    is_active = True

    def __init__(self, training_job: TrainingJob):
        self.training_job = training_job
        # What throttling keys on: each training job gets its own ingest budget.
        self.pk = f"training-job-{training_job.pk}"


class IsTrainer(permissions.BasePermission):
    def has_permission(self, request, view):
        return isinstance(request.user, TrainerUser)


class TrainerTokenScheme(OpenApiAuthenticationExtension):
    target_class = TrainingJobTokenAuthentication
    name = "trainingJobToken"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`TrainingJob <key>`, from the claim."}  # fmt: skip


class ClaimTrainingJobSerializer(serializers.Serializer):
    name = serializers.CharField()
    tuning_job = serializers.CharField(source="tuning_job.name")
    hyperparameters = serializers.DictField(child=serializers.CharField())
    objective_metric_name = serializers.CharField(source="tuning_job.objective_metric_name")


class ClaimSerializer(serializers.Serializer):
    training_job = ClaimTrainingJobSerializer()
    token = serializers.CharField()


class SampleSerializer(serializers.Serializer):
    metric = serializers.CharField(max_length=255)
    epoch = serializers.IntegerField(min_value=0, max_value=MAX_EPOCH)
    value = serializers.FloatField(allow_null=True, help_text="null stands for NaN.")
    timestamp = serializers.DateTimeField(required=False)


class MetricsSerializer(serializers.Serializer):
    """The documented shape of a batch; `read_samples` is what checks it.

    A DRF nested serializer spends about a millisecond per sample, which
    would cap ingest at a few thousand samples a second per server thread,
    so a batch is checked by a plain loop with the same error messages.
    """

    samples = SampleSerializer(many=True, max_length=MAX_BATCH, allow_empty=False)


def read_samples(data, metric_names) -> list[MetricRecord]:
    """The batch's samples as MetricRecords; a ValidationError names each bad sample field.

    `metric_names` are the algorithm's metric definitions: a trainer reports
    those, and a typo must not quietly start a new metric.
    """
    samples = data.get("samples") if isinstance(data, dict) else None
    if not isinstance(samples, list) or not samples:
        raise exceptions.ValidationError({"samples": ["Give a non-empty list of samples."]})
    if len(samples) > MAX_BATCH:
        raise PayloadTooLarge(f"At most {MAX_BATCH} samples a batch; this one has {len(samples)}. Split it.")
    errors: dict[str, list[str]] = {}
    records = []
    now = timezone.now()
    for index, sample in enumerate(samples):
        path = f"samples[{index}]"
        if not isinstance(sample, dict):
            errors[path] = ["Expected an object."]
            continue
        before = len(errors)
        metric, epoch, value = sample.get("metric"), sample.get("epoch"), sample.get("value", "missing")
        if not isinstance(metric, str) or not 0 < len(metric) <= 255 or "\x00" in metric:
            errors[f"{path}.metric"] = ["A metric name of 1 to 255 characters, without NUL."]
        elif metric not in metric_names:
            errors[f"{path}.metric"] = [f"Unknown metric {metric!r}; the algorithm defines {', '.join(metric_names)}."]
        if isinstance(epoch, bool) or not isinstance(epoch, int) or not 0 <= epoch <= MAX_EPOCH:
            errors[f"{path}.epoch"] = [f"A whole number from 0 to {MAX_EPOCH}."]
        if value is None:
            value = math.nan
        elif isinstance(value, bool) or not isinstance(value, int | float) or abs(value) > sys.float_info.max:
            errors[f"{path}.value"] = ["A number within the range of a double, or null for NaN."]
        timestamp = now
        if sample.get("timestamp") is not None:
            timestamp = parse_moment(sample["timestamp"])
            if timestamp is None or not EARLIEST_SAMPLE_TIME <= timestamp <= now + SAMPLE_CLOCK_SKEW:
                errors[f"{path}.timestamp"] = [
                    f"An ISO 8601 date and time from {EARLIEST_SAMPLE_TIME:%Y-%m-%d} to a day from now."
                ]
        unknown = set(sample) - {"metric", "epoch", "value", "timestamp"}
        if unknown:
            errors[f"{path}.{sorted(unknown)[0]}"] = ["Unknown field."]
        if len(errors) == before:
            records.append(MetricRecord(metric_name=metric, epoch=epoch, value=float(value), timestamp=timestamp))
        elif len(errors) >= 20:
            break
    if errors:
        raise exceptions.ValidationError(errors)
    return records


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


class FinishSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["Completed", "Failed", "Stopped"])
    failure_reason = serializers.CharField(required=False, allow_blank=True, max_length=4000)


class StopSerializer(serializers.Serializer):
    stop = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True)


class TrainerView(APIView):
    authentication_classes = [TrainingJobTokenAuthentication]
    # Trainers send JSON; other bodies are a clear 415 rather than a form parser's guess.
    parser_classes = [JSONParser]
    permission_classes = [IsTrainer]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "ingest"

    def training_job(self, request, *, active: bool = True) -> TrainingJob:
        """The caller's job, as read by this request's authentication; it must be the one the URL names."""
        training_job = request.user.training_job
        if self.kwargs["name"] != training_job.name:
            raise exceptions.PermissionDenied(
                f"This token reports for training job {training_job.name} only, not {self.kwargs['name']}."
            )
        if active and not training_job.is_active:
            raise Conflict(f"{training_job.name} has ended ({training_job.status}); nothing more is accepted.")
        return training_job

    @staticmethod
    def stop_answer(training_job: TrainingJob, job_status: str) -> dict:
        """Whether the trainer must stop, given the job's status just read."""
        if job_status == TrainingJobStatus.IN_PROGRESS:
            return {"stop": False, "reason": None}
        training_job.refresh_from_db(fields=["status", "stop_reason"])
        return {"stop": True, "reason": training_job.get_stop_reason_display() if training_job.stop_reason else None}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class TrainerJobView(TrainerView):
    @extend_schema(responses=ClaimTrainingJobSerializer)
    def get(self, request, name):
        """The job's hyperparameters and status."""
        training_job = self.training_job(request, active=False)
        return Response({**ClaimTrainingJobSerializer(training_job).data, "status": training_job.status})


class TrainerMetricsView(TrainerView):
    @extend_schema(request=MetricsSerializer, responses=StopSerializer)
    def post(self, request, name):
        """Report a batch of samples; idempotent on (metric, epoch), so a retried batch never duplicates."""
        training_job = self.training_job(request)
        records = read_samples(request.data, training_job.tuning_job.algorithm.metric_names)
        services.training_job_record_metrics(training_job_id=training_job.id, records=records)
        job_status = services.training_job_heartbeat(training_job_id=training_job.id)
        return Response(self.stop_answer(training_job, job_status))


class TrainerHeartbeatView(TrainerView):
    @extend_schema(request=None, responses=StopSerializer)
    def post(self, request, name):
        """Say the trainer is alive; the answer says whether it must stop."""
        training_job = self.training_job(request)
        job_status = services.training_job_heartbeat(training_job_id=training_job.id)
        return Response(self.stop_answer(training_job, job_status))


class TrainerFinishView(TrainerView):
    @extend_schema(request=FinishSerializer, responses=StopSerializer)
    def post(self, request, name):
        """Report how the run ended: Completed, Failed (with a reason), or Stopped (acknowledging a stop)."""
        training_job = self.training_job(request)
        body = FinishSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        outcome = Outcome(body.validated_data["status"])
        result = RunResult(
            outcome=outcome,
            exit_code=None,
            failure_reason=body.validated_data.get("failure_reason") or "The trainer reported a failure.",
            stop_cause=StopCause.REQUESTED if outcome == Outcome.STOPPED else None,
        )
        finished = services.training_job_finish(training_job_id=training_job.id, result=result)
        return Response({"stop": True, "reason": None, "status": finished.status})
