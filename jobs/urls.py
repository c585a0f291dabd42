from django.urls import path

from jobs import access_key_views, import_views, views

urlpatterns = [
    path("", views.tuning_job_list, name="tuning-job-list"),
    # Not under tuning-jobs/: "new" is a valid tuning job name.
    path("new/", views.tuning_job_create, name="tuning-job-create"),
    path("import/sagemaker/", import_views.import_sagemaker, name="tuning-job-import-sagemaker"),
    path("tuning-jobs/<str:name>/", views.tuning_job_detail, name="tuning-job-detail"),
    path("tuning-jobs/<str:name>/summary.json", views.tuning_job_summary, name="tuning-job-summary"),
    path("tuning-jobs/<str:name>/curves.json", views.tuning_job_curves, name="tuning-job-curves"),
    path("tuning-jobs/<str:name>/training-jobs.json", views.tuning_job_training_jobs, name="tuning-job-training-jobs"),
    path("tuning-jobs/<str:name>/stop/", views.tuning_job_stop, name="tuning-job-stop"),
    path("training-jobs/<str:name>/", views.training_job_detail, name="training-job-detail"),
    path("training-jobs/<str:name>/metrics.json", views.training_job_metrics, name="training-job-metrics"),
    path("training-jobs/<str:name>/log", views.training_job_log, name="training-job-log"),
    path("training-jobs/<str:name>/log.txt", views.training_job_log_download, name="training-job-log-download"),
    path("access-keys/", access_key_views.access_keys, name="access-keys"),
]
