"""Latency of the API's list endpoints with 1,000 training jobs, under a bounded load of 20 clients.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tuneboard_bench REDIS_URL=redis://127.0.0.1:6379/13 \\
        python -m bench.api_list [--clients 20] [--rate 2] [--seconds 30] [--servers 1]

Sets up a scratch database (migrated, then filled with a team, an operator
with an API token, 60 tuning jobs and, in one of them, 1,000 ended training
jobs with objective values) and starts `--servers` daphne processes on one
shared socket, as bench.ingest does. The operator is not staff, so every
request runs the same visibility filter as the pages.

`--clients` client threads, each with its own keep-alive connection, send
GETs at `--rate` requests per second each (an open loop: a client that falls
behind does not wait before its next request, so queueing shows up in the
latencies) for `--seconds`, cycling through the list endpoints:

- tuning-jobs/ (the first page of 50, newest first),
- tuning-jobs/{name}/training-jobs/ sorted by CreationTime, then by
  FinalObjectiveMetricValue (pages of 50),
- the same with page_size=100 on page 5.

Prints p50/p95/max per endpoint and overall.
"""

import argparse
import http.client
import os
import statistics
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

from bench.ingest import server_cpu_seconds, start_servers, stop_servers

ROOT = Path(__file__).resolve().parent.parent
TRAINING_JOBS = 1000
TUNING_JOBS = 60


def setup() -> tuple[str, str]:
    """The data; returns the operator's API token and the name of the tuning job with 1,000 training jobs."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tuning_site.settings")
    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command
    from django.utils import timezone

    from jobs import services
    from jobs.config import TuningJobConfig
    from jobs.models import ObjectiveStatus, TeamMember, TeamRole, TrainingJob, TrainingJobStatus, TuningJob

    call_command("migrate", verbosity=0)
    TuningJob.objects.filter(name__startswith="list-bench").delete()
    User.objects.filter(username="list-bench").delete()
    team, _ = Group.objects.get_or_create(name="list-bench")
    user = User.objects.create_user("list-bench")
    TeamMember.objects.create(team=team, user=user, role=TeamRole.OPERATOR)
    services.algorithm_register(
        name="list-bench",
        command=["/bin/true"],
        metric_definitions=[{"Name": "validation:accuracy", "Regex": r"validation:accuracy=(\S+)"}],
    )
    for index in range(TUNING_JOBS):
        tuning_job = services.tuning_job_create(
            config=TuningJobConfig(
                name=f"list-bench-{index:02d}",
                algorithm_name="list-bench",
                team_name="list-bench",
                objective_metric_name="validation:accuracy",
                objective_type="Maximize",
                parameter_ranges=[{"name": "x", "type": "Continuous", "min_value": 0.0, "max_value": 1.0}],
                max_training_jobs=TRAINING_JOBS,
                max_parallel_training_jobs=10,
                random_seed=index,
            ),
            owner=user,
        )
    # Rows written directly: what is measured is reading them, and 1,000 runs
    # played through the services would only make the setup slow.
    now = timezone.now()
    TrainingJob.objects.bulk_create(
        TrainingJob(
            name=f"{tuning_job.name}-{sequence:04d}",
            tuning_job=tuning_job,
            sequence=sequence,
            hyperparameters={"x": f"{sequence / TRAINING_JOBS:.4f}"},
            tuned_hyperparameters={"x": f"{sequence / TRAINING_JOBS:.4f}"},
            status=TrainingJobStatus.COMPLETED if sequence % 7 else TrainingJobStatus.STOPPED,
            objective_status=ObjectiveStatus.SUCCEEDED if sequence % 11 else ObjectiveStatus.FAILED,
            final_objective_value=(sequence * 7919 % TRAINING_JOBS) / TRAINING_JOBS,
            epochs_run=10,
            started_at=now - timedelta(seconds=2 * sequence + 60),
            ended_at=now - timedelta(seconds=2 * sequence),
        )
        for sequence in range(1, TRAINING_JOBS + 1)
    )
    return services.api_token_create(user=user)[1], tuning_job.name


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rate", type=float, default=2.0, help="requests per second per client")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--servers", type=int, default=1)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a scratch PostgreSQL database (see the docstring).")
    load_before = os.getloadavg()[0]
    token, big = setup()
    endpoints = {
        "tuning-jobs": "/api/v1/tuning-jobs/",
        "training-jobs by CreationTime": f"/api/v1/tuning-jobs/{big}/training-jobs/",
        "training-jobs by objective": f"/api/v1/tuning-jobs/{big}/training-jobs/?sort_by=FinalObjectiveMetricValue",
        "training-jobs page 5 of 100": f"/api/v1/tuning-jobs/{big}/training-jobs/?page_size=100&page=5",
    }
    listener, servers = start_servers(args.servers, {"TUNEBOARD_API_RATE": "10000000/min"})
    port = listener.getsockname()[1]
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    latencies: dict[str, list[float]] = {name: [] for name in endpoints}
    errors: list[str] = []
    lock = threading.Lock()

    def get(connection: http.client.HTTPConnection, path: str) -> int:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status

    def client(index: int, start_at: float):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        names = list(endpoints)
        interval = 1 / args.rate
        # Clients are spread over one interval so that they do not all fire at once.
        due = start_at + interval * index / args.clients
        sent = 0
        while due < start_at + args.seconds:
            time.sleep(max(0.0, due - time.perf_counter()))
            name = names[(index + sent) % len(names)]
            started = time.perf_counter()
            status = get(connection, endpoints[name])
            elapsed = time.perf_counter() - started
            with lock:
                latencies[name].append(elapsed)
                if status != 200:
                    errors.append(f"{name}: HTTP {status}")
            sent += 1
            due += interval
        connection.close()

    try:
        warm = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        deadline = time.monotonic() + 60
        while True:
            try:
                for _ in range(5 * args.servers):
                    for path in endpoints.values():
                        assert get(warm, path) == 200, path
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
                warm = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        warm.close()
        cpu_before = server_cpu_seconds(servers)
        start_at = time.perf_counter() + 0.5
        threads = [threading.Thread(target=client, args=(i, start_at)) for i in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        cpu = server_cpu_seconds(servers) - cpu_before
    finally:
        stop_servers(listener, servers)
    if errors:
        sys.exit(f"{len(errors)} failed requests, e.g. {errors[0]}")
    everything = sorted(value for values in latencies.values() for value in values)
    print(
        f"{len(everything)} requests, {args.clients} clients at {args.rate:g}/s each for {args.seconds:g} s, "
        f"{args.servers} daphne process(es); {TUNING_JOBS} tuning jobs, {TRAINING_JOBS} training jobs in one"
    )
    for name, values in [*latencies.items(), ("all", everything)]:
        values = sorted(values)
        print(
            f"{name:32s} n={len(values):5d}  p50 {statistics.median(values) * 1000:6.1f} ms  "
            f"p95 {percentile(values, 0.95) * 1000:6.1f} ms  max {values[-1] * 1000:6.1f} ms"
        )
    print(f"daphne CPU time per request: {cpu / len(everything) * 1000:.1f} ms (PostgreSQL's not counted)")
    print(f"1-minute load average of the machine before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f}")


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


if __name__ == "__main__":
    main()
