"""Promises the suite itself keeps."""

import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_pure_tuning_tests_need_no_database_and_no_redis():
    """jobs/tuning is pure Python, so its tests run where no service does.

    The database and the broker point at a port that is bound but not
    listening: a connection to either is refused at once, so a fixture that
    started Redis or touched the database would fail the run instead of
    passing it.
    """
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{closed.getsockname()[1]}"
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "tests/jobs/tuning"],
            cwd=ROOT,
            env={
                **os.environ,
                "DATABASE_URL": f"postgres://nobody@{address}/nothing",
                "TEST_REDIS_URL": f"redis://{address}/0",
            },
            capture_output=True,
            text=True,
        )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout
