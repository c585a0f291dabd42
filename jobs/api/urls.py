from django.urls import include, path
from rest_framework.routers import DefaultRouter

from jobs.api import views

router = DefaultRouter()
router.register("algorithms", views.AlgorithmViewSet, basename="algorithm")
router.register("tuning-jobs", views.TuningJobViewSet, basename="tuning-job")
router.register("training-jobs", views.TrainingJobViewSet, basename="training-job")

urlpatterns = [path("", include(router.urls))]
