"""API v1 viewsets: thin; reads through selectors, writes through services."""

import math

from django.core.exceptions import ValidationError
from django.db.models import F
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, permissions, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from jobs import selectors, services
from jobs.api import serializers, trainer
from jobs.config import TuningJobConfig
from jobs.models import Algorithm, Backend, MetricSample, TrainingJobStatus, TuningJobStatus


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000


class NulCheckMixin:
    """Refuses NUL characters anywhere in the input with a 400 before any query sees them."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        for data in (kwargs, request.query_params, request.data):
            field = serializers.nul_character_path(data)
            if field:
                raise exceptions.ValidationError({field: ["Text may not contain NUL characters."]})


class AlgorithmViewSet(
    NulCheckMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):  # fmt: skip
    queryset = Algorithm.objects.all()
    serializer_class = serializers.AlgorithmSerializer
    # An algorithm's command runs on the workers: registering one (jobs.add_algorithm) or changing
    # one (jobs.change_algorithm) is a permission given on purpose, not a side effect of is_staff.
    permission_classes = [permissions.DjangoModelPermissions]
    lookup_field = "name"
    pagination_class = Pagination

    def perform_create(self, serializer):
        serializer.instance = services.algorithm_register(**serializer.validated_data)

    def perform_update(self, serializer):
        algorithm = serializer.instance
        data = {
            **{field: getattr(algorithm, field) for field in serializers.AlgorithmSerializer.WRITABLE},
            **serializer.validated_data,
        }
        serializer.instance = services.algorithm_register(
            name=algorithm.name,
            command=data["command"],
            metric_definitions=data["metric_definitions"],
            static_hyperparameters=data["static_hyperparameters"],
            description=data["description"],
            backend=data["backend"],
            # Not in the API's representation: an update through it keeps them.
            image_uri=algorithm.image_uri,
            input_channels=algorithm.input_channels,
            sagemaker_config=algorithm.sagemaker_config,
            environment_passthrough=data["environment_passthrough"],
            image_uri_aliases=data["image_uri_aliases"],
            objective_metric_name=data["objective_metric_name"],
            objective_type=data["objective_type"],
        )


TUNING_JOB_ORDERINGS = {"name", "-name", "created_at", "-created_at", "status", "-status"}
# ListTrainingJobsForHyperParameterTuningJob's SortBy values.
TRAINING_JOB_SORTS = {
    "Name": "name",
    "CreationTime": "created_at",
    "Status": "status",
    "FinalObjectiveMetricValue": "final_objective_value",
}


TUNING_JOB_LIST_COLUMNS = [
    "name", "status", "strategy", "early_stopping_type", "objective_metric_name", "objective_type", "created_at",
    "ended_at", "algorithm", "algorithm__name", "best_training_job", "best_training_job__final_objective_value",
]  # fmt: skip


class TuningJobViewSet(
    NulCheckMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    lookup_field = "name"
    pagination_class = Pagination

    def get_queryset(self):
        queryset = selectors.tuning_jobs_visible_to(user=self.request.user)
        if self.action == "training_jobs":
            # Only the name is shown with each training job.
            queryset = queryset.select_related(None).only("id", "name")
        elif self.action == "list":
            # A page of the list shows a few columns; reading only those spares
            # decoding every job's JSON configuration and joining its team and owner.
            queryset = (
                queryset.select_related(None)
                .select_related("algorithm", "best_training_job")
                .only(*TUNING_JOB_LIST_COLUMNS)
            )
        return queryset

    def get_serializer_class(self):
        return {
            "create": serializers.TuningJobCreateSerializer,
            "list": serializers.TuningJobListSerializer,
        }.get(self.action, serializers.TuningJobSerializer)

    @extend_schema(
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=TuningJobStatus.values),
            OpenApiParameter("name_contains", OpenApiTypes.STR),
            OpenApiParameter("created_after", OpenApiTypes.DATETIME),
            OpenApiParameter("created_before", OpenApiTypes.DATETIME),
            OpenApiParameter("ordering", OpenApiTypes.STR, enum=sorted(TUNING_JOB_ORDERINGS)),
        ]
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def filter_queryset(self, queryset):
        params = self.request.query_params
        status = params.get("status")
        if status:
            if status not in TuningJobStatus.values:
                raise _choice_error("status", TuningJobStatus.values)
            queryset = queryset.filter(status=status)
        if params.get("name_contains"):
            queryset = queryset.filter(name__icontains=params["name_contains"])
        for param, lookup in (("created_after", "created_at__gte"), ("created_before", "created_at__lt")):
            if params.get(param):
                moment = _datetime(params[param], param)
                queryset = queryset.filter(**{lookup: moment})
        ordering = params.get("ordering", "-created_at")
        if ordering not in TUNING_JOB_ORDERINGS:
            raise exceptions.ValidationError(
                {"ordering": [f"Choose one of {', '.join(sorted(TUNING_JOB_ORDERINGS))}."]}
            )
        return queryset.order_by(ordering, "id")

    @extend_schema(request=serializers.TuningJobCreateSerializer, responses=serializers.TuningJobSerializer)
    def create(self, request, *args, **kwargs):
        body = serializers.TuningJobCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        config = TuningJobConfig(**body.validated_data)
        try:
            tuning_job = services.tuning_job_create(config=config, owner=request.user)
        except ValidationError as error:
            names = serializers.TuningJobCreateSerializer.FIELD_NAMES
            raise exceptions.ValidationError({names.get(k, k): v for k, v in error.message_dict.items()}) from None
        tuning_job = self.get_queryset().get(pk=tuning_job.pk)
        return Response(serializers.TuningJobSerializer(tuning_job).data, status=201)

    @extend_schema(request=None, responses=serializers.TuningJobSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request, name=None):
        tuning_job = self.get_object()
        if not selectors.can_operate(user=request.user, tuning_job=tuning_job):
            raise exceptions.PermissionDenied("Viewers cannot stop tuning jobs.")
        if not tuning_job.is_active:
            raise trainer.Conflict(f"{tuning_job.name} has ended ({tuning_job.status}); there is nothing to stop.")
        services.tuning_job_stop(tuning_job_id=tuning_job.id)
        return Response(serializers.TuningJobSerializer(self.get_object()).data)

    @extend_schema(request=None, responses={200: trainer.ClaimSerializer, 204: None})
    @action(detail=True, methods=["post"])
    def claim(self, request, name=None):
        """Take the next waiting training job of an external algorithm; 204 when none waits.

        The answer carries the job's hyperparameters and a token good only for
        reporting that job (shown once).
        """
        tuning_job = self.get_object()
        if not selectors.can_operate(user=request.user, tuning_job=tuning_job):
            raise exceptions.PermissionDenied("Viewers cannot run training jobs.")
        if tuning_job.algorithm.backend != Backend.EXTERNAL:
            raise exceptions.ValidationError(
                {"algorithm": [f"{tuning_job.algorithm.name} runs on Tuneboard's workers, not through claims."]}
            )
        claimed = services.training_job_claim_external(tuning_job_id=tuning_job.id, claimant=request.user.username)
        if claimed is None:
            return Response(status=204)
        training_job, key = claimed
        return Response(trainer.ClaimSerializer({"training_job": training_job, "token": key}).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("status_equals", OpenApiTypes.STR, enum=TrainingJobStatus.values),
            OpenApiParameter("sort_by", OpenApiTypes.STR, enum=[*TRAINING_JOB_SORTS]),
            OpenApiParameter("sort_order", OpenApiTypes.STR, enum=["Ascending", "Descending"]),
        ],
        responses=serializers.TrainingJobSerializer(many=True),
    )  # fmt: skip
    @action(detail=True, methods=["get"], url_path="training-jobs")
    def training_jobs(self, request, name=None):
        """ListTrainingJobsForHyperParameterTuningJob, paginated."""
        tuning_job = self.get_object()
        params = request.query_params
        # The related manager gives each training job this tuning job: no join, and no decoding
        # its configuration once per row.
        queryset = tuning_job.training_jobs.all()
        status = params.get("status_equals")
        if status:
            if status not in TrainingJobStatus.values:
                raise exceptions.ValidationError(
                    {"status_equals": [f"Choose one of {', '.join(TrainingJobStatus.values)}."]}
                )
            queryset = queryset.filter(status=status)
        sort_by = params.get("sort_by", "CreationTime")
        sort_order = params.get("sort_order", "Descending")
        if sort_by not in TRAINING_JOB_SORTS:
            raise _choice_error("sort_by", [*TRAINING_JOB_SORTS])
        if sort_order not in ("Ascending", "Descending"):
            raise _choice_error("sort_order", ["Ascending", "Descending"])
        field = TRAINING_JOB_SORTS[sort_by]
        if sort_by == "FinalObjectiveMetricValue":
            # As SageMaker does: jobs without a final objective are left out when sorting by it.
            queryset = queryset.filter(objective_status="Succeeded")
        expression = F(field).desc() if sort_order == "Descending" else F(field).asc()
        queryset = queryset.order_by(expression, "sequence")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializers.TrainingJobSerializer(page, many=True).data)


class TrainingJobViewSet(NulCheckMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = serializers.TrainingJobSerializer
    lookup_field = "name"

    def get_queryset(self):
        return selectors.training_jobs_visible_to(user=self.request.user).select_related("tuning_job")

    @extend_schema(request=None)
    @action(detail=True, methods=["post"])
    def stop(self, request, name=None):
        training_job = self.get_object()
        if not selectors.can_operate(user=request.user, tuning_job=training_job.tuning_job):
            raise exceptions.PermissionDenied("Viewers cannot stop training jobs.")
        if not training_job.is_active:
            raise trainer.Conflict(f"{training_job.name} has ended ({training_job.status}); there is nothing to stop.")
        services.training_job_stop(training_job_id=training_job.id)
        return Response(self.get_serializer(self.get_queryset().get(pk=training_job.pk)).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("metric", OpenApiTypes.STR, description="Only this metric."),
            OpenApiParameter("since_epoch", OpenApiTypes.INT, description="Only epochs after this one."),
            OpenApiParameter("since_time", OpenApiTypes.DATETIME, description="Only samples recorded after this."),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    @action(detail=True, methods=["get"])
    def metrics(self, request, name=None):
        """The job's metric samples, all or one metric, optionally only those after an epoch or a time."""
        training_job = self.get_object()
        params = request.query_params
        samples = MetricSample.objects.filter(training_job=training_job)
        if params.get("metric"):
            samples = samples.filter(metric_name=params["metric"])
        if params.get("since_epoch"):
            try:
                samples = samples.filter(epoch__gt=int(params["since_epoch"]))
            except ValueError:
                raise exceptions.ValidationError({"since_epoch": ["Must be a whole number."]}) from None
        if params.get("since_time"):
            samples = samples.filter(timestamp__gt=_datetime(params["since_time"], "since_time"))
        metrics: dict[str, list] = {}
        for metric, epoch, value, timestamp in samples.order_by("metric_name", "epoch").values_list(
            "metric_name", "epoch", "value", "timestamp"
        ):
            metrics.setdefault(metric, []).append(
                {"epoch": epoch, "value": value if math.isfinite(value) else None, "timestamp": timestamp}
            )
        return Response({"training_job": training_job.name, "metrics": metrics})


def _choice_error(param: str, choices) -> exceptions.ValidationError:
    return exceptions.ValidationError({param: [f"Choose one of {', '.join(choices)}."]})


def _datetime(raw: str, param: str):
    moment = serializers.parse_moment(raw)
    if moment is None:
        raise exceptions.ValidationError({param: ["Use an ISO 8601 date and time, e.g. 2026-11-28T09:00:00Z."]})
    return moment
