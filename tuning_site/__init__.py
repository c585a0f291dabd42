"""Tuneboard's Django project: settings, URLs, ASGI entry point and Celery app."""

from tuning_site.celery import app as celery_app

__all__ = ["celery_app"]
