"""The review report page and the CSV/JSON exports, as a browser and a download see them."""

import csv
import io
import json

import pytest
from django.urls import reverse

from jobs import selectors as jobs_selectors
from tests.analytics.helpers import completed

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]


def urls(name):
    return {
        "report": reverse("tuning-job-report", args=[name]),
        "csv": reverse("tuning-job-analytics-csv", args=[name]),
        "json": reverse("tuning-job-analytics-json", args=[name]),
    }


def page_charts(response) -> dict:
    """The chart data as the page's script reads it (strict JSON: no NaN)."""
    content = response.content.decode()
    start = content.index('<script id="analytics-charts" type="application/json">')
    start = content.index(">", start) + 1
    return json.loads(content[start : content.index("</script>", start)], parse_constant=pytest.fail)


def test_the_urls():
    assert urls("tj-1") == {
        "report": "/analytics/tuning-jobs/tj-1/report/",
        "csv": "/analytics/tuning-jobs/tj-1/analytics.csv",
        "json": "/analytics/tuning-jobs/tj-1/analytics.json",
    }
    assert reverse("tuning-jobs-compare") == "/analytics/compare/"


def test_a_big_tuning_jobs_report_draws_thinned_curves_and_says_so(alice_client, four_kinds, monkeypatch):
    # Thinned as the tuning job page's first load is (jobs.selectors), here at toy sizes.
    monkeypatch.setattr(jobs_selectors, "CURVE_FULL_SAMPLES", 1)
    monkeypatch.setattr(jobs_selectors, "CURVE_POINT_BUDGET", 4)
    monkeypatch.setattr(jobs_selectors, "CURVE_MIN_POINTS", 1)
    monkeypatch.setattr(jobs_selectors, "CURVE_KEEP_BEST", 1)
    response = alice_client.get(urls("tj-mixed")["report"])
    curves = page_charts(response)["curves"]
    assert curves["thinned"] == {"stride": 2, "jobs": 3, "whole": 1}
    # Each job keeps its first and last epoch (here, both of its two).
    assert [len(points) for points in curves["groups"]["Completed"]["curves"]] == [2, 2]
    assert "3 of 4 curves thinned to one epoch in 2" in response.content.decode()


def test_the_report_shows_the_top_5_summary_stopped_jobs_and_chart_data(alice_client, four_kinds):
    response = alice_client.get(urls("tj-mixed")["report"])
    assert response.status_code == 200
    top = response.context["top"]
    assert [dict(row)["TrainingJobName"] for row in top] == ["tj-mixed-001", "tj-mixed-002", "tj-mixed-003",
                                                             "tj-mixed-004"]  # fmt: skip
    summary = response.context["summary"]
    assert summary.total_training_seconds == 230.0
    assert summary.wall_seconds == 161.0
    assert summary.counts == {"Completed": 2, "InProgress": 0, "Stopped": 1, "Failed": 1}
    assert [row["TrainingJobName"] for row in summary.stopped] == ["tj-mixed-002"]

    charts = page_charts(response)
    (series,) = charts["best_so_far"]
    # In the order the jobs ended: 002 at 40 s, 003 at 70 s, 001 at 100 s, 004 at 160 s.
    assert series["x"] == [40.0, 70.0, 170.0, 230.0]
    assert series["y"] == [0.1, 0.1, 0.75, 0.75]
    assert charts["by_job"]["Completed"]["y"] == [0.75, None]  # NaN drawn as a gap
    # Per status group, the jobs' names and curves in launch order; NaN is a null (a gap).
    completed = charts["curves"]["groups"]["Completed"]
    assert completed["names"] == ["tj-mixed-001", "tj-mixed-004"]
    assert completed["curves"] == [[[1, 0.5], [2, 0.75]], [[1, 0.3], [2, None]]]
    assert charts["curves"]["thinned"] is None

    content = response.content.decode()
    stopped_table = content.split("Stopped training jobs (1)", 1)[1].split("</table>", 1)[0]
    assert "tj-mixed-002" in stopped_table and "EarlyStopping" in stopped_table
    for column in [
        "TrainingJobName",
        "TrainingJobStatus",
        "FinalObjectiveValue",
        "TrainingStartTime",
        "TrainingEndTime",
        "TrainingElapsedTimeSeconds",
        "learning_rate",
        "mini_batch_size",
        "optimizer",
    ]:
        assert f'<th scope="col">{column}</th>' in content  # fmt: skip
    assert "3 min 50 s" in content  # total training duration
    assert "/static/vendor/plotly.min.js" in content
    assert 'href="/analytics/tuning-jobs/tj-mixed/analytics.csv"' in content
    assert "NaN" in content  # the NaN objective, as a cell of the table


def test_the_report_orders_the_top_5_ascending_to_minimize(alice_client, build):
    build("tj-min", [completed(0, 10, [0.4]), completed(0, 10, [0.1]), completed(0, 10, [0.3])],
          objective_type="Minimize")  # fmt: skip
    response = alice_client.get(urls("tj-min")["report"])
    assert [dict(row)["FinalObjectiveValue"] for row in response.context["top"]] == [0.1, 0.3, 0.4]
    assert response.context["summary"].best_objective == 0.1


def test_the_csv_export(alice_client, four_kinds):
    response = alice_client.get(urls("tj-mixed")["csv"])
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="tj-mixed-analytics.csv"'
    lines = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(line["TrainingJobName"], line["TrainingJobStatus"], line["FinalObjectiveValue"],
             line["TrainingElapsedTimeSeconds"]) for line in lines] == [
        ("tj-mixed-001", "Completed", "0.75", "100.0"),
        ("tj-mixed-002", "Stopped", "0.1", "40.0"),
        ("tj-mixed-003", "Failed", "", "30.0"),
        ("tj-mixed-004", "Completed", "", "60.0"),
    ]  # fmt: skip
    assert alice_client.post(urls("tj-mixed")["csv"]).status_code == 405


def test_the_json_export(alice_client, four_kinds):
    response = alice_client.get(urls("tj-mixed")["json"])
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == 'attachment; filename="tj-mixed-analytics.json"'
    assert b"NaN" not in response.content
    records = json.loads(response.content)
    assert [(r["TrainingJobName"], r["FinalObjectiveValue"], r["TrainingEndTime"]) for r in records] == [
        ("tj-mixed-001", 0.75, "2025-03-01T09:01:40+00:00"),
        ("tj-mixed-002", 0.1, "2025-03-01T09:00:40+00:00"),
        ("tj-mixed-003", None, "2025-03-01T09:01:10+00:00"),
        ("tj-mixed-004", None, "2025-03-01T09:02:40+00:00"),
    ]


def test_a_viewer_reads_the_report_and_exports(carol_client, tj_1):
    for url in urls("tj-1").values():
        assert carol_client.get(url).status_code == 200


def test_unknown_and_other_teams_tuning_jobs_are_404_on_every_page_and_export(alice_client, bob_client, tj_1):
    for url in urls("nope").values():
        assert alice_client.get(url).status_code == 404, url
    for url in urls("tj-1").values():
        response = bob_client.get(url)
        assert response.status_code == 404, url
        assert b"tj-1-001" not in response.content


def test_anonymous_users_are_sent_to_log_in(client):
    for url in urls("tj-1").values():
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('login')}?next={url}"
