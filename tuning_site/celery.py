"""The Celery application; its configuration is the CELERY_* settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tuning_site.settings")

app = Celery("tuning_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
