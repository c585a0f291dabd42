"""How long one early-stopping decision takes in the live engine, database reads included.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tuneboard_bench \\
        python -m bench.stopping_latency [--previous 1000] [--epochs 100] [--repeats 3]

Sets up a scratch database (migrated, then filled with one tuning job with early
stopping Auto whose `--previous` earlier training jobs have Completed with
`--epochs` epochs of the objective each, bulk-inserted) and one running training
job after them. That job then reports its objective epoch by epoch through
`services.training_job_record_metrics`, the path of the trainer API and of local
jobs; its values stay the best, so it is never stopped and every epoch is decided.

For each rule (Auto's, and every rule TUNEBOARD_EARLY_STOPPING_RULE may name) it prints the
time of the decision alone (`jobs.services.metrics._auto_decision`: the reads the rule needs and
the rule) and of the whole ingest call for one sample, p50 / p95 / max over all
epochs and `--repeats` passes. The machine's load is printed beside them.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime

from bench.scratch import external_auto_tuning_job


def final_value(sequence: int, previous: int, epoch: int) -> float:
    """Earlier jobs' curves: rising, each to its own level below the running job's."""
    return 0.5 * (sequence / previous) * (1 - 0.9**epoch)


def setup(previous: int, epochs: int):
    tuning_job = external_auto_tuning_job("stopping-latency", previous + 1, min(previous + 1, 100))
    from jobs import services
    from jobs.models import MetricSample, TrainingJob, TrainingJobStatus

    now = datetime.now(UTC)
    created = []
    # A bench of the decision, not of the runs: the earlier jobs' end state is written
    # directly, a hundred (the most that may run at once) at a time.
    while len(created) < previous + 1:
        batch = sorted(services.tuning_job_advance(tuning_job_id=tuning_job.id), key=lambda job: job.sequence)
        if not batch:
            raise RuntimeError("the tuning job stopped creating training jobs")
        created += batch
        ended = [job for job in batch if job.sequence <= previous]
        MetricSample.objects.bulk_create(
            [
                MetricSample(
                    tuning_job=tuning_job,
                    training_job=job,
                    metric_name="validation:accuracy",
                    epoch=epoch,
                    value=final_value(job.sequence, previous, epoch),
                    timestamp=now,
                )
                for job in ended
                for epoch in range(1, epochs + 1)
            ],
            batch_size=5000,
        )
        for job in ended:
            TrainingJob.objects.filter(pk=job.pk).update(
                status=TrainingJobStatus.COMPLETED,
                epochs_run=epochs,
                final_objective_value=final_value(job.sequence, previous, epochs),
                started_at=now,
                ended_at=now,
            )
    current = max(created, key=lambda job: job.sequence)
    services.training_job_start(training_job_id=current.id, worker="bench@localhost:1", log_path="")
    return tuning_job, current


def measure(tuning_job, current, rule, epochs: int, repeats: int) -> tuple[list[float], list[float]]:
    from jobs import services
    from jobs.backends.metrics import MetricRecord
    from jobs.models import MetricSample, TrainingJob
    from jobs.services import metrics
    from jobs.tuning.strategies.base import Direction

    decisions, ingests = [], []
    for _ in range(repeats):
        MetricSample.objects.filter(training_job=current).delete()
        own = []
        for epoch in range(1, epochs + 1):
            own.append(0.9 + 0.05 * (1 - 0.9**epoch))
            record = MetricRecord("validation:accuracy", epoch, own[-1], datetime.now(UTC))
            started = time.perf_counter()
            services.training_job_record_metrics(training_job_id=current.id, records=[record])
            ingests.append(time.perf_counter() - started)
            job = TrainingJob.objects.get(pk=current.pk)
            started = time.perf_counter()
            stop = metrics._auto_decision(job, tuning_job, own, epoch, Direction.MAXIMIZE, rule)
            decisions.append(time.perf_counter() - started)
            if stop:
                raise RuntimeError("the running job was stopped; the benchmark expects it to lead")
    return decisions, ingests


def summary(seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"{statistics.median(ms):.2f} / {p95:.2f} / {ms[-1]:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--previous", type=int, default=1000, help="earlier completed training jobs")
    parser.add_argument("--epochs", type=int, default=100, help="epochs of each")
    parser.add_argument("--repeats", type=int, default=3, help="passes over the running job's epochs")
    args = parser.parse_args(argv)
    if min(args.previous, args.epochs, args.repeats) < 1:
        parser.error("--previous, --epochs and --repeats must be at least 1")

    started = time.perf_counter()
    tuning_job, current = setup(args.previous, args.epochs)
    print(f"set up {args.previous} jobs x {args.epochs} epochs in {time.perf_counter() - started:.0f} s")

    from django.test import override_settings

    from jobs import services
    from jobs.tuning.early_stopping import RULES

    print(f"load before: {os.getloadavg()[0]:.1f}")
    print("| rule | decision p50 / p95 / max ms | ingest of one sample p50 / p95 / max ms |")
    print("|---|---|---|")
    for name in ("auto", *RULES):
        with override_settings(TUNEBOARD_EARLY_STOPPING_RULE=name):
            rule = services.auto_rule()
            decisions, ingests = measure(tuning_job, current, rule, args.epochs, args.repeats)
        print(f"| {name} | {summary(decisions)} | {summary(ingests)} |", flush=True)
    print(f"load after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
