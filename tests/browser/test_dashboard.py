"""The dashboard in a real browser against a live stack: what a user sees and does.

Screenshots of every test land in test-artifacts/ for review.
"""

import re

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from jobs import services
from jobs.models import TeamMember, TeamRole, TrainingJobStatus, TuningJob, TuningJobStatus
from tests.jobs.factories import (
    CONVERGING_PROGRAM,
    SUPPORTED_HYPERPARAMETERS,
    register_algorithm,
    tuning_job_config,
    write_program,
)

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery staple"


@pytest.fixture
def alice(django_user_model):
    team = Group.objects.create(name="vision")
    user = django_user_model.objects.create_user("alice", password=PASSWORD)
    TeamMember.objects.create(team=team, user=user, role=TeamRole.OPERATOR)
    return user


@pytest.fixture
def algorithm(tmp_path):
    program = write_program(tmp_path / "programs", "converging.py", CONVERGING_PROGRAM)
    return register_algorithm(program=program, static_hyperparameters={"epochs": "6", "epoch_seconds": "0.15"})


def log_in(page, base_url):
    page.goto(f"{base_url}/")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.fill("#id_username", "alice")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_test_id("tuning-jobs-table")).to_be_visible()


def fill_range(page, index, name, kind, low=None, high=None, values=None):
    prefix = f"#id_ranges-{index}-"
    page.fill(prefix + "name", name)
    page.select_option(prefix + "type", kind)
    if values is not None:
        page.fill(prefix + "values", values)
    else:
        page.fill(prefix + "min_value", str(low))
        page.fill(prefix + "max_value", str(high))


def open_create_form(page, base_url):
    page.goto(f"{base_url}/new/")
    expect(page.get_by_test_id("tuning-job-form")).to_be_visible()


def test_create_watch_complete_and_see_one_trace_per_job(stack, page, alice, algorithm):
    log_in(page, stack)
    open_create_form(page, stack)
    page.fill("#id_name", "browser-job")
    page.select_option("#id_algorithm_name", "quadratic")
    page.select_option("#id_objective_metric_name", "validation:accuracy")
    page.select_option("#id_team_name", "vision")
    page.fill("#id_max_training_jobs", "4")
    page.fill("#id_max_parallel_training_jobs", "2")
    fill_range(page, 0, "learning_rate", "Continuous", 0.001, 0.5)
    page.get_by_test_id("create-button").click()

    expect(page).to_have_url(re.compile(r"/tuning-jobs/browser-job/$"))
    # Counters move to Completed while the page stays loaded: no reload happens.
    page.evaluate("window.__notReloaded = true")
    # The table was rendered before the training jobs existed: its rows arrive live.
    rows = page.get_by_test_id("training-jobs-table").locator("tbody tr[data-name]")
    expect(rows.first).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("counter-Completed")).to_contain_text("4", timeout=90_000)
    expect(rows).to_have_count(4)
    expect(rows.locator('[data-field="status"]', has_text="Completed")).to_have_count(4)
    expect(page.get_by_test_id("tuning-job-status")).to_contain_text("Completed", timeout=30_000)
    assert page.evaluate("window.__notReloaded") is True
    # The search space as the form gave it (a dict's .values() once printed every member of the range).
    page.get_by_text("Parameter ranges").click()
    ranges = page.locator("details li", has_text="learning_rate")
    expect(ranges).to_contain_text("learning_rate Continuous [0.001, 0.5]")

    # Ended jobs are drawn as one SVG path per status group (a subpath per job), the best and
    # running jobs as traces of their own, and every point has a hover label naming its job;
    # so "one curve per training job" is checked on the curves drawn and on each job's points.
    curves = page.get_by_test_id("learning-curves")
    expect(curves).to_have_class(re.compile("js-plotly-plot"))
    # Points are drawn on a short timer after they arrive, and a job's last epoch may come after its
    # status: wait for every job's every epoch (a point lost for good times this out).
    points_per_job = """() => {
        const plot = document.querySelector('[data-testid="learning-curves"]');
        const points = {};
        for (const trace of plot.data || []) {
            (trace.customdata || []).forEach((info) => info && (points[info[0]] = (points[info[0]] || 0) + 1));
        }
        return points;
    }"""
    page.wait_for_function(
        f"""() => {{
            const counts = Object.values(({points_per_job})());
            return counts.length >= 4 && counts.every((count) => count >= 6);
        }}""",
        timeout=15_000,
    )
    drawn = page.evaluate(points_per_job)
    job_names = set(TuningJob.objects.get(name="browser-job").training_jobs.values_list("name", flat=True))
    assert set(drawn) == job_names, drawn
    assert all(count >= 6 for count in drawn.values()), drawn  # every epoch of every job
    figure = page.evaluate(
        """() => {
            const plot = document.querySelector('[data-testid="learning-curves"]');
            return {
                paths: (plot.layout.shapes || []).map((shape) => shape.path.match(/M/g).length),
                lines: plot.data.filter((trace) => trace.mode.includes("lines") && trace.x[0] !== null).length,
            };
        }"""
    )
    assert sum(figure["paths"]) + figure["lines"] == len(job_names), figure
    assert figure["lines"] == 1, figure  # the best job; none is running any more
    # The paths carry no hover of their own: a trace of the same points, drawing nothing, names the
    # job and its hyperparameters. Hovered through Plotly's own hover call: these curves can run
    # within a pixel or two of each other, too close for a pointer to pick one reliably.
    point = page.evaluate(
        """() => {
            const plot = document.querySelector('[data-testid="learning-curves"]');
            const curveNumber = plot._fullData.findIndex((t) => t.mode === "none" && t.x.length);
            const pointNumber = plot._fullData[curveNumber].x.length - 1;
            Plotly.Fx.hover(plot, [{ curveNumber, pointNumber }]);
            return { name: plot._fullData[curveNumber].customdata[pointNumber][0] };
        }"""
    )
    hover = curves.locator(".hovertext")
    expect(hover).to_contain_text(point["name"])
    expect(hover).to_contain_text("learning_rate=")


def test_stop_from_the_page(stack, page, alice, tmp_path):
    program = write_program(tmp_path / "slow", "slow.py", CONVERGING_PROGRAM)
    register_algorithm(program=program, static_hyperparameters={"epochs": "500", "epoch_seconds": "0.1"})
    tuning_job = services.tuning_job_create(config=tuning_job_config(team_name="vision", max_parallel_training_jobs=2))
    log_in(page, stack)
    page.goto(f"{stack}/tuning-jobs/{tuning_job.name}/")
    expect(page.get_by_test_id("counter-InProgress")).to_contain_text("2", timeout=30_000)
    # Each running job has a trace of its own, which new epochs extend in place.
    running_lengths = """() => {
        const plot = document.querySelector('[data-testid="learning-curves"]');
        const running = (plot.data || []).filter((trace) => String(trace.uid).startsWith("running-"));
        return running.length ? running.map((trace) => trace.x.length) : null;
    }"""
    page.wait_for_function(f"({running_lengths})() !== null")
    before = page.evaluate(running_lengths)
    page.wait_for_function(
        f"(before) => {{ const now = ({running_lengths})(); return now && now.some((n, i) => n > before[i]); }}",
        arg=before,
    )
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("stop-button").click()
    expect(page.get_by_test_id("tuning-job-status")).to_contain_text("Stopped", timeout=30_000)
    tuning_job.refresh_from_db()
    assert tuning_job.status == TuningJobStatus.STOPPED
    endings = list(tuning_job.training_jobs.values_list("name", "status", "stop_reason", "failure_reason"))
    assert {status for _, status, _, _ in endings} == {TrainingJobStatus.STOPPED}, endings
    # The Stopped counter follows live, after a reload, and after a trip back
    # through the browser's back/forward cache (where the socket had been closed).
    stopped = str(len(endings))
    expect(page.get_by_test_id("counter-Stopped")).to_have_text(stopped)
    expect(page.get_by_test_id("counter-InProgress")).to_have_text("0")
    page.reload()
    expect(page.get_by_test_id("counter-Stopped")).to_have_text(stopped)
    page.get_by_test_id("training-jobs-table").locator("tbody tr a").first.click()
    expect(page).to_have_url(re.compile(r"/training-jobs/"))
    page.go_back()
    expect(page.get_by_test_id("live-state")).to_have_attribute("data-state", "live")
    expect(page.get_by_test_id("counter-Stopped")).to_have_text(stopped)


def test_a_field_error_shows_at_its_field(stack, page, alice, algorithm):
    log_in(page, stack)
    open_create_form(page, stack)
    page.fill("#id_name", "bad name!")
    page.select_option("#id_algorithm_name", "quadratic")
    page.select_option("#id_objective_metric_name", "validation:accuracy")
    page.fill("#id_max_training_jobs", "4")
    page.fill("#id_max_parallel_training_jobs", "0")
    fill_range(page, 0, "learning_rate", "Continuous", 0.5, 0.1)
    page.get_by_test_id("create-button").click()
    expect(page.get_by_test_id("error-summary")).to_be_visible()
    name_field = page.locator("#id_name").locator("xpath=ancestor::*[contains(@class, 'field')][1]")
    expect(name_field).to_contain_text("letters, digits and hyphens")
    parallel_field = page.locator("#id_max_parallel_training_jobs").locator(
        "xpath=ancestor::*[contains(@class, 'field')][1]"
    )
    expect(parallel_field).to_contain_text("1")
    expect(page.get_by_test_id("range-errors").or_(page.get_by_test_id("parameter-ranges"))).to_contain_text("MinValue")
    assert not TuningJob.objects.exists()


def test_the_form_offers_the_algorithms_hyperparameters_and_refuses_others(web, page, alice):
    register_algorithm(name="declaring", supported_hyperparameters=SUPPORTED_HYPERPARAMETERS)
    log_in(page, web)
    open_create_form(page, web)
    page.select_option("#id_algorithm_name", "declaring")
    expect(page.get_by_test_id("algorithm-hyperparameters")).to_have_text(
        "Tunable: learning_rate (Continuous, 1e-05 to 1); optimizer (Categorical: sgd, adam, rmsprop)."
    )
    options = page.locator("#tunable-hyperparameters option")
    expect(options).to_have_count(2)
    assert page.get_attribute("#id_ranges-0-name", "list") == "tunable-hyperparameters"
    page.fill("#id_name", "undeclared")
    page.select_option("#id_team_name", "vision")
    fill_range(page, 0, "momentum", "Continuous", 0.1, 0.9)
    page.get_by_test_id("create-button").click()
    expect(page.get_by_test_id("parameter-ranges")).to_contain_text(
        "momentum is not a hyperparameter of this algorithm (its tunable ones: learning_rate, optimizer)."
    )
    assert not TuningJob.objects.exists()


def test_an_empty_form_names_every_missing_part_on_the_first_submit(web, page, alice, algorithm):
    log_in(page, web)
    open_create_form(page, web)
    page.get_by_test_id("create-button").click()
    expect(page.get_by_test_id("error-summary")).to_be_visible()
    expect(page.get_by_test_id("parameter-ranges")).to_contain_text("a search space needs at least one parameter range")
    expect(page.locator("#id_name").locator("xpath=ancestor::*[contains(@class, 'field')][1]")).to_contain_text(
        "required"
    )


def finished_tuning_job(name, finals, stopped=(), seconds_per_job=10.0, early_stopping="Off", **config):
    """A tuning job whose training jobs ran `seconds_per_job` each (the stopped ones half as long)."""
    from datetime import UTC, datetime, timedelta

    from jobs.backends.base import Outcome, RunResult, StopCause
    from jobs.backends.metrics import MetricRecord
    from jobs.models import TrainingJob

    tuning_job = services.tuning_job_create(
        config=tuning_job_config(
            name=name, team_name="vision", max_training_jobs=len(finals), max_parallel_training_jobs=len(finals),
            early_stopping_type=early_stopping, random_seed=5, **config,
        )
    )  # fmt: skip
    start = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    jobs = services.tuning_job_advance(tuning_job_id=tuning_job.id)
    for index, (job, final) in enumerate(zip(jobs, finals, strict=True)):
        services.training_job_start(training_job_id=job.id, worker="w@h:1", log_path="")
        services.training_job_record_metrics(
            training_job_id=job.id,
            records=[MetricRecord("validation:accuracy", e, final * e / 3, start) for e in (1, 2, 3)],
        )
        if index in stopped:
            services.training_job_stop(training_job_id=job.id, reason="EarlyStopping")
            result = RunResult(Outcome.STOPPED, -15, stop_cause=StopCause.REQUESTED)
        else:
            result = RunResult(Outcome.COMPLETED, 0)
        services.training_job_finish(training_job_id=job.id, result=result)
        duration = seconds_per_job / 2 if index in stopped else seconds_per_job
        TrainingJob.objects.filter(pk=job.pk).update(started_at=start, ended_at=start + timedelta(seconds=duration))
    services.tuning_job_advance(tuning_job_id=tuning_job.id)
    return tuning_job


@pytest.fixture
def web(workers, static_root):
    """Only the web server: these pages show finished tuning jobs."""
    return workers.start_web(static_root)


def test_compare_shows_the_savings_of_an_off_auto_pair(web, page, alice, algorithm):
    finished_tuning_job("seed-off", [0.30, 0.35, 0.33, 0.20])
    finished_tuning_job("seed-auto", [0.30, 0.35, 0.10, 0.12], stopped=(2, 3), early_stopping="Auto")
    log_in(page, web)
    # Ticked on the list, the baseline chosen on the compare page.
    for name in ("seed-off", "seed-auto"):
        page.get_by_label(f"Compare {name}").check()
    page.get_by_test_id("compare-selected").click()
    expect(page).to_have_url(re.compile(r"/analytics/compare/\?jobs=seed-auto&jobs=seed-off$"))
    expect(page.get_by_role("checkbox", name=re.compile("^seed-off"))).to_be_checked()
    page.select_option("#id_baseline", "seed-off")
    page.get_by_test_id("compare-picker").get_by_role("button", name="Compare").click()
    saved = page.locator("tr", has_text="Training time saved vs seed-off")
    expect(saved).to_be_visible()
    # Off trained 4 x 10 s; Auto 2 x 10 s + 2 x 5 s = 30 s: 25% saved.
    expect(saved.locator("td.saved").nth(1)).to_contain_text("25")
    expect(page.locator("#chart-best-so-far.js-plotly-plot")).to_be_visible()
    # Once in the navigation, marked as the page shown (it was there twice).
    compare_links = page.get_by_role("navigation", name="Main").get_by_role("link", name="Compare")
    expect(compare_links).to_have_count(1)
    expect(compare_links).to_have_attribute("aria-current", "page")


def test_the_report_prints_the_top_5_table(web, page, alice, algorithm):
    finished_tuning_job("review-me", [0.5, 0.9, 0.7, 0.6, 0.8, 0.4, 0.3])
    log_in(page, web)
    page.goto(f"{web}/analytics/tuning-jobs/review-me/report/")
    page.emulate_media(media="print")
    table = page.locator("table.analytics")
    expect(table).to_be_visible()
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(5)
    first = rows.first.inner_text()
    assert "review-me-002" in first and "0.9" in first  # best first, for Maximize
    header = table.locator("thead").inner_text()
    for column in ("TrainingJobName", "TrainingJobStatus", "FinalObjectiveValue", "TrainingElapsedTimeSeconds"):
        assert column in header
    expect(page.locator("header.topbar, .site-header, nav").first).to_be_hidden()
    # The learning curves: one path per status group, a subpath per training job.
    curves = page.locator("#chart-curves.js-plotly-plot")
    expect(curves).to_have_count(1)
    subpaths = curves.evaluate("(plot) => plot.layout.shapes.map((shape) => shape.path.match(/M/g).length)")
    assert sum(subpaths) == 7, subpaths
    # On paper each chart is a picture as wide as its box, above its caption (the SVG kept its
    # screen size, spilling over the caption, when printed without a beforeprint event).
    expect(page.locator("body[data-print-ready]")).to_have_count(1)
    figures = page.locator(".chart-box").filter(has=page.locator(".print-figure"))
    expect(figures).to_have_count(3)
    for index in range(3):
        figure = figures.nth(index)
        expect(figure.locator(".js-plotly-plot")).to_be_hidden()
        picture, caption = figure.locator(".print-figure").bounding_box(), figure.locator("figcaption").bounding_box()
        box = figure.bounding_box()
        assert picture["width"] <= box["width"] and picture["y"] + picture["height"] <= caption["y"] + 1
    pdf = page.pdf()
    assert pdf.startswith(b"%PDF")


def two_metric_training_job(name="wide") -> str:
    """A finished tuning job of one training job that reported two metrics; the training job's name."""
    from datetime import UTC, datetime

    from jobs.backends.base import Outcome, RunResult
    from jobs.backends.metrics import MetricRecord

    register_algorithm(metrics=("validation:accuracy", "train:loss"))
    tuning_job = services.tuning_job_create(
        config=tuning_job_config(name=name, team_name="vision", max_training_jobs=1, max_parallel_training_jobs=1)
    )
    [job] = services.tuning_job_advance(tuning_job_id=tuning_job.id)
    services.training_job_start(training_job_id=job.id, worker="w@h:1", log_path="")
    now = datetime.now(UTC)
    records = [MetricRecord(metric, e, value * e, now) for e in (1, 2, 3) for metric, value in
               (("validation:accuracy", 0.2), ("train:loss", 0.5))]  # fmt: skip
    services.training_job_record_metrics(training_job_id=job.id, records=records)
    services.training_job_finish(training_job_id=job.id, result=RunResult(Outcome.COMPLETED, 0))
    return job.name


# How wide the page is against its window: wider means a sideways scroll of the whole page.
OVERFLOW = "() => ({scroll: document.documentElement.scrollWidth, window: window.innerWidth})"


def test_every_metric_chart_fits_its_card_and_pages_fit_a_phone(web, page, alice):
    name = two_metric_training_job()
    log_in(page, web)
    page.goto(f"{web}/training-jobs/{name}/")
    charts = page.locator('[data-testid="metric-charts"] .js-plotly-plot')
    expect(charts).to_have_count(2)
    # The second chart was once drawn 1,330 px wide, off its card and the window, until a resize.
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="metric-charts"] figure')].every((figure) => {
            const svg = figure.querySelector('.main-svg');
            return svg && svg.getBoundingClientRect().width <= figure.clientWidth + 1;
        })"""
    )
    overflow = page.evaluate(OVERFLOW)
    assert overflow["scroll"] <= overflow["window"], overflow
    # Times say their zone, values have six significant digits (0.6 * 3 = 0.6000000000000001 once showed raw).
    for moment in page.get_by_test_id("status-history").locator("time").all_inner_texts():
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", moment), moment
    expect(page.locator('[data-field="objective"]')).to_have_text("0.6")

    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/", f"/tuning-jobs/{name.rsplit('-', 1)[0]}/", f"/training-jobs/{name}/", "/new/"):
        page.goto(f"{web}{path}")
        page.wait_for_load_state("networkidle")
        overflow = page.evaluate(OVERFLOW)
        assert overflow["scroll"] <= 390, (path, overflow)
        # The title and the navigation do not collide.
        title = page.locator("header .brand").bounding_box()
        links = page.get_by_role("navigation", name="Main").locator("a, button")
        for index in range(links.count()):
            box = links.nth(index).bounding_box()
            assert box["x"] + box["width"] <= 390, (path, index, box)
            assert not overlap(box, title), (path, index, box, title)


def overlap(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and (b["y"] < a["y"] + a["height"])
    )


def test_a_team_chooses_a_training_job_with_a_reason_and_sees_it_on_the_tuning_job(web, page, alice, algorithm):
    finished_tuning_job("decide", [0.5, 0.9, 0.7])
    log_in(page, web)
    page.goto(f"{web}/training-jobs/decide-002/")
    page.get_by_test_id("choose-form").locator("textarea").fill("Best **validation** accuracy; ship it.")
    page.get_by_role("button", name="Choose this training job").click()
    expect(page).to_have_url(re.compile(r"/tuning-jobs/decide/#decision$"))
    decision = page.get_by_test_id("decision")
    expect(decision.get_by_test_id("chosen-training-job")).to_have_text("decide-002")
    expect(decision.locator("strong")).to_have_text("validation")  # the reason is Markdown
    expect(decision).to_contain_text("by alice")
    page.goto(f"{web}/")
    expect(page.get_by_test_id("chosen")).to_have_text("chosen: decide-002")


def test_clone_opens_the_form_filled_in_and_creates_a_sibling(web, page, alice, algorithm):
    finished_tuning_job("original", [0.5, 0.9])
    log_in(page, web)
    page.goto(f"{web}/tuning-jobs/original/")
    page.get_by_test_id("clone-link").click()
    expect(page.get_by_test_id("cloned-from")).to_contain_text("original")
    expect(page.locator("#id_ranges-0-name")).to_have_value("learning_rate")
    expect(page.locator("#id_ranges-1-values")).to_have_value("sgd, adam")
    expect(page.locator("#id_max_training_jobs")).to_have_value("2")
    page.fill("#id_name", "original-again")
    page.get_by_test_id("create-button").click()
    expect(page).to_have_url(re.compile(r"/tuning-jobs/original-again/$"))
    clone = TuningJob.objects.get(name="original-again")
    assert clone.parameter_ranges == TuningJob.objects.get(name="original").parameter_ranges


def test_dark_mode_follows_the_system_setting_charts_included(web, page, alice, algorithm):
    finished_tuning_job("night", [0.5, 0.9])
    log_in(page, web)
    page.emulate_media(color_scheme="dark")
    page.goto(f"{web}/tuning-jobs/night/")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(12, 17, 29)"
    curves = page.get_by_test_id("learning-curves")
    expect(curves).to_have_class(re.compile("js-plotly-plot"))
    colors = curves.evaluate("(plot) => [plot.layout.paper_bgcolor, plot.layout.font.color]")
    assert colors == ["#161b26", "#e4e7ec"]
    page.emulate_media(color_scheme="light")
    page.reload()
    expect(curves).to_have_class(re.compile("js-plotly-plot"))
    assert curves.evaluate("(plot) => plot.layout.paper_bgcolor") == "#fff"


LONG_LABEL = "stochastic-gradient-descent-with-nesterov-momentum"


def test_charts_below_the_fold_wait_honestly_and_the_slice_plot_has_a_legend(web, page, alice, algorithm):
    optimizer = {"name": "optimizer", "type": "Categorical", "values": [LONG_LABEL, "adam"]}
    ranges = [{"name": "learning_rate", "type": "Continuous", "min_value": 1e-4, "max_value": 1.0}, optimizer]
    finished_tuning_job("slices", [0.5, 0.9, 0.2, 0.3], stopped=(2, 3), early_stopping="Auto", parameter_ranges=ranges)
    log_in(page, web)
    page.goto(f"{web}/tuning-jobs/slices/")
    # A chart below the fold is drawn empty first (for its frame) and says why it is empty: it
    # once said "No objective value yet." of a tuning job full of them.
    parallel = page.get_by_test_id("parallel-coordinates")
    expect(parallel.locator(".annotation-text")).to_have_text("Drawn when scrolled into view…")
    parallel.scroll_into_view_if_needed()
    expect(parallel).to_have_attribute("data-drawn-jobs", "4")
    page.get_by_test_id("hyperparameter-choice").select_option("optimizer")
    chart = page.get_by_test_id("objective-vs-hyperparameter")
    chart.scroll_into_view_if_needed()
    expect(chart).to_have_attribute("data-drawn-jobs", "4")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"objective-vs-hyperparameter\"]').layout.xaxis.title.text"
        " === 'optimizer'"
    )
    figure = chart.evaluate("(plot) => ({names: plot.data.map((t) => t.name), counts: plot.data.map((t) => t.x.length),"
                            " legend: plot.layout.showlegend, ticks: plot.layout.xaxis.ticktext})")  # fmt: skip
    assert figure["names"] == ["Completed", "Stopped (early or by a user)"]
    assert figure["counts"] == [2, 2] and figure["legend"] is True
    assert figure["ticks"] == ["stochastic-gradie…", "adam"]
    expect(chart.locator(".legendtext")).to_have_count(2)


def test_the_training_jobs_table_sorts_and_filters_in_place(web, page, alice, algorithm):
    finished_tuning_job("sort-me", [0.5, 0.9, 0.7, 0.6], stopped=(2, 3), early_stopping="Auto")
    log_in(page, web)
    page.goto(f"{web}/tuning-jobs/sort-me/")
    page.evaluate("window.__notReloaded = true")
    rows = page.get_by_test_id("training-jobs-table").locator("tbody tr[data-name]")
    expect(rows).to_have_count(4)
    expect(rows.first).to_have_attribute("data-name", "sort-me-001")

    # The server renders the sorted table, swapped in without a page load; the address follows.
    page.locator('th[data-sort="objective"] a').click()
    expect(page.locator('th[data-sort="objective"]')).to_have_attribute("aria-sort", "descending")
    expect(rows.first).to_have_attribute("data-name", "sort-me-002")  # the best first, for Maximize
    expect(page).to_have_url(re.compile(r"sort=-objective"))

    # The filter is in the table htmx just swapped in: change it once htmx has settled that
    # swap (and so listens on it), as a person would a moment later.
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"
    )
    page.get_by_test_id("training-jobs-status-filter").select_option("Stopped")
    expect(rows).to_have_count(2)
    expect(rows.locator('[data-field="status"]', has_text="Stopped")).to_have_count(2)
    expect(page).to_have_url(re.compile(r"sort=-objective&status=Stopped"))
    assert page.evaluate("window.__notReloaded") is True

    # The address opens the same view.
    page.reload()
    expect(rows).to_have_count(2)
    expect(page.locator('th[data-sort="objective"]')).to_have_attribute("aria-sort", "descending")


def test_the_page_carries_on_when_its_web_server_is_killed_and_restarted(
    stack, page, alice, workers, static_root, tmp_path
):
    """kill -9 of daphne with the page open: training goes on, the page reconnects by itself to the
    server started again on the same address and shows every job Completed, without a reload."""
    program = write_program(tmp_path / "programs", "converging.py", CONVERGING_PROGRAM)
    register_algorithm(program=program, static_hyperparameters={"epochs": "12", "epoch_seconds": "0.5"})
    config = tuning_job_config(name="outlives-web", team_name="vision", max_training_jobs=2)
    tuning_job = services.tuning_job_create(config=config)
    log_in(page, stack)
    page.goto(f"{stack}/tuning-jobs/outlives-web/")
    expect(page.get_by_test_id("live-state")).to_have_attribute("data-state", "live")
    page.evaluate("window.__notReloaded = true")
    workers.kill("web")
    expect(page.get_by_test_id("live-state")).to_have_attribute("data-state", re.compile("reconnecting|closed"))
    workers.start_web(static_root, port=int(stack.rsplit(":", 1)[1]))

    expect(page.get_by_test_id("live-state")).to_have_attribute("data-state", "live", timeout=60_000)
    expect(page.get_by_test_id("counter-Completed")).to_contain_text("2", timeout=60_000)
    expect(page.get_by_test_id("tuning-job-status")).to_contain_text("Completed", timeout=30_000)
    assert page.evaluate("window.__notReloaded") is True
    assert TuningJob.objects.get(pk=tuning_job.pk).status == TuningJobStatus.COMPLETED


def test_the_create_form_starts_from_the_algorithm_s_own_objective(web, page, alice):
    """Accepting the defaults must not maximize a training loss: the objective is the algorithm's."""
    for name, metrics, objective in (
        ("classifier", ("train:loss", "validation:accuracy"), ("validation:accuracy", "Maximize")),
        ("regressor", ("train:loss", "validation:loss"), ("validation:loss", "Minimize")),
    ):
        register_algorithm(name=name, metrics=metrics, objective_metric_name=objective[0], objective_type=objective[1])
    log_in(page, web)
    open_create_form(page, web)
    expect(page.locator("#id_objective_metric_name")).to_have_value("validation:accuracy")
    expect(page.locator('input[name="objective_type"][value="Maximize"]')).to_be_checked()
    page.select_option("#id_algorithm_name", "regressor")
    expect(page.locator("#id_objective_metric_name")).to_have_value("validation:loss")
    expect(page.locator('input[name="objective_type"][value="Minimize"]')).to_be_checked()


REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def test_pages_run_under_the_content_security_policy_with_nothing_fetched_elsewhere(web, page, alice, algorithm):
    finished_tuning_job("csp-check", [0.3, 0.5, 0.4])
    finished_tuning_job("csp-other", [0.2, 0.6])
    elsewhere, missing = [], []
    page.on("request", lambda request: elsewhere.append(request.url) if not request.url.startswith(web) else None)
    page.on("response", lambda response: missing.append(response.url) if response.status == 404 else None)
    log_in(page, web)
    # The list's websocket opened under connect-src 'self'.
    expect(page.get_by_test_id("live-state")).to_have_attribute("data-state", "live")
    page.goto(f"{web}/tuning-jobs/csp-check/")
    expect(page.get_by_test_id("tuning-job-status")).to_have_text("Completed")
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    page.goto(f"{web}/analytics/compare/?jobs=csp-check&jobs=csp-other")
    expect(page.locator("#chart-best-so-far.js-plotly-plot")).to_be_visible()
    assert [message for message in page.console_messages if "Content Security Policy" in message] == []
    page.goto(f"{web}/api/redoc/")
    expect(page.get_by_role("heading", name=re.compile("Tuneboard API"))).to_be_visible()
    page.goto(f"{web}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Tuneboard API")
    # Only Redoc's footer logo, on Redocly's CDN, is refused (and so never requested).
    refused = [message for message in page.console_messages if "Content Security Policy" in message]
    assert all(REDOC_LOGO in message for message in refused), refused
    # The browser asks for that logo and CSP stops it before the network: nothing else is asked for.
    assert [url for url in elsewhere if url.startswith("http")] in ([], [REDOC_LOGO])
    assert missing == []


def test_logging_out_in_another_tab_closes_the_live_page(web, page, alice):
    log_in(page, web)
    expect(page.get_by_test_id("live-state")).to_have_attribute("data-state", "live")
    other_tab = page.context.new_page()
    other_tab.goto(f"{web}/")
    other_tab.get_by_role("button", name=re.compile("Log out")).click()
    # The server closes the first tab's socket (4403); the page reloads into the login.
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
