"""Waiting on live workers (Celery, daphne) in tests that run the whole stack."""

import time

import pytest


def wait_for(predicate, workers, timeout=90.0, what="condition"):
    """`predicate()`'s first truthy result; on timeout, fail with the workers' logs, which say why."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{workers.logs()}")
