"""Request and response shapes of API v1. Type checks only: the rules live in jobs.config."""

import math

from django.utils import timezone
from rest_framework import serializers

from jobs.models import Algorithm, TrainingJob, TuningJob
from jobs.selectors import counters_payload, tuning_job_counters
from jobs.services import tuning_job_completion_details


class FiniteFloatField(serializers.FloatField):
    """Objective values: NaN and infinities become null, since JSON cannot carry them."""

    def to_representation(self, value):
        value = super().to_representation(value)
        return value if math.isfinite(value) else None


class AlgorithmSerializer(serializers.ModelSerializer):
    class Meta:
        model = Algorithm
        fields = ["name", "description", "backend", "command", "metric_definitions", "static_hyperparameters",
                  "created_at", "updated_at"]  # fmt: skip
        read_only_fields = ["created_at", "updated_at"]


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
    tuning_job = serializers.CharField(source="tuning_job.name")
    final_objective_value = FiniteFloatField(allow_null=True)
    elapsed_seconds = serializers.FloatField(allow_null=True)

    class Meta:
        model = TrainingJob
        fields = ["name", "tuning_job", "sequence", "status", "stop_reason", "failure_reason", "hyperparameters",
                  "tuned_hyperparameters", "final_objective_value", "objective_status", "epochs_run", "created_at",
                  "started_at", "ended_at", "elapsed_seconds"]  # fmt: skip


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
                  "training_max_runtime_seconds", "early_stopping_type", "random_seed", "hyperband_min_resource",
                  "hyperband_max_resource", "target_objective_value", "max_jobs_not_improving",
                  "complete_on_convergence", "warm_start_type", "warm_start_parents", "completion_reason",
                  "counters", "best_training_job", "completion_details", "consumed_runtime_seconds",
                  "created_at", "updated_at", "ended_at"]  # fmt: skip

    def get_counters(self, tuning_job) -> dict:
        return counters_payload(tuning_job_counters(tuning_job=tuning_job))

    def get_completion_details(self, tuning_job) -> dict:
        details = tuning_job_completion_details(tuning_job)
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
