"""Faults against a whole deployment, with production timings: what survives, and how fast it recovers.

    python -m bench.faults [--scenarios pool_kill,worker_kill,postgres_down,redis_down,rabbitmq_down,makespan]
                           [--outage 60]

Each scenario starts its own PostgreSQL and Redis (and RabbitMQ) (bench.stack; never the
shared servers), migrates, creates a tuning job of the converging program,
starts Celery workers and beat with the default settings (heartbeat 2 s,
timeout 8 s, reaper every 2 s, reconcile every 10 s, redispatch after 20 s),
injects one fault and waits for the end state:

- pool_kill: the pool process running a job is killed (kill -9); detection =
  kill -> the job ended as an InternalServerError and put back for its retry.
- worker_kill: the whole training worker is killed (its process group); a second
  worker waits; detection = kill -> the job retried.
- postgres_down: PostgreSQL stopped for `--outage` seconds under two running jobs.
- redis_down: Redis (broker and channel layer) killed for `--outage` seconds under two
  running and two queued jobs, back empty; recovery = Redis back -> the two queued
  jobs' run tasks (lost with it) sent again.
- rabbitmq_down: the same with RabbitMQ as the broker (Redis stays, for the channel
  layer), killed (kill -9) and started again on its own data directory.
- makespan: no fault; 300 one-second jobs on 2 slots; the tuning job's span against
  the ideal (the jobs' own run time / 2): the scheduling overhead.

For each: jobs Completed / all, samples stored / printed (lost = printed - stored;
duplicates are impossible by the unique constraint, counted anyway), retries, and
the scenario's time. Timings are wall clock on this machine: note its load.
"""

import argparse
import json
import os
import signal
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.stack import (
    CONVERGING_PROGRAM,
    OwnPostgres,
    OwnRabbitMQ,
    OwnRedis,
    Processes,
    create_tuning_job,
    manage,
    write_program,
)


class Deployment:
    """Own PostgreSQL and Redis, workers and beat with default timings, a tuning job "outage"."""

    def __init__(
        self,
        directory: Path,
        *,
        jobs: int,
        epochs: int,
        epoch_seconds: float,
        retries: int,
        parallel: int | None = None,
        rabbitmq: bool = False,
    ):
        self.postgres, self.redis = OwnPostgres(), OwnRedis()
        self.postgres.start()
        self.redis.start()
        self.rabbitmq = OwnRabbitMQ() if rabbitmq else None
        if self.rabbitmq:
            self.rabbitmq.start()
        (directory / "logs").mkdir(parents=True)
        env = {
            "DATABASE_URL": self.postgres.url,
            "REDIS_URL": self.redis.url,
            "CELERY_BROKER_URL": self.rabbitmq.url if self.rabbitmq else self.redis.url,
            "TUNEBOARD_JOBS_DIR": str(directory / "jobs"),
            "TUNEBOARD_VAR_DIR": str(directory / "var"),
        }
        self.processes = Processes(env, directory / "logs")
        self.epochs = epochs
        manage(self.processes.env, "migrate", "--noinput")
        program = write_program(directory / "programs", "converging.py", CONVERGING_PROGRAM)
        create_tuning_job(
            self.processes.env,
            program=program,
            epochs=epochs,
            jobs=jobs,
            epoch_seconds=epoch_seconds,
            retries=retries,
            parallel=parallel,
        )
        self.directory = directory

    def start(self, training_workers: tuple[tuple[str, int], ...] = (("training", 2),)) -> None:
        self.processes.start_worker("control", 1)
        for name, slots in training_workers:
            self.processes.start_worker("training", slots, name=name)
        self.processes.start_beat(self.directory)

    def query(self, sql: str, *params):
        return self.postgres.query(sql, *params)

    def wait(self, predicate, what: str, timeout: float = 600.0) -> float:
        """Seconds until `predicate()` holds; polls every 0.1 s, riding out the database being away."""
        started = time.monotonic()
        while True:
            try:
                if predicate():
                    return time.monotonic() - started
            except Exception:  # noqa: BLE001 - the database may be the fault under test
                pass
            if time.monotonic() - started > timeout:
                raise RuntimeError(f"gave up after {timeout} s waiting for {what}\n{self.processes.logs()}")
            time.sleep(0.1)

    def running(self, count: int, epochs: int = 2) -> list[tuple[int, str]]:
        """Wait until `count` jobs are `epochs` in; their (id, worker)."""
        sql = "SELECT id, worker FROM jobs_trainingjob WHERE epochs_run >= %s AND status = 'InProgress' ORDER BY id"
        self.wait(lambda: len(self.query(sql, epochs)) >= count, f"{count} jobs running")
        return self.query(sql, epochs)[:count]

    def retried_and_completed(self, job_id: int) -> dict:
        """Wait for the lost job's retry (the seconds until then: detection), then for the end."""
        retried = "SELECT retry_count FROM jobs_trainingjob WHERE id = %s"
        detected = self.wait(lambda: self.query(retried, job_id) == [(1,)], "the job retried")
        self.wait(self.completed, "the tuning job to end")
        return {**self.outcome(), "detected_s": round(detected, 2)}

    def completed(self) -> bool:
        return self.query("SELECT status FROM jobs_tuningjob") in ([("Completed",)], [("Failed",)])

    def outcome(self) -> dict:
        jobs = self.query("SELECT status, retry_count FROM jobs_trainingjob")
        stored, distinct = self.query(
            "SELECT count(*), count(DISTINCT (training_job_id, metric_name, epoch)) FROM jobs_metricsample"
        )[0]
        return {
            "completed": sum(status == "Completed" for status, _ in jobs),
            "jobs": len(jobs),
            "samples_lost": len(jobs) * self.epochs - distinct,
            "duplicates": stored - distinct,
            "retries": sum(retries for _, retries in jobs),
        }

    def close(self) -> None:
        self.processes.stop_all()
        self.postgres.close()
        self.redis.close()
        if self.rabbitmq:
            self.rabbitmq.close()


def pool_kill(directory: Path, outage: float) -> dict:
    deployment = Deployment(directory, jobs=1, epochs=40, epoch_seconds=0.25, retries=1)
    try:
        deployment.start((("training", 1),))
        [(job_id, worker)] = deployment.running(1)
        os.kill(int(worker.rsplit(":", 1)[1]), signal.SIGKILL)
        return deployment.retried_and_completed(job_id)
    finally:
        deployment.close()


def worker_kill(directory: Path, outage: float) -> dict:
    deployment = Deployment(directory, jobs=1, epochs=40, epoch_seconds=0.25, retries=1)
    try:
        deployment.start((("doomed", 1),))
        [(job_id, _)] = deployment.running(1)
        deployment.processes.start_worker("training", 1, name="survivor")
        time.sleep(2)  # the survivor ready, as a standby worker would be
        deployment.processes.kill("doomed")
        return deployment.retried_and_completed(job_id)
    finally:
        deployment.close()


def _outage(deployment: Deployment, down, up, outage: float) -> datetime:
    """Two jobs five epochs in, then `down()`, `outage` seconds, `up()`; when it was back."""
    deployment.start()
    deployment.running(2, epochs=5)
    down()
    time.sleep(outage)
    up()
    return datetime.now(UTC)


def postgres_down(directory: Path, outage: float) -> dict:
    # Long enough that both jobs run through the whole outage.
    deployment = Deployment(directory, jobs=2, epochs=int(outage * 2 + 60), epoch_seconds=0.5, retries=0)
    try:
        _outage(deployment, deployment.postgres.stop, deployment.postgres.start, outage)
        took = deployment.wait(deployment.completed, "the tuning job to end")
        return {**deployment.outcome(), "ended_after_restart_s": round(took, 1)}
    finally:
        deployment.close()


def redis_down(directory: Path, outage: float) -> dict:
    deployment = Deployment(directory, jobs=4, epochs=int(outage * 2 + 40), epoch_seconds=0.5, retries=0)
    try:
        back = _outage(deployment, deployment.redis.kill, deployment.redis.start, outage)
        # The two queued jobs' messages went with Redis: sent again, they wait for a free slot.
        resent = "SELECT count(*) FROM jobs_trainingjob WHERE started_at IS NULL AND dispatched_at > %s"
        recovered = deployment.wait(lambda: deployment.query(resent, back) == [(2,)], "the lost run tasks sent again")
        deployment.wait(deployment.completed, "the tuning job to end")
        return {**deployment.outcome(), "lost_dispatch_recovered_s": round(recovered, 1)}
    finally:
        deployment.close()


def rabbitmq_down(directory: Path, outage: float) -> dict:
    deployment = Deployment(directory, jobs=4, epochs=int(outage * 2 + 40), epoch_seconds=0.5, retries=0, rabbitmq=True)
    try:
        back = _outage(deployment, deployment.rabbitmq.kill, deployment.rabbitmq.start, outage)
        took = deployment.wait(deployment.completed, "the tuning job to end")
        # Persistent messages in durable queues that reached the node's disk come back with it;
        # the reconcile sends again whatever did not.
        [(resent,)] = deployment.query("SELECT count(*) FROM jobs_trainingjob WHERE dispatched_at > %s", back)
        return {**deployment.outcome(), "run_tasks_sent_again": resent, "ended_after_restart_s": round(took, 1)}
    finally:
        deployment.close()


MAKESPAN_JOBS = 300


def makespan(directory: Path, outage: float) -> dict:
    """No fault: 300 one-second training jobs on 2 slots; the tuning job's span against the ideal
    (jobs x the program's own run time / slots, the run time measured on the jobs themselves)."""
    deployment = Deployment(directory, jobs=MAKESPAN_JOBS, epochs=1, epoch_seconds=1.0, retries=0, parallel=2)
    try:
        deployment.start()
        deployment.wait(deployment.completed, "the tuning job to end", timeout=1800)
        [(span, busy)] = deployment.query(
            "SELECT extract(epoch FROM max(t.ended_at) - min(t.created_at)), "
            "sum(extract(epoch FROM t.ended_at - t.started_at)) FROM jobs_trainingjob t"
        )
        ideal = float(busy) / 2
        return {
            **deployment.outcome(),
            "makespan_s": round(float(span), 1),
            "ideal_s": round(ideal, 1),
            "ratio": round(float(span) / ideal, 3),
        }
    finally:
        deployment.close()


SCENARIOS = {
    "pool_kill": pool_kill,
    "worker_kill": worker_kill,
    "postgres_down": postgres_down,
    "redis_down": redis_down,
    "rabbitmq_down": rabbitmq_down,
    "makespan": makespan,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--outage", type=float, default=60.0, help="seconds the database or broker is away")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    chosen = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    results = {}
    for name in chosen:
        with tempfile.TemporaryDirectory(prefix=f"tuneboard-faults-{name}-") as directory:
            started = time.monotonic()
            results[name] = SCENARIOS[name](Path(directory), args.outage)
            results[name]["wall_s"] = round(time.monotonic() - started, 1)
        print(name, json.dumps(results[name]), flush=True)
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
