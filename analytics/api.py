"""The analytics table, importance and the team's decision on the REST API:
`/api/v1/tuning-jobs/<name>/analytics/`, `.../importance/` and `.../decision/`.

They live with what they export rather than among the tuning-job
viewsets; jobs/api/urls.py mounts it under the tuning job it belongs to.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics import selectors, services
from analytics.analysis import tuning_job_importance
from analytics.models import REASON_MAX_LENGTH, Decision
from analytics.table import analytics_columns, analytics_csv, analytics_rows, json_ready
from jobs import selectors as jobs_selectors
from jobs.api.views import NulCheckMixin


class CSVRenderer(BaseRenderer):
    """Passes an already-written CSV document through; errors still render as JSON."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, str):
            return data.encode(self.charset)
        return JSONRenderer().render(data)


class TuningJobAnalyticsView(NulCheckMixin, APIView):
    renderer_classes = [JSONRenderer, CSVRenderer]

    @extend_schema(
        operation_id="tuning_jobs_analytics_retrieve",
        parameters=[OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv"])],
        responses={(200, "application/json"): OpenApiTypes.OBJECT, (200, "text/csv"): OpenApiTypes.STR},
    )
    def get(self, request, name):
        """HyperparameterTuningJobAnalytics.dataframe(): one row per training job, SageMaker's columns.

        JSON by default; CSV with ?format=csv or Accept: text/csv.
        """
        tuning_job = get_object_or_404(jobs_selectors.tuning_jobs_visible_to(user=request.user), name=name)
        rows = analytics_rows(tuning_job)
        if request.accepted_renderer.format == "csv":
            return Response(analytics_csv(rows, columns=analytics_columns(tuning_job)), content_type="text/csv")
        return Response({"columns": analytics_columns(tuning_job), "rows": [json_ready(row) for row in rows]})


class TuningJobImportanceView(NulCheckMixin, APIView):
    @extend_schema(operation_id="tuning_jobs_importance_retrieve", responses={200: OpenApiTypes.OBJECT})
    def get(self, request, name):
        """Hyperparameter importance (Optuna's fANOVA and PED-ANOVA) over the training jobs with a final objective.

        `{"observations": n, "message": null or why there is none, "methods": [{"method": "fANOVA",
        "importances": {hyperparameter: share, ...}, "notes": [...]}, ...]}`, most important first;
        fewer than two observations give no methods and a message, not an error.
        """
        tuning_job = get_object_or_404(jobs_selectors.tuning_jobs_visible_to(user=request.user), name=name)
        return Response(tuning_job_importance(tuning_job=tuning_job).as_dict())


class DecisionRequestSerializer(serializers.Serializer):
    """PUT: the training job chosen (by name, within the tuning job) and why (Markdown)."""

    training_job = serializers.CharField(max_length=63)
    reason = serializers.CharField(max_length=REASON_MAX_LENGTH, allow_blank=True, trim_whitespace=False)


class DecisionSerializer(serializers.Serializer):
    """The team's choice, with who made it and when; every member null while none is made."""

    training_job = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_null=True)
    decided_by = serializers.CharField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)

    @staticmethod
    def of(decision: Decision | None) -> dict:
        if decision is None:
            return {"training_job": None, "reason": None, "decided_by": None, "decided_at": None}
        return {
            "training_job": decision.training_job.name,
            "reason": decision.reason,
            "decided_by": decision.decided_by.get_username() if decision.decided_by else None,
            "decided_at": serializers.DateTimeField().to_representation(decision.decided_at),
        }


class TuningJobDecisionView(NulCheckMixin, APIView):
    """`/api/v1/tuning-jobs/<name>/decision/`: which training job the team chose (all nulls: none yet).

    PUT chooses (operators; replaces an earlier choice), DELETE withdraws. The
    training job is named within the tuning job: another tuning job's, or one
    the caller may not see, is a field error like a name nobody used.
    """

    def _tuning_job(self, request, name):
        return get_object_or_404(jobs_selectors.tuning_jobs_visible_to(user=request.user), name=name)

    @extend_schema(responses=DecisionSerializer)
    def get(self, request, name):
        tuning_job = self._tuning_job(request, name)
        return Response(DecisionSerializer.of(selectors.decision_for(tuning_job=tuning_job)))

    @extend_schema(request=DecisionRequestSerializer, responses=DecisionSerializer)
    def put(self, request, name):
        tuning_job = self._tuning_job(request, name)
        body = DecisionRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        training_job = tuning_job.training_jobs.filter(name=body.validated_data["training_job"]).first()
        if training_job is None:
            raise exceptions.ValidationError(
                {
                    "training_job": [
                        f"{tuning_job.name} has no training job named {body.validated_data['training_job']!r}."
                    ]
                }
            )
        decision = services.decision_make(
            training_job=training_job, user=request.user, reason=body.validated_data["reason"]
        )
        return Response(DecisionSerializer.of(decision))

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, name):
        services.decision_withdraw(tuning_job=self._tuning_job(request, name), user=request.user)
        return Response(status=204)
