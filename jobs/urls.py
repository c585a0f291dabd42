from django.urls import path

from jobs.views import access_keys, imports, training_jobs, tuning_job_detail, tuning_jobs

urlpatterns = [
    path("", tuning_jobs.tuning_job_list, name="tuning-job-list"),
    # Not under tuning-jobs/: "new" is a valid tuning job name.
    path("new/", tuning_jobs.tuning_job_create, name="tuning-job-create"),
    path("import/sagemaker/", imports.import_sagemaker, name="tuning-job-import-sagemaker"),
    path("tuning-jobs/<str:name>/", tuning_job_detail.tuning_job_detail, name="tuning-job-detail"),
    path("tuning-jobs/<str:name>/summary.json", tuning_job_detail.tuning_job_summary, name="tuning-job-summary"),
    path("tuning-jobs/<str:name>/curves.json", tuning_job_detail.tuning_job_curves, name="tuning-job-curves"),
    path(
        "tuning-jobs/<str:name>/training-jobs/",
        tuning_job_detail.tuning_job_training_jobs,
        name="tuning-job-training-jobs",
    ),
    path("tuning-jobs/<str:name>/stop/", tuning_jobs.tuning_job_stop, name="tuning-job-stop"),
    path("training-jobs/<str:name>/", training_jobs.training_job_detail, name="training-job-detail"),
    path("training-jobs/<str:name>/metrics.json", training_jobs.training_job_metrics, name="training-job-metrics"),
    path("training-jobs/<str:name>/log", training_jobs.training_job_log, name="training-job-log"),
    path("training-jobs/<str:name>/log.txt", training_jobs.training_job_log_download, name="training-job-log-download"),
    path(
        "training-jobs/<str:name>/model.tar.gz",
        training_jobs.training_job_model_download,
        name="training-job-model-download",
    ),
    path("access-keys/", access_keys.access_keys, name="access-keys"),
]
