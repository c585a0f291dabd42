"""Request and response shapes of API v1. Type checks only: the rules live in jobs.config."""

import math
from datetime import UTC, datetime

from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from jobs.models import Algorithm, TrainingJob, TuningJob
from jobs.selectors import counters_payload, tuning_job_completion_details, tuning_job_counters


def parse_moment(raw) -> datetime | None:
    """An ISO 8601 date and time as an aware datetime in UTC; None when it is not one.

    A naive time is taken as UTC. The offset is applied here because
    PostgreSQL refuses offsets beyond 15:59 that Python accepts, and a moment
    pushed out of years 1-9999 by its offset is no date at all.
    """
    if not isinstance(raw, str):
        return None
    try:
        moment = parse_datetime(raw)
    except ValueError:
        return None
    if moment is None:
        return None
    if timezone.is_naive(moment):
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        return None


def nul_character_path(data, prefix: str = "") -> str | None:
    """Where in `data` (a parsed body, the query or the path parameters) a string holds a NUL character.

    PostgreSQL stores no NUL in text or JSON, so such input must be a 400
    naming the field rather than a database error.
    """
    if isinstance(data, str):
        return (prefix or "non_field_errors") if "\x00" in data else None
    if isinstance(data, QueryDict):
        return next((key for key, values in data.lists() if nul_character_path([key, *values])), None)
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if "\x00" in str(key):
                return path
            found = nul_character_path(value, path)
            if found:
                return found
    elif isinstance(data, list | tuple):
        for index, value in enumerate(data):
            found = nul_character_path(value, f"{prefix}[{index}]")
            if found:
                return found
    return None


class FiniteFloatField(serializers.FloatField):
    """Objective values: NaN and infinities become null, since JSON cannot carry them."""

    def to_representation(self, value):
        value = super().to_representation(value)
        return value if math.isfinite(value) else None


class AlgorithmSerializer(serializers.ModelSerializer):
    """An algorithm; its `command` (the worker's paths) only for those who may change algorithms."""

    # Typed here rather than as the model's free JSON, so that the schema says what to send and
    # a null is refused; the rules (argv shape, regexes) are jobs.config.validate_algorithm's.
    # Not required: an external algorithm has none, and a local one without it is refused by those rules.
    command = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False)
    metric_definitions = serializers.ListField(child=serializers.DictField(child=serializers.CharField()))
    static_hyperparameters = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    environment_passthrough = serializers.ListField(child=serializers.CharField(), required=False)
    image_uri_aliases = serializers.ListField(child=serializers.CharField(), required=False)
    # SageMaker's HyperParameterSpecification objects; their shape is jobs.tuning.supported's to check.
    supported_hyperparameters = serializers.ListField(child=serializers.DictField(), required=False)

    class Meta:
        model = Algorithm
        fields = ["name", "description", "backend", "command", "metric_definitions", "static_hyperparameters",
                  "environment_passthrough", "image_uri_aliases", "objective_metric_name", "objective_type",
                  "supported_hyperparameters", "created_at", "updated_at"]  # fmt: skip
        read_only_fields = ["created_at", "updated_at"]

    WRITABLE = ("command", "metric_definitions", "static_hyperparameters", "description", "backend",
                "environment_passthrough", "image_uri_aliases", "objective_metric_name", "objective_type",
                "supported_hyperparameters")  # fmt: skip

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        if request is None or not request.user.has_perm("jobs.change_algorithm"):
            data.pop("command")
        return data


class ParameterRangeSerializer(serializers.Serializer):
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=["Continuous", "Integer", "Categorical"])
    min_value = serializers.FloatField(required=False)
    max_value = serializers.FloatField(required=False)
    scaling_type = serializers.CharField(required=False)
    values = serializers.ListField(child=serializers.CharField(), required=False)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        # Integer bounds stay integers so the search space sees what was sent.
        if value.get("type") == "Integer":
            for bound in ("min_value", "max_value"):
                if bound in value and float(value[bound]).is_integer():
                    value[bound] = int(value[bound])
        return value


class TuningJobCreateSerializer(serializers.Serializer):
    """Our snake_case body; each field is a field of jobs.config.TuningJobConfig."""

    name = serializers.CharField()
    algorithm = serializers.CharField(source="algorithm_name")
    team = serializers.CharField(source="team_name", required=False, allow_null=True)
    strategy = serializers.CharField(default="Random")
    objective_metric_name = serializers.CharField()
    objective_type = serializers.CharField()
    parameter_ranges = ParameterRangeSerializer(many=True)
    static_hyperparameters = serializers.DictField(child=serializers.CharField(allow_blank=True), default=dict)
    max_training_jobs = serializers.IntegerField()
    max_parallel_training_jobs = serializers.IntegerField()
    max_runtime_seconds = serializers.IntegerField(required=False, allow_null=True)
    training_max_runtime_seconds = serializers.IntegerField(required=False, allow_null=True)
    max_retry_attempts = serializers.IntegerField(required=False, allow_null=True)
    early_stopping_type = serializers.CharField(default="Off")
    random_seed = serializers.IntegerField(required=False, allow_null=True)
    hyperband_min_resource = serializers.IntegerField(required=False, allow_null=True)
    hyperband_max_resource = serializers.IntegerField(required=False, allow_null=True)
    target_objective_value = serializers.FloatField(required=False, allow_null=True)
    max_jobs_not_improving = serializers.IntegerField(required=False, allow_null=True)
    complete_on_convergence = serializers.BooleanField(default=False)
    warm_start_type = serializers.CharField(default="", allow_blank=True)
    warm_start_parents = serializers.ListField(child=serializers.CharField(), default=list)

    # Errors from jobs.config are keyed by TuningJobConfig field names; these
    # are the names the same fields have in this body.
    FIELD_NAMES = {"algorithm_name": "algorithm", "team_name": "team"}


class TrainingJobSerializer(serializers.ModelSerializer):
    """The fields declare the schema; `to_representation` writes the same JSON directly.

    A page of training jobs holds up to 1,000 of them, and DRF's per-field
    machinery is most of the CPU such a page costs.
    """

    tuning_job = serializers.CharField(source="tuning_job.name")
    final_objective_value = FiniteFloatField(allow_null=True)
    elapsed_seconds = serializers.FloatField(allow_null=True)

    class Meta:
        model = TrainingJob
        fields = ["name", "tuning_job", "sequence", "status", "stop_reason", "failure_reason", "hyperparameters",
                  "tuned_hyperparameters", "final_objective_value", "objective_status", "epochs_run", "created_at",
                  "started_at", "ended_at", "elapsed_seconds"]  # fmt: skip

    def to_representation(self, training_job):
        value = training_job.final_objective_value
        return {
            "name": training_job.name,
            "tuning_job": training_job.tuning_job.name,
            "sequence": training_job.sequence,
            "status": training_job.status,
            "stop_reason": training_job.stop_reason,
            "failure_reason": training_job.failure_reason,
            "hyperparameters": training_job.hyperparameters,
            "tuned_hyperparameters": training_job.tuned_hyperparameters,
            "final_objective_value": value if value is not None and math.isfinite(value) else None,
            "objective_status": training_job.objective_status,
            "epochs_run": training_job.epochs_run,
            "created_at": iso_datetime(training_job.created_at),
            "started_at": iso_datetime(training_job.started_at),
            "ended_at": iso_datetime(training_job.ended_at),
            "elapsed_seconds": training_job.elapsed_seconds,
        }


def iso_datetime(moment: datetime | None) -> str | None:
    """A datetime as DRF's DateTimeField writes it: ISO 8601 in UTC, with Z."""
    if moment is None:
        return None
    text = moment.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


class TuningJobSerializer(serializers.ModelSerializer):
    """Describe-like: configuration, status, counters, best training job, completion details."""

    algorithm = serializers.CharField(source="algorithm.name")
    team = serializers.CharField(source="team.name", allow_null=True)
    owner = serializers.CharField(source="owner.username", allow_null=True)
    counters = serializers.SerializerMethodField()
    best_training_job = TrainingJobSerializer(allow_null=True)
    completion_details = serializers.SerializerMethodField()
    consumed_runtime_seconds = serializers.SerializerMethodField()
    warm_start_parents = serializers.SlugRelatedField(slug_field="name", many=True, read_only=True)

    class Meta:
        model = TuningJob
        fields = ["name", "algorithm", "team", "owner", "status", "failure_reason", "strategy",
                  "objective_metric_name", "objective_type", "parameter_ranges", "static_hyperparameters",
                  "max_training_jobs", "max_parallel_training_jobs", "max_runtime_seconds",
                  "training_max_runtime_seconds", "max_retry_attempts", "early_stopping_type", "random_seed",
                  "hyperband_min_resource",
                  "hyperband_max_resource", "target_objective_value", "max_jobs_not_improving",
                  "complete_on_convergence", "warm_start_type", "warm_start_parents", "completion_reason",
                  "counters", "best_training_job", "completion_details", "consumed_runtime_seconds",
                  "created_at", "updated_at", "ended_at"]  # fmt: skip

    def get_counters(self, tuning_job) -> dict:
        return counters_payload(tuning_job_counters(tuning_job=tuning_job))

    def get_completion_details(self, tuning_job) -> dict:
        details = tuning_job_completion_details(tuning_job=tuning_job)
        return {
            "number_of_training_jobs_objective_not_improving": details.jobs_not_improving,
            "convergence_detected_time": tuning_job.convergence_detected_at,
        }

    def get_consumed_runtime_seconds(self, tuning_job) -> int:
        return int(((tuning_job.ended_at or timezone.now()) - tuning_job.created_at).total_seconds())


class TuningJobListSerializer(serializers.ModelSerializer):
    algorithm = serializers.CharField(source="algorithm.name")
    best_objective_value = FiniteFloatField(source="best_training_job.final_objective_value", allow_null=True)

    class Meta:
        model = TuningJob
        fields = ["name", "algorithm", "status", "strategy", "early_stopping_type", "objective_metric_name",
                  "objective_type", "best_objective_value", "created_at", "ended_at"]  # fmt: skip
