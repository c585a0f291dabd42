"""The Analysis page and the importance API: who sees them, and what they hold."""

import json
import re
from datetime import UTC, timedelta

import pytest
from django.urls import reverse

from tests.analytics.conftest import T0
from tests.analytics.helpers import completed, stopped_early

pytestmark = [pytest.mark.django_db, pytest.mark.filterwarnings("ignore:No directory at:UserWarning")]


def page_charts(response) -> dict:
    """The chart data as the page's script reads it (strict JSON: no NaN)."""
    content = response.content.decode()
    start = content.index('<script id="analysis-charts" type="application/json">')
    start = content.index(">", start) + 1
    return json.loads(content[start : content.index("</script>", start)], parse_constant=pytest.fail)


@pytest.fixture
def reviewed(build):
    """tj-review (Maximize, 4 epochs each): three Completed, one stopped early after 1 epoch of 40 s."""
    return build(
        "tj-review",
        [
            completed(0, 100, [0.5, 0.6, 0.7, 0.75]),
            stopped_early(0, 40, [0.1]),
            completed(40, 120, [0.2, 0.3, 0.4, 0.45]),
            completed(100, 160, [0.3, 0.5, 0.6, 0.65]),
        ],
        static_hyperparameters={"epochs": "4"},
    )


def test_the_page_holds_importance_observations_and_the_timeline(alice_client, reviewed):
    response = alice_client.get(reverse("tuning-job-analysis", args=["tj-review"]))
    assert response.status_code == 200
    charts = page_charts(response)
    assert [method["method"] for method in charts["importance"]["methods"]] == ["fANOVA", "PED-ANOVA"]
    assert charts["importance"]["observations"] == 4
    assert sorted(charts["observations"]["values"]) == [0.1, 0.45, 0.65, 0.75]
    assert sorted(charts["observations"]["outcomes"]) == ["Completed"] * 3 + ["EarlyStopped"]
    assert set(charts["observations"]["params"]) == {"learning_rate", "mini_batch_size", "optimizer"}
    assert [p["name"] for p in charts["parameters"] if p.get("log")] == ["learning_rate"]
    timeline = charts["timeline"]
    assert timeline["names"] == [f"tj-review-00{i}" for i in (1, 2, 3, 4)]
    assert timeline["slots"] == [0, 1, 1, 0]
    assert timeline["outcomes"] == ["Completed", "EarlyStopped", "Completed", "Completed"]
    assert timeline["seconds"] == [100, 40, 80, 60]
    # 1 of 4 epochs in 40 s: 3 epochs of 40 s given back.
    assert timeline["gave_back_seconds"] == [None, 120.0, None, None]
    assert charts["timeline"]["summary"]["gave_back_seconds"] == pytest.approx(120.0)
    assert "gave back about 2 min 0 s" in response.content.decode()
    # A log toggle for each positive numeric axis, on for the log-scaled range; none for a category.
    toggles = re.findall(r'<input type="checkbox" data-log-axis="([^"]+)"( checked)?>', response.content.decode())
    assert toggles == [("learning_rate", " checked"), ("mini_batch_size", ""), ("objective", "")]


def test_the_tuning_job_page_links_to_it(carol_client, tj_1):
    page = carol_client.get(reverse("tuning-job-detail", args=["tj-1"])).content.decode()
    assert f'href="{reverse("tuning-job-analysis", args=["tj-1"])}"' in page


def test_too_few_jobs_with_an_objective_is_said_on_the_page(alice_client, tj_1):
    response = alice_client.get(reverse("tuning-job-analysis", args=["tj-1"]))
    assert response.status_code == 200
    assert "Importance needs at least 2 training jobs with a final objective value; this tuning job has 1." in (
        response.content.decode()
    )
    assert 'id="chart-importance"' not in response.content.decode()


def test_another_team_sees_neither_the_page_nor_the_api(bob_client, reviewed):
    assert bob_client.get(reverse("tuning-job-analysis", args=["tj-review"])).status_code == 404
    assert bob_client.get("/api/v1/tuning-jobs/tj-review/importance/").status_code == 404


def test_a_viewer_reads_importance_from_the_api(carol_client, reviewed, tj_1):
    data = carol_client.get("/api/v1/tuning-jobs/tj-review/importance/").json()
    assert data["observations"] == 4 and data["message"] is None
    for method in data["methods"]:
        assert set(method["importances"]) == {"learning_rate", "mini_batch_size", "optimizer"}
        assert sum(method["importances"].values()) == pytest.approx(1.0)
    too_few = carol_client.get("/api/v1/tuning-jobs/tj-1/importance/")
    assert too_few.status_code == 200
    assert too_few.json()["methods"] == [] and "at least 2" in too_few.json()["message"]


def test_the_timeline_reads_in_the_server_s_zone(alice_client, reviewed, settings):
    # Plotly shows milliseconds as UTC: the server's wall clock is sent, as the other pages show times.
    settings.TIME_ZONE = "Europe/Paris"
    timeline = page_charts(alice_client.get(reverse("tuning-job-analysis", args=["tj-review"])))["timeline"]
    assert timeline["starts"][0] == (T0 + timedelta(hours=1)).replace(tzinfo=UTC).timestamp() * 1000
