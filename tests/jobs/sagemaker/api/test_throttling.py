"""/sagemaker throttled per access key, as AWS answers it, with the counts in the shared Redis cache."""

import pytest

from tests.jobs.sagemaker.api.conftest import sagemaker_client
from tests.jobs.sagemaker.api.test_endpoint import error_of

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_key_over_its_rate_gets_throttling_exception_and_other_keys_do_not(
    live_server, people, settings, own_redis_cache
):
    settings.TUNEBOARD_SAGEMAKER_RATE = "3/min"
    alice_key, carol_key = people[1]["alice"], people[1]["carol"]
    alice = sagemaker_client(live_server.url, alice_key)
    for _ in range(3):
        alice.list_training_jobs()
    assert error_of(alice.list_training_jobs) == ("ThrottlingException", "Rate exceeded", 400)
    sagemaker_client(live_server.url, carol_key).list_training_jobs()
    # The counts live in Redis, where another web process's cache reads them too.
    assert len(own_redis_cache.get(f"throttle_sagemaker_{alice_key.access_key_id}")) == 3
