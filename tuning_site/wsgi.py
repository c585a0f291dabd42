"""WSGI entry point, for deployments that serve HTTP without websockets."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tuning_site.settings")

application = get_wsgi_application()
