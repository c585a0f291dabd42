"""The Analysis page in a real browser: every chart drawn, the axis toggles and the pickers work."""

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import expect

from tests.browser.test_dashboard import algorithm, alice, finished_tuning_job, web  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration

CHARTS = ["chart-importance", "chart-contour", "chart-rank", "chart-edf", "chart-timeline"]


def traces(page, selector):
    return page.locator(selector).evaluate("(plot) => (plot.data || []).length")


def test_the_analysis_page_draws_every_chart(web, page, alice, algorithm):  # noqa: F811 (fixtures)
    finished_tuning_job("analyse-me", [0.5, 0.9, 0.7, 0.6, 0.3], stopped=(3, 4), early_stopping="Auto")
    # Signed in by a session cookie: the sign-in form has browser tests of its own.
    client = Client()
    client.force_login(alice)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": web}])
    # Straight there: the tuning job page's link is checked without a browser (tests/analytics).
    page.goto(f"{web}/analytics/tuning-jobs/analyse-me/analysis/")
    for chart in CHARTS:
        expect(page.locator(f"#{chart}.js-plotly-plot")).to_be_visible()
        assert traces(page, f"#{chart}") > 0, chart
    # A slice per hyperparameter, completed and early-stopped jobs in their own legend entries.
    slices = page.locator("[data-slice]")
    expect(slices).to_have_count(2)
    # Each drawn to its own box (the first was once drawn full width, before the second box existed).
    for index in range(2):
        assert slices.nth(index).evaluate("(plot) => plot._fullLayout.width <= plot.clientWidth + 1")
    legend = slices.first.evaluate("(plot) => plot.data.map((trace) => trace.name)")
    assert legend == ["completed", "early-stopped"]
    # Early stopping gave back a bar each behind the two stopped jobs (3 of 6 epochs not run).
    names = page.locator("#chart-timeline").evaluate("(plot) => plot.data.map((trace) => trace.name)")
    assert names == ["completed", "early-stopped", "given back by early stopping (estimate)"]
    expect(page.locator("[data-gave-back]")).to_contain_text("gave back about 10 s")

    # Rank 0 is the best job (the highest validation:accuracy, 0.9: this objective is maximised).
    best_rank = page.locator("#chart-rank").evaluate(
        "(plot) => { const t = plot.data[0]; return t.marker.color[t.customdata.findIndex((c) => c[1] === 0.9)]; }"
    )
    assert best_rank == 0
    # learning_rate's range is logarithmic: its axes start log, and the toggle makes them linear.
    rate_axis = "(plot) => plot.layout.xaxis.type"
    assert page.locator('[data-slice="learning_rate"]').evaluate(rate_axis) == "log"
    page.get_by_label("learning_rate", exact=True).uncheck()
    assert page.locator('[data-slice="learning_rate"]').evaluate(rate_axis) == "linear"
    assert page.locator("#chart-contour").evaluate(rate_axis) == "linear"
    # The contour follows the pickers.
    page.select_option("#contour-x", "optimizer")
    page.select_option("#contour-y", "learning_rate")
    assert page.locator("#chart-contour").evaluate("(plot) => plot.layout.xaxis.type") == "category"
    # Dark mode: the charts take the page's colours, as on the tuning job page.
    page.emulate_media(color_scheme="dark")
    page.reload()
    expect(page.locator("#chart-edf.js-plotly-plot")).to_be_visible()
    assert page.locator("#chart-edf").evaluate("(plot) => plot.layout.paper_bgcolor") == "#161b26"
    assert not [line for line in page.console_messages if line.startswith(("error", "pageerror"))]
