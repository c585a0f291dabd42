from django.urls import include, path
from rest_framework.routers import DefaultRouter

from analytics.api import TuningJobAnalyticsView, TuningJobDecisionView, TuningJobImportanceView
from jobs.api import trainer, views

router = DefaultRouter()
# No `.json` suffix routes: the API speaks JSON only (CSV by `?format=`), and a suffix on an
# action's route reached the view with an argument it does not take, a 500.
router.include_format_suffixes = False
router.register("algorithms", views.AlgorithmViewSet, basename="algorithm")
router.register("tuning-jobs", views.TuningJobViewSet, basename="tuning-job")
router.register("training-jobs", views.TrainingJobViewSet, basename="training-job")

urlpatterns = [
    path("tuning-jobs/<str:name>/analytics/", TuningJobAnalyticsView.as_view(), name="tuning-job-analytics"),
    path("tuning-jobs/<str:name>/importance/", TuningJobImportanceView.as_view(), name="tuning-job-importance"),
    path("tuning-jobs/<str:name>/decision/", TuningJobDecisionView.as_view(), name="tuning-job-decision"),
    path("", include(router.urls)),
]

urlpatterns += [
    path("trainer/<str:name>/", trainer.TrainerJobView.as_view(), name="trainer-job"),
    path("trainer/<str:name>/metrics/", trainer.TrainerMetricsView.as_view(), name="trainer-metrics"),
    path("trainer/<str:name>/heartbeat/", trainer.TrainerHeartbeatView.as_view(), name="trainer-heartbeat"),
    path("trainer/<str:name>/finish/", trainer.TrainerFinishView.as_view(), name="trainer-finish"),
]
