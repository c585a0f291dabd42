"""Metric ingest throughput through the trainer API, early-stopping evaluation included.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tuneboard_bench REDIS_URL=redis://127.0.0.1:6379/13 \\
        python -m bench.ingest [--jobs 20] [--epochs 500] [--batch 250]

Sets up a scratch database (migrated, then filled with one external tuning
job with early stopping Auto and `--jobs` claimed training jobs), starts
daphne on a free port, and has one client thread per training job POST
batches of `--batch` epochs of the objective metric with its per-job token,
as examples/tuneboard_trainer.py does. Every batch goes through the same
service as local jobs: one INSERT, then the Auto rule on the newest epoch.
Prints samples per second and the latency of the batches. The curves are
alike, so no job is stopped and every batch is evaluated.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def setup(jobs: int) -> list[str]:
    """A tuning job with `jobs` claimed external training jobs; returns their tokens."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tuning_site.settings")
    django.setup()
    from django.core.management import call_command

    from jobs import services
    from jobs.config import TuningJobConfig
    from jobs.models import Backend, TuningJob

    call_command("migrate", verbosity=0)
    TuningJob.objects.filter(name="ingest-bench").delete()
    services.algorithm_register(
        name="ingest-bench",
        command=[],
        metric_definitions=[{"Name": "validation:accuracy", "Regex": r"validation:accuracy=(\S+)"}],
        backend=Backend.EXTERNAL,
    )
    tuning_job = services.tuning_job_create(
        config=TuningJobConfig(
            name="ingest-bench",
            algorithm_name="ingest-bench",
            objective_metric_name="validation:accuracy",
            objective_type="Maximize",
            parameter_ranges=[{"name": "x", "type": "Continuous", "min_value": 0.0, "max_value": 1.0}],
            max_training_jobs=jobs,
            max_parallel_training_jobs=jobs,
            early_stopping_type="Auto",
            random_seed=1,
        )
    )
    services.tuning_job_advance(tuning_job_id=tuning_job.id)
    return [services.training_job_claim_external(tuning_job_id=tuning_job.id, claimant="bench")[1] for _ in range(jobs)]


def post(url: str, token: str, payload: dict) -> float:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST")
    request.add_header("Authorization", f"TrainingJob {token}")
    request.add_header("Content-Type", "application/json")
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.loads(response.read())
    if answer["stop"]:
        raise RuntimeError("a job was stopped; the benchmark expects alike curves")
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=500)
    parser.add_argument("--batch", type=int, default=250)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a scratch PostgreSQL database (see the docstring).")
    tokens = setup(args.jobs)
    port = free_port()
    env = {**os.environ, "SECURE_SSL_REDIRECT": "0", "DEBUG": "0"}
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "tuning_site.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/api/v1/trainer/metrics/"
        latencies: list[float] = []
        lock = threading.Lock()

        def trainer(token: str, index: int):
            for start in range(1, args.epochs + 1, args.batch):
                epochs = range(start, min(start + args.batch, args.epochs + 1))
                samples = [
                    {"metric": "validation:accuracy", "epoch": e, "value": 0.5 + 0.4 * e / args.epochs + index * 1e-6}
                    for e in epochs
                ]
                seconds = post(url, token, {"samples": samples})
                with lock:
                    latencies.append(seconds)

        threads = [threading.Thread(target=trainer, args=(token, i)) for i, token in enumerate(tokens)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(10)
    total = args.jobs * args.epochs
    latencies.sort()
    print(f"{total} samples from {args.jobs} trainers in batches of {args.batch}: {elapsed:.2f} s")
    print(f"throughput: {total / elapsed:,.0f} samples/s")
    print(
        f"batch latency: median {statistics.median(latencies) * 1000:.0f} ms, "
        f"p95 {latencies[int(0.95 * (len(latencies) - 1))] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
