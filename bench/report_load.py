"""How fast a very large tuning job's review report and exports come, in headless Chromium.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tuneboard_bench REDIS_URL=redis://127.0.0.1:6379/13 \\
        python -m bench.report_load [--jobs 10000] [--epochs 50] [--loads 5]

The same generated tuning job as bench.dashboard_load (made there if missing,
kept between runs). With daphne serving the site and a staff user logged in:

- report: the report page over HTTP (server time and bytes), then opened
  `--loads` times in the browser, timed from navigation start until its
  three charts are drawn and painted;
- CSV, JSON: the whole analytics table's exports over HTTP.
"""

import argparse
import os
import statistics
import sys
import time

from bench.dashboard_load import CHROMIUM, bench_user, generate, live_site, logged_in_browser, setup_django

CHARTS_DRAWN = """() => ['chart-best-so-far', 'chart-by-job', 'chart-curves'].every(
    (id) => document.getElementById(id)?._fullLayout)"""
PAINTED = "() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))"


def fetch(page, url: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = page.request.get(url)
    body = response.body()
    if response.status != 200:
        raise RuntimeError(f"{url}: HTTP {response.status}")
    return (time.perf_counter() - started) * 1000, len(body)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a scratch PostgreSQL database (see the docstring).")
    if not os.path.exists(CHROMIUM):
        sys.exit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    setup_django()
    bench_user()
    name = f"load-{args.jobs}x{args.epochs}"
    generate(name, args.jobs, args.epochs)
    with live_site() as base_url, logged_in_browser(base_url) as context:
        page = context.new_page()
        page.set_default_timeout(180_000)
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        report = f"{base_url}/analytics/tuning-jobs/{name}/report/"
        fetch(page, report)  # warms the server's imports and the database's cache
        http = {
            what: [fetch(page, url) for _ in range(args.loads)]
            for what, url in (
                ("report", report),
                ("CSV", f"{base_url}/analytics/tuning-jobs/{name}/analytics.csv"),
                ("JSON", f"{base_url}/analytics/tuning-jobs/{name}/analytics.json"),
            )
        }
        drawn = []
        for _ in range(args.loads):
            started = time.perf_counter()
            page.goto(report, wait_until="commit")
            page.wait_for_function(CHARTS_DRAWN, polling=20)
            page.evaluate(PAINTED)
            drawn.append((time.perf_counter() - started) * 1000)
    print(f"{args.jobs} training jobs x {args.epochs} epochs, {args.loads} loads each; medians (max)")
    for what, results in http.items():
        times = [ms for ms, _ in results]
        print(f"{what} over HTTP: {statistics.median(times):.0f} ms ({max(times):.0f}), {results[0][1] / 1e6:.2f} MB")
    print(f"report charts drawn in the browser: {statistics.median(drawn):.0f} ms ({max(drawn):.0f})")
    if errors:
        print(f"page errors: {errors}")


if __name__ == "__main__":
    main()
