from django.urls import path

from jobs import views

urlpatterns = [
    path("", views.tuning_job_list, name="tuning-job-list"),
    path("tuning-jobs/<str:name>/", views.tuning_job_detail, name="tuning-job-detail"),
    path("tuning-jobs/<str:name>/stop/", views.tuning_job_stop, name="tuning-job-stop"),
    path("training-jobs/<str:name>/", views.training_job_detail, name="training-job-detail"),
]
