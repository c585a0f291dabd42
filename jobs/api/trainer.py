"""The API an outside trainer uses: report epochs, heartbeat, finish, obey stop.

A trainer authenticates with the per-training-job token it got when it
claimed the job (`Authorization: TrainingJob <key>`); that token can do
nothing but report for its own job, and user credentials cannot be used
here. Every answer says whether the trainer must stop, so a trainer that
only ever posts metrics still learns about early stopping at once.
"""

import math

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from rest_framework import authentication, exceptions, permissions, serializers, status
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from jobs import services
from jobs.backends.base import Outcome, RunResult, StopCause
from jobs.backends.metrics import MetricRecord
from jobs.models import TrainingJob, TrainingJobStatus, TrainingJobToken

MAX_BATCH = 10_000


class TrainingJobTokenAuthentication(authentication.TokenAuthentication):
    keyword = "TrainingJob"

    def authenticate_credentials(self, key):
        token = (
            TrainingJobToken.objects.select_related("training_job__tuning_job")
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
    epoch = serializers.IntegerField(min_value=0)
    value = serializers.FloatField(allow_null=True, help_text="null stands for NaN.")
    timestamp = serializers.DateTimeField(required=False)


class MetricsSerializer(serializers.Serializer):
    samples = SampleSerializer(many=True, max_length=MAX_BATCH, allow_empty=False)


class FinishSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["Completed", "Failed", "Stopped"])
    failure_reason = serializers.CharField(required=False, allow_blank=True, max_length=4000)


class StopSerializer(serializers.Serializer):
    stop = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True)


class TrainerView(APIView):
    authentication_classes = [TrainingJobTokenAuthentication]
    permission_classes = [IsTrainer]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "ingest"

    def training_job(self, request, *, active: bool = True) -> TrainingJob:
        training_job = TrainingJob.objects.select_related("tuning_job").get(pk=request.user.training_job.pk)
        if active and not training_job.is_active:
            raise Conflict(f"{training_job.name} has ended ({training_job.status}); nothing more is accepted.")
        return training_job

    @staticmethod
    def stop_answer(training_job: TrainingJob) -> dict:
        stopping = training_job.status != TrainingJobStatus.IN_PROGRESS
        reason = training_job.get_stop_reason_display() if stopping and training_job.stop_reason else None
        return {"stop": stopping, "reason": reason}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class TrainerJobView(TrainerView):
    @extend_schema(responses=ClaimTrainingJobSerializer)
    def get(self, request):
        """The job's hyperparameters and status."""
        training_job = self.training_job(request, active=False)
        return Response({**ClaimTrainingJobSerializer(training_job).data, "status": training_job.status})


class TrainerMetricsView(TrainerView):
    @extend_schema(request=MetricsSerializer, responses=StopSerializer)
    def post(self, request):
        """Report a batch of samples; idempotent on (metric, epoch), so a retried batch never duplicates."""
        training_job = self.training_job(request)
        body = MetricsSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        now = timezone.now()
        records = [
            MetricRecord(
                metric_name=sample["metric"],
                epoch=sample["epoch"],
                value=math.nan if sample["value"] is None else sample["value"],
                timestamp=sample.get("timestamp") or now,
            )
            for sample in body.validated_data["samples"]
        ]
        services.training_job_record_metrics(training_job_id=training_job.id, records=records)
        services.training_job_heartbeat(training_job_id=training_job.id)
        return Response(self.stop_answer(self.training_job(request, active=False)))


class TrainerHeartbeatView(TrainerView):
    @extend_schema(request=None, responses=StopSerializer)
    def post(self, request):
        """Say the trainer is alive; the answer says whether it must stop."""
        training_job = self.training_job(request)
        services.training_job_heartbeat(training_job_id=training_job.id)
        return Response(self.stop_answer(self.training_job(request, active=False)))


class TrainerFinishView(TrainerView):
    @extend_schema(request=FinishSerializer, responses=StopSerializer)
    def post(self, request):
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
