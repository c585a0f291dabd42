"""The REST API's throttle counts live in the shared cache, Redis at REDIS_URL, not in one process's memory."""

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from tuning_site import settings as deployment

pytestmark = pytest.mark.django_db


def test_the_deployments_cache_is_redis_at_redis_url():
    assert deployment.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
    assert deployment.CACHES["default"]["LOCATION"] == deployment.REDIS_URL


def test_a_requests_throttle_count_is_read_by_another_process_cache(own_redis_cache, django_user_model):
    alice = django_user_model.objects.create_user("alice")
    Group.objects.create(name="vision")
    client = APIClient()
    client.force_authenticate(alice)
    for _ in range(2):
        assert client.get("/api/v1/tuning-jobs/").status_code == 200
    # A cache object of its own, as another daphne process has, sees both requests.
    assert len(own_redis_cache.get(f"throttle_user_{alice.pk}")) == 2
