from django.urls import path

from analytics import views

urlpatterns = [
    path("compare/", views.tuning_jobs_compare, name="tuning-jobs-compare"),
    path("tuning-jobs/<str:name>/analysis/", views.tuning_job_analysis, name="tuning-job-analysis"),
    path("tuning-jobs/<str:name>/report/", views.tuning_job_report, name="tuning-job-report"),
    path("tuning-jobs/<str:name>/analytics.csv", views.analytics_csv_export, name="tuning-job-analytics-csv"),
    path("tuning-jobs/<str:name>/analytics.json", views.analytics_json_export, name="tuning-job-analytics-json"),
    path(
        "tuning-jobs/<str:name>/decision/withdraw/",
        views.tuning_job_decision_withdraw,
        name="tuning-job-decision-withdraw",
    ),
    path("training-jobs/<str:name>/choose/", views.training_job_choose, name="training-job-choose"),
    path("training-jobs/<str:name>/notes/", views.training_job_note_add, name="training-job-note-add"),
]
