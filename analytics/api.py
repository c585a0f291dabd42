"""The analytics table and importance on the REST API: `/api/v1/tuning-jobs/<name>/analytics/`, `.../importance/`.

It lives with the table it exports rather than among the tuning-job
viewsets; jobs/api/urls.py mounts it under the tuning job it belongs to.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from analytics.analysis import tuning_job_importance
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
