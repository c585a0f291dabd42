"""End-to-end latency of a metric line: printed by a training program, received by the browser.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tuneboard_bench REDIS_URL=redis://127.0.0.1:6379/13 \\
        python -m bench.metric_latency [--jobs 4] [--parallel 2] [--epochs 100] [--interval 0.2]

Runs the whole stack as deployed: daphne, a Celery worker on the control
queue and one on the training queue (`--parallel` slots), PostgreSQL and
Redis (broker and channel layer). A real training program, run by the local
backend, prints `epoch=N validation:accuracy=V printed_at=T` every
`--interval` seconds, T being its wall clock just before the print. Headless
Chromium (/usr/bin/chromium) has the tuning job page open; a script
installed before the page's own wraps WebSocket and records the wall clock
(performance.timeOrigin + performance.now()) at which each point's message
arrives, before the page handles it. Latency = arrival - T, per point, for
the points printed after the page's socket was live (catch-up on connect is
not a live delivery) and had loaded (its charts created: while plotly.js
compiles, the page's thread cannot take messages). Same machine, same clock.

The path measured: program -> pipe -> the backend's reader thread -> parse
-> one INSERT per batch + the early-stopping check -> publish after commit
-> Redis -> consumer (coalescing window, jobs.consumers.COALESCE_SECONDS) ->
read the new samples -> websocket -> browser. Also printed: the part up to
the reader thread (MetricSample.timestamp is when the line was read).
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.dashboard_load import (
    CHROMIUM,
    OBJECTIVE,
    ROOT,
    bench_algorithm,
    bench_user,
    live_site,
    logged_in_browser,
    percentile,
    setup_django,
)

PROGRAM = """
import argparse, math, sys, time
parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int)
parser.add_argument("--interval", type=float)
parser.add_argument("--learning_rate", type=float)
args, _ = parser.parse_known_args()
for epoch in range(1, args.epochs + 1):
    time.sleep(args.interval)
    value = (1 - abs(args.learning_rate - 0.1)) * (1 - math.exp(-epoch / 10))
    print(f"epoch={epoch} validation:accuracy={value:.6f} printed_at={time.time():.6f}", flush=True)
"""

RECORDER = """
(() => {
  const Native = window.WebSocket;
  window.__arrivals = [];
  window.__liveAt = null;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      // Registered before the page's own listeners, so it sees each message first.
      this.addEventListener("message", (event) => {
        const at = (performance.timeOrigin + performance.now()) / 1000;
        let message;
        try { message = JSON.parse(event.data); } catch { return; }
        if (message.type === "counters" && window.__liveAt === null) window.__liveAt = at;
        if (message.type !== "metrics") return;
        for (const [job, metrics] of Object.entries(message.jobs))
          for (const [epoch] of metrics[METRIC] || []) window.__arrivals.push([job, epoch, at]);
      });
    }
  };
})();
"""


def start_worker(env: dict, queue: str, concurrency: int, log_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "tuning_site", "worker", "-Q", queue, "-c", str(concurrency),
         "-n", f"{queue}-latency@%h", "-l", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT,
        env=env,
        stdout=open(log_dir / f"{queue}.log", "ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def printed_times(jobs_dir: Path, tuning_job_name: str) -> dict[tuple[str, int], float]:
    """(training job, epoch) -> the program's wall clock when it printed the line, from the logs."""
    printed = {}
    for log in (jobs_dir / tuning_job_name).glob("*/training.log"):
        for line in log.read_text().splitlines():
            fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
            if "printed_at" in fields:
                printed[(log.parent.name, int(fields["epoch"]))] = float(fields["printed_at"])
    return printed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--parallel", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.2)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres") or not os.environ.get("REDIS_URL"):
        sys.exit("Set DATABASE_URL to a scratch PostgreSQL database and REDIS_URL (see the docstring).")
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        jobs_dir = scratch / "jobs"
        os.environ["TUNEBOARD_JOBS_DIR"] = str(jobs_dir)
        os.environ.setdefault("CELERY_BROKER_URL", os.environ["REDIS_URL"])
        setup_django()
        run(args, scratch, jobs_dir)


def run(args, scratch: Path, jobs_dir: Path) -> None:
    from jobs import services
    from jobs.config import TuningJobConfig
    from jobs.models import MetricSample, TuningJob

    bench_user()
    name = "latency-bench"
    TuningJob.objects.filter(name=name).delete()
    program = scratch / "train.py"
    program.write_text(PROGRAM)
    bench_algorithm("latency-bench", [sys.executable, str(program)])
    env = {**os.environ, "TUNEBOARD_HEARTBEAT_INTERVAL": "0.5", "TUNEBOARD_STOP_POLL_INTERVAL": "0.2"}
    workers = [
        start_worker(env, "control", 1, scratch),
        start_worker(env, "training", args.parallel, scratch),
    ]
    try:
        with live_site() as base_url:
            # Before the browser starts: Playwright's sync API runs an event loop in
            # this thread, where the service could not publish its events.
            tuning_job = services.tuning_job_create(
                config=TuningJobConfig(
                    name=name,
                    algorithm_name="latency-bench",
                    objective_metric_name=OBJECTIVE,
                    objective_type="Maximize",
                    parameter_ranges=[
                        {"name": "learning_rate", "type": "Continuous", "min_value": 0.01, "max_value": 0.5}
                    ],
                    static_hyperparameters={"epochs": str(args.epochs), "interval": str(args.interval)},
                    max_training_jobs=args.jobs,
                    max_parallel_training_jobs=args.parallel,
                    strategy="Random",
                    random_seed=3,
                )
            )
            with logged_in_browser(base_url) as context:
                page = context.new_page()
                page.add_init_script(RECORDER.replace("METRIC", repr(OBJECTIVE)))
                page.goto(f"{base_url}/tuning-jobs/{name}/")
                # Counted from here: the page has loaded (socket live, charts created), so
                # what is measured is the live path, not a page still compiling plotly.js.
                page.wait_for_function(
                    "window.__liveAt !== null && document.getElementById('learning-curves').dataset.drawnJobs"
                )
                live_at = time.time() + 0.5
                deadline = time.monotonic() + args.jobs * args.epochs * args.interval * 3 + 120
                while TuningJob.objects.filter(pk=tuning_job.pk, status="InProgress").exists():
                    if time.monotonic() > deadline:
                        raise RuntimeError("the tuning job did not finish in time")
                    time.sleep(1)
                page.wait_for_timeout(2000)  # the last batch's way to the browser
                arrivals = page.evaluate("window.__arrivals")
                page.close()
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.wait(30)
    printed = printed_times(jobs_dir, name)
    read_at = {
        (job, epoch): timestamp.timestamp()
        for job, epoch, timestamp in MetricSample.objects.filter(
            tuning_job__name=name, metric_name=OBJECTIVE
        ).values_list("training_job__name", "epoch", "timestamp")
    }
    first_arrival = {}
    for job, epoch, at in arrivals:
        first_arrival.setdefault((job, epoch), at)
    latencies = []
    to_reader = []
    worst = []
    for key, at in first_arrival.items():
        if key in printed and printed[key] > live_at + 0.5:
            latencies.append((at - printed[key]) * 1000)
            worst.append((latencies[-1], *key))
            if key in read_at:
                to_reader.append((read_at[key] - printed[key]) * 1000)
    if not latencies:
        sys.exit("no point arrived live; see the worker logs")
    missing = len(printed) - len(first_arrival)
    print(
        f"{args.jobs} training jobs ({args.parallel} at a time) x {args.epochs} epochs, one every {args.interval} s: "
        f"{len(latencies)} points measured live, {missing} printed but never received"
    )
    print(
        f"print -> browser: p50 {statistics.median(latencies):.0f} ms, p95 {percentile(latencies, 0.95):.0f} ms, "
        f"p99 {percentile(latencies, 0.99):.0f} ms, max {max(latencies):.0f} ms"
    )
    print(
        f"print -> read by the backend: p50 {statistics.median(to_reader):.1f} ms, "
        f"p95 {percentile(to_reader, 0.95):.1f} ms"
    )
    worst.sort(reverse=True)
    print("slowest:", ", ".join(f"{job} epoch {epoch} {ms:.0f} ms" for ms, job, epoch in worst[:8]))
    over = sum(latency > 250 for latency in latencies)
    print(f"points over 250 ms: {over} ({100 * over / len(latencies):.1f}%)")


if __name__ == "__main__":
    main()
