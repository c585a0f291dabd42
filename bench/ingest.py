"""Metric ingest throughput through the trainer API, early-stopping evaluation included.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tuneboard_bench REDIS_URL=redis://127.0.0.1:6379/13 \\
        python -m bench.ingest [--jobs 20] [--epochs 1000] [--batch 250] [--servers 2]

Sets up a scratch database (migrated, then filled with one external tuning
job with early stopping Auto and `--jobs` claimed training jobs) and starts
`--servers` daphne processes that accept on one shared listening socket
(`daphne --fd`, as under systemd socket activation): a process runs Python
on one core at a time, so processes are how the server uses more than one.
One client thread per training job then POSTs batches of `--batch` epochs of
the objective metric with its per-job token, as examples/tuneboard_trainer.py
does. Every batch goes through the same service as local jobs: one INSERT,
then the Auto rule on the newest epoch against the earlier jobs' running
averages. The curves are alike, so no job is stopped and every batch is
evaluated. Prints samples per second, batch latencies, and the servers' CPU
time (a figure that a busy machine skews less than wall time).
Set BENCH_SERVER_LOG=1 to see the servers' errors.
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

import psutil

from bench.scratch import external_auto_tuning_job

ROOT = Path(__file__).resolve().parent.parent


def setup(jobs: int) -> list[str]:
    """A tuning job with `jobs` claimed external training jobs; returns their tokens."""
    tuning_job = external_auto_tuning_job("ingest-bench", jobs, jobs)
    from jobs import services

    services.tuning_job_advance(tuning_job_id=tuning_job.id)
    claims = [services.training_job_claim_external(tuning_job_id=tuning_job.id, claimant="bench") for _ in range(jobs)]
    return [(training_job.name, key) for training_job, key in claims]


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


def start_servers(count: int, env: dict[str, str]) -> tuple[socket.socket, list[subprocess.Popen]]:
    """`count` daphne processes accepting on one listening socket, which the kernel shares out between them."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(512)
    env = {**os.environ, "SECURE_SSL_REDIRECT": "0", "DEBUG": "0", **env}
    # Errors are logged to the terminal's stderr when given, else dropped.
    log = None if os.environ.get("BENCH_SERVER_LOG") else subprocess.DEVNULL
    servers = [
        subprocess.Popen(
            [sys.executable, "-m", "daphne", "--fd", str(listener.fileno()), "tuning_site.asgi:application"],
            cwd=ROOT,
            env=env,
            pass_fds=[listener.fileno()],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        for _ in range(count)
    ]
    return listener, servers


def stop_servers(listener: socket.socket, servers: list[subprocess.Popen]) -> None:
    for server in servers:
        server.terminate()
    for server in servers:
        server.wait(10)
    listener.close()


def server_cpu_seconds(servers: list[subprocess.Popen]) -> float:
    """CPU time the servers have used: on a busy machine, a figure that the other processes do not skew."""
    return sum(sum(psutil.Process(server.pid).cpu_times()[:2]) for server in servers)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--servers", type=int, default=2)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a scratch PostgreSQL database (see the docstring).")
    load_before = os.getloadavg()[0]
    trainers = setup(args.jobs)
    listener, servers = start_servers(args.servers, {"TUNEBOARD_INGEST_RATE": "10000000/min"})
    base = f"http://127.0.0.1:{listener.getsockname()[1]}/api/v1/trainer"
    try:
        # Warm every server up (imports, database connection) before the clock starts.
        deadline = time.monotonic() + 60
        for name, token in trainers * args.servers:
            while True:
                try:
                    request = urllib.request.Request(
                        f"{base}/{name}/", headers={"Authorization": f"TrainingJob {token}"}
                    )
                    urllib.request.urlopen(request, timeout=60).close()
                    break
                except OSError:
                    if time.monotonic() > deadline or any(server.poll() is not None for server in servers):
                        raise
                    time.sleep(0.2)
        latencies: list[float] = []
        lock = threading.Lock()
        cpu_before = server_cpu_seconds(servers)

        def trainer(name: str, token: str, index: int):
            for start in range(1, args.epochs + 1, args.batch):
                epochs = range(start, min(start + args.batch, args.epochs + 1))
                samples = [
                    {"metric": "validation:accuracy", "epoch": e, "value": 0.5 + 0.4 * e / args.epochs + index * 1e-6}
                    for e in epochs
                ]
                seconds = post(f"{base}/{name}/metrics/", token, {"samples": samples})
                with lock:
                    latencies.append(seconds)

        threads = [threading.Thread(target=trainer, args=(name, token, i)) for i, (name, token) in enumerate(trainers)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        cpu = server_cpu_seconds(servers) - cpu_before
    finally:
        stop_servers(listener, servers)
    total = args.jobs * args.epochs
    latencies.sort()
    print(
        f"{total} samples from {args.jobs} trainers in batches of {args.batch}, "
        f"{args.servers} daphne process(es): {elapsed:.2f} s"
    )
    print(f"throughput: {total / elapsed:,.0f} samples/s")
    print(
        f"batch latency: median {statistics.median(latencies) * 1000:.0f} ms, "
        f"p95 {latencies[int(0.95 * (len(latencies) - 1))] * 1000:.0f} ms"
    )
    print(f"daphne CPU time: {cpu:.2f} s, {total / cpu:,.0f} samples per CPU-second (PostgreSQL's not counted)")
    print(f"1-minute load average of the machine before/after: {load_before:.1f}/{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
