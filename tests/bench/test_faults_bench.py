"""bench.faults' command line: a scenario it does not know is a clear error, before anything starts."""

import subprocess
import sys

from bench.stack import ROOT


def test_an_unknown_scenario_is_named_in_the_error():
    done = subprocess.run([sys.executable, "-m", "bench.faults", "--scenarios", "pool_kill,meteor"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2
    choices = "pool_kill, worker_kill, postgres_down, redis_down, rabbitmq_down, makespan"
    assert f"unknown scenario(s) meteor; choose from {choices}" in done.stderr
