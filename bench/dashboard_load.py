"""How fast the tuning job page of a very large tuning job loads in headless Chromium.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tuneboard_bench REDIS_URL=redis://127.0.0.1:6379/13 \\
        python -m bench.dashboard_load [--jobs 10000] [--epochs 50] [--loads 5]

Fills a scratch database (migrated first) with one finished tuning job of
`--jobs` training jobs of `--epochs` epochs each: generated learning curves
of the objective metric and of a second metric, a fifth of the jobs stopped
early, bulk-inserted (kept between runs of the same size). Then it starts
daphne on a free port, logs a staff user in with Chromium (/usr/bin/chromium,
headless, software GL) and opens the tuning job page `--loads` times, each in
a fresh tab, timing from navigation start (`--cold`: in a fresh browser
context each time, holding only the session cookie, so plotly.js is
downloaded and compiled anew as on a first visit; otherwise it comes from
the browser's cache, as for a returning user):

- table: the first page of the training-jobs table is in the DOM and the
  page answers a script (Playwright's check runs on the page's main thread);
- curves: the learning-curve chart is drawn with a curve for every training
  job (static/js/charts/common.js marks `learning-curves-drawn` when Plotly's draw resolves);
- plotly, curves.json in: what the curves' first draw waits for (page marks):
  plotly.js has run, and the curves' first load (with statuses) is in;
- charts: the two per-job charts on screen are drawn with every job;
- sort: after that, the time to re-sort the table by objective (a round
  trip to the server and a redraw of the rows), i.e. that it is usable;
- parcoords: the parallel-coordinates chart, drawn when scrolled to, from
  the scroll to its draw.

Also prints how many bytes the websocket and summary.json carried.
"""

import argparse
import contextlib
import math
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
USERNAME = "bench"
PASSWORD = "bench-password-not-secret"
OBJECTIVE = "validation:accuracy"
SECOND_METRIC = "train:loss"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def setup_django() -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tuning_site.settings")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs an event loop in this thread
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def bench_user():
    """A staff user (staff see every tuning job), password reset on every run."""
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username=USERNAME, defaults={"is_staff": True})
    user.is_staff = True
    user.set_password(PASSWORD)
    user.save()
    return user


def bench_algorithm(name: str, command: list[str]):
    from jobs import services
    from jobs.models import Algorithm

    Algorithm.objects.filter(name=name).delete()
    return services.algorithm_register(
        name=name,
        command=command,
        metric_definitions=[
            {"Name": OBJECTIVE, "Regex": rf"{OBJECTIVE}=(\S+)"},
            {"Name": SECOND_METRIC, "Regex": rf"{SECOND_METRIC}=(\S+)"},
        ],
    )


def curve(rng: random.Random, epochs: int) -> tuple[list[float], list[float]]:
    """Accuracy rising to a ceiling at its own pace, with noise; the loss falling alongside."""
    ceiling = rng.uniform(0.55, 0.97)
    pace = rng.uniform(3, 20)
    accuracy = [
        min(1.0, ceiling * (1 - math.exp(-epoch / pace)) + rng.gauss(0, 0.005)) for epoch in range(1, epochs + 1)
    ]
    return accuracy, [max(0.0, 1.2 - a + rng.gauss(0, 0.01)) for a in accuracy]


def generate(name: str, jobs: int, epochs: int) -> None:
    """One finished tuning job of `jobs` x `epochs`; skipped if the database already holds it."""
    from django.db import transaction

    from jobs.models import (
        MetricSample,
        ObjectiveStatus,
        StopReason,
        TrainingJob,
        TrainingJobStatus,
        TuningJob,
        TuningJobStatus,
    )

    existing = TuningJob.objects.filter(name=name).first()
    if existing and MetricSample.objects.filter(tuning_job=existing).count() >= 2 * jobs * epochs * 0.6:
        return
    TuningJob.objects.filter(name=name).delete()
    algorithm = bench_algorithm("dashboard-bench", [sys.executable, "-c", "pass"])
    rng = random.Random(20261128)
    start = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    started = time.perf_counter()
    with transaction.atomic():
        tuning_job = TuningJob.objects.create(
            name=name,
            algorithm=algorithm,
            objective_metric_name=OBJECTIVE,
            objective_type="Maximize",
            parameter_ranges=[
                {
                    "name": "learning_rate",
                    "type": "Continuous",
                    "min_value": 1e-4,
                    "max_value": 0.5,
                    "scaling_type": "Logarithmic",
                },
                {"name": "batch_size", "type": "Integer", "min_value": 16, "max_value": 512, "scaling_type": "Auto"},
                {"name": "optimizer", "type": "Categorical", "values": ["sgd", "adam", "rmsprop"]},
            ],  # fmt: skip
            max_training_jobs=jobs,
            max_parallel_training_jobs=8,
            early_stopping_type="Auto",
            random_seed=1,
            status=TuningJobStatus.COMPLETED,
            ended_at=start + timedelta(seconds=jobs * 5),
        )
        training_jobs = []
        curves = []
        for sequence in range(1, jobs + 1):
            stopped = rng.random() < 0.2
            ran = rng.randint(3, epochs // 2) if stopped else epochs
            accuracy, loss = curve(rng, ran)
            curves.append((accuracy, loss))
            tuned = {
                "learning_rate": f"{10 ** rng.uniform(-4, math.log10(0.5)):.6g}",
                "batch_size": str(rng.randint(16, 512)),
                "optimizer": rng.choice(["sgd", "adam", "rmsprop"]),
            }
            began = start + timedelta(seconds=sequence * 5 / 8)
            training_jobs.append(
                TrainingJob(
                    name=f"{name}-{sequence:05d}",
                    tuning_job=tuning_job,
                    sequence=sequence,
                    hyperparameters=tuned,
                    tuned_hyperparameters=tuned,
                    status=TrainingJobStatus.STOPPED if stopped else TrainingJobStatus.COMPLETED,
                    stop_reason=StopReason.EARLY_STOPPING if stopped else "",
                    final_objective_value=accuracy[-1],
                    objective_status=ObjectiveStatus.SUCCEEDED,
                    epochs_run=ran,
                    started_at=began,
                    ended_at=began + timedelta(seconds=ran),
                )
            )
        TrainingJob.objects.bulk_create(training_jobs, batch_size=2000)
        best = max(training_jobs, key=lambda job: job.final_objective_value)
        TuningJob.objects.filter(pk=tuning_job.pk).update(best_training_job=best)
        samples = []
        for job, (accuracy, loss) in zip(training_jobs, curves, strict=True):
            for epoch, (a, b) in enumerate(zip(accuracy, loss, strict=True), start=1):
                at = job.started_at + timedelta(seconds=epoch)
                samples.append(MetricSample(tuning_job=tuning_job, training_job=job, metric_name=OBJECTIVE,
                                            epoch=epoch, value=a, timestamp=at))  # fmt: skip
                samples.append(MetricSample(tuning_job=tuning_job, training_job=job, metric_name=SECOND_METRIC,
                                            epoch=epoch, value=b, timestamp=at))  # fmt: skip
            if len(samples) >= 50_000:
                MetricSample.objects.bulk_create(samples, batch_size=10_000)
                samples = []
        MetricSample.objects.bulk_create(samples, batch_size=10_000)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE jobs_trainingjob, jobs_metricsample")
    print(f"generated {jobs} training jobs x {epochs} epochs in {time.perf_counter() - started:.0f} s", flush=True)


@contextlib.contextmanager
def live_site(log_path: Path | None = None):
    """daphne serving the whole site on a free port, static files collected as a deployment does."""
    with tempfile.TemporaryDirectory() as static_root, open(log_path or os.devnull, "ab") as log:
        env = {
            **os.environ,
            "STATIC_ROOT": static_root,
            "SECURE_SSL_REDIRECT": "0",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
            "SECURE_HSTS_SECONDS": "0",
            "DEBUG": "0",
        }
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
        )
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "tuning_site.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("daphne did not start") from None
                    time.sleep(0.1)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(10)


@contextlib.contextmanager
def logged_in_browser(base_url: str):
    """A Chromium context holding the bench user's session."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.goto(f"{base_url}/accounts/login/")
        page.fill("#id_username", USERNAME)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base_url}/")
        page.close()
        try:
            yield context
        finally:
            browser.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


MARK = """([name, jobs]) => {
    const entry = performance.getEntriesByName(name).find((mark) => mark.detail >= jobs);
    return entry ? entry.startTime : null;
}"""


def wait_for_mark(page, name: str, jobs: int) -> float:
    """When (ms after navigation start) the chart named by `name` was first drawn with every job."""
    page.wait_for_function(f"(args) => ({MARK})(args) !== null", arg=[name, jobs], polling=20)
    return page.evaluate(MARK, [name, jobs])


def load_once(context, url: str, jobs: int) -> dict:
    page = context.new_page()
    page.set_default_timeout(180_000)
    received = {"socket": 0, "summary.json": 0, "curves.json": 0}
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def on_frame(payload):
        received["socket"] += len(payload)

    def on_response(response):
        for key in ("summary.json", "curves.json"):
            if key in response.url:
                received[key] += int(response.headers.get("content-length") or 0)

    page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
    page.on("response", on_response)
    started = time.perf_counter()
    page.goto(url, wait_until="commit")
    page.wait_for_selector('[data-testid="training-jobs-table"] tbody tr[data-name]')
    timings = {"table": (time.perf_counter() - started) * 1000}
    timings["curves"] = wait_for_mark(page, "learning-curves-drawn", jobs)
    # What the first draw waited for: whichever came last of the two.
    for key, mark in (("plotly", "plotly-ready"), ("curves.json in", "curves-json-in")):
        timings[key] = page.evaluate("(name) => performance.getEntriesByName(name)[0]?.startTime ?? NaN", mark)
    timings["curves.json received"] = page.evaluate(
        "performance.getEntriesByType('resource').find((entry) => entry.name.includes('curves.json'))?.responseEnd"
    )
    timings["charts"] = max(
        wait_for_mark(page, "objective-by-job-drawn", jobs),
        wait_for_mark(page, "objective-vs-hyperparameter-drawn", jobs),
    )
    first_row = page.locator('[data-testid="training-jobs-table"] tbody tr').first
    before = first_row.get_attribute("data-name")
    sort_started = time.perf_counter()
    page.locator('th[data-sort="objective"] a').click()
    page.wait_for_function(
        "(before) => document.querySelector('[data-testid=\"training-jobs-table\"] tbody tr')?.dataset.name !== before",
        arg=before,
        polling=20,
    )
    timings["sort"] = (time.perf_counter() - sort_started) * 1000
    scrolled = time.perf_counter()
    page.get_by_test_id("parallel-coordinates").scroll_into_view_if_needed()
    page.wait_for_function(
        "(jobs) => document.getElementById('parallel-coordinates').dataset.drawnJobs >= jobs", arg=jobs, polling=20
    )
    timings["parcoords"] = (time.perf_counter() - scrolled) * 1000
    note = page.get_by_test_id("curves-thinned")
    thinned = note.inner_text() if note.is_visible() else ""
    page.close()
    return {**timings, **received, "errors": errors, "thinned": thinned}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--cold", action="store_true", help="every load in a fresh browser context: nothing cached")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a scratch PostgreSQL database (see the docstring).")
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    setup_django()
    bench_user()
    name = f"load-{args.jobs}x{args.epochs}"
    generate(name, args.jobs, args.epochs)
    results = []
    with live_site() as base_url, logged_in_browser(base_url) as context:
        url = f"{base_url}/tuning-jobs/{name}/"
        load_once(context, url, args.jobs)  # warms the server's imports and the database's cache
        session = context.storage_state()
        for index in range(args.loads):
            if args.cold:
                fresh = context.browser.new_context(viewport={"width": 1400, "height": 1000}, storage_state=session)
                result = load_once(fresh, url, args.jobs)
                fresh.close()
            else:
                result = load_once(context, url, args.jobs)
            results.append(result)
            print(
                f"load {index + 1}: table {result['table']:.0f} ms, curves {result['curves']:.0f} ms "
                f"(plotly.js ready {result['plotly']:.0f} ms, "
                f"curves.json received {result['curves.json received']:.0f} ms, "
                f"read by the page {result['curves.json in']:.0f} ms), "
                f"visible job charts {result['charts']:.0f} ms, sort {result['sort']:.0f} ms, "
                f"parallel coordinates after scrolling {result['parcoords']:.0f} ms; "
                f"socket {result['socket'] / 1e6:.2f} MB, curves.json {result['curves.json'] / 1e6:.2f} MB, "
                f"summary.json {result['summary.json'] / 1e6:.2f} MB (gzip)"
                + (f"; page errors: {result['errors']}" if result["errors"] else ""),
                flush=True,
            )
    print(
        f"{args.jobs} training jobs x {args.epochs} epochs, {'cold' if args.cold else 'warm'} loads; "
        f"{results[-1]['thinned'] or 'curves not thinned'}"
    )
    for key in ("table", "plotly", "curves.json received", "curves.json in", "curves", "charts", "sort", "parcoords"):
        values = [result[key] for result in results]
        print(f"{key}: median {statistics.median(values):.0f} ms, max {max(values):.0f} ms")


if __name__ == "__main__":
    main()
