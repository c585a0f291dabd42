import pytest

from tests.jobs.factories import register_algorithm


@pytest.fixture
def algorithm():
    return register_algorithm()
