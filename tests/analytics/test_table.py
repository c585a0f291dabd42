"""The analytics table: SageMaker's dataframe columns and values, ordering, CSV and JSON."""

import csv
import io
import json
import math
from datetime import timedelta

import pytest

from analytics.table import (
    analytics_columns,
    analytics_csv,
    analytics_json,
    analytics_rows,
    analytics_sorted,
    analytics_top,
)
from jobs import services
from jobs.tuning.space import SearchSpace
from tests.analytics.conftest import T0
from tests.analytics.helpers import completed
from tests.jobs.factories import register_algorithm, tuning_job_config

pytestmark = pytest.mark.django_db

COLUMNS = [
    "learning_rate", "mini_batch_size", "optimizer",
    "TrainingJobName", "TrainingJobStatus", "FinalObjectiveValue",
    "TrainingStartTime", "TrainingEndTime", "TrainingElapsedTimeSeconds",
    "TrainingJobStopReason", "EpochsRun", "Chosen",
]  # fmt: skip


def test_columns_are_the_hyperparameters_then_sagemakers_then_ours(four_kinds):
    assert analytics_columns(four_kinds) == COLUMNS
    assert all(list(row) == COLUMNS for row in analytics_rows(four_kinds))


def test_one_row_per_training_job_with_sagemakers_values(four_kinds):
    rows = analytics_rows(four_kinds)
    fixed = [{column: row[column] for column in COLUMNS[3:]} for row in rows]
    nan_row = fixed[3].pop("FinalObjectiveValue")
    assert math.isnan(nan_row)
    assert fixed == [
        {"TrainingJobName": "tj-mixed-001", "TrainingJobStatus": "Completed", "FinalObjectiveValue": 0.75,
         "TrainingStartTime": T0, "TrainingEndTime": T0 + timedelta(seconds=100),
         "TrainingElapsedTimeSeconds": 100.0, "TrainingJobStopReason": None, "EpochsRun": 2, "Chosen": False},
        {"TrainingJobName": "tj-mixed-002", "TrainingJobStatus": "Stopped", "FinalObjectiveValue": 0.1,
         "TrainingStartTime": T0, "TrainingEndTime": T0 + timedelta(seconds=40),
         "TrainingElapsedTimeSeconds": 40.0, "TrainingJobStopReason": "EarlyStopping", "EpochsRun": 1, "Chosen": False},
        # A failed job has no final objective, whatever it emitted before failing.
        {"TrainingJobName": "tj-mixed-003", "TrainingJobStatus": "Failed", "FinalObjectiveValue": None,
         "TrainingStartTime": T0 + timedelta(seconds=40), "TrainingEndTime": T0 + timedelta(seconds=70),
         "TrainingElapsedTimeSeconds": 30.0, "TrainingJobStopReason": None, "EpochsRun": 1, "Chosen": False},
        {"TrainingJobName": "tj-mixed-004", "TrainingJobStatus": "Completed",
         "TrainingStartTime": T0 + timedelta(seconds=100), "TrainingEndTime": T0 + timedelta(seconds=160),
         "TrainingElapsedTimeSeconds": 60.0, "TrainingJobStopReason": None, "EpochsRun": 2, "Chosen": False},
    ]  # fmt: skip


def test_the_rows_of_any_number_of_training_jobs_are_one_query(four_kinds, django_assert_num_queries):
    # A per-row query (a deferred foreign key) made a 10,000-job report take 11 s.
    with django_assert_num_queries(1):
        assert len(analytics_rows(four_kinds)) == 4


def test_hyperparameters_are_typed_by_their_range(four_kinds):
    space = SearchSpace.from_dicts(four_kinds.parameter_ranges)
    for row, job in zip(analytics_rows(four_kinds), four_kinds.training_jobs.order_by("sequence"), strict=True):
        assert type(row["learning_rate"]) is float
        assert type(row["mini_batch_size"]) is int
        assert type(row["optimizer"]) is str
        assert {name: row[name] for name in space.names} == space.parse(job.tuned_hyperparameters)


def test_a_training_job_stopped_before_it_started_has_an_end_but_no_start_or_elapsed_time(clock, no_tasks, team):
    register_algorithm()
    tuning_job = services.tuning_job_create(config=tuning_job_config(name="tj-stop", team_name="vision"))
    services.tuning_job_advance(tuning_job_id=tuning_job.id)
    clock.at(5)
    services.tuning_job_stop(tuning_job_id=tuning_job.id)
    rows = analytics_rows(tuning_job)
    assert [
        (row["TrainingJobStatus"], row["TrainingStartTime"], row["TrainingEndTime"],
         row["TrainingElapsedTimeSeconds"], row["TrainingJobStopReason"], row["EpochsRun"])
        for row in rows
    ] == [("Stopped", None, T0 + timedelta(seconds=5), None, "UserRequest", 0)] * 2  # fmt: skip
    assert list(rows[0]) == ["learning_rate", "optimizer", *COLUMNS[3:]]


# --- ordering -------------------------------------------------------------------------


def _rows(*values):
    return [{"TrainingJobName": f"j{i}", "FinalObjectiveValue": v} for i, v in enumerate(values, 1)]


def test_sorting_puts_the_best_first_and_missing_or_non_finite_values_last():
    rows = _rows(0.2, None, 0.9, math.nan, 0.5, math.inf, 0.9)
    maximize = [row["TrainingJobName"] for row in analytics_sorted(rows, objective_type="Maximize")]
    minimize = [row["TrainingJobName"] for row in analytics_sorted(rows, objective_type="Minimize")]
    assert maximize == ["j3", "j7", "j5", "j1", "j2", "j4", "j6"]
    assert minimize == ["j1", "j5", "j3", "j7", "j2", "j4", "j6"]


@pytest.fixture
def seven(build):
    values = [0.31, 0.77, 0.12, 0.95, 0.5, 0.64, 0.08]
    return build("tj-seven", [completed(0, 10 + i, [v]) for i, v in enumerate(values)])


def test_top_5_to_maximize_is_the_five_highest_descending(seven):
    top = analytics_top(analytics_rows(seven), objective_type="Maximize")
    assert [row["FinalObjectiveValue"] for row in top] == [0.95, 0.77, 0.64, 0.5, 0.31]
    assert [row["TrainingJobName"] for row in top] == ["tj-seven-004", "tj-seven-002", "tj-seven-006",
                                                        "tj-seven-005", "tj-seven-001"]  # fmt: skip


def test_top_5_to_minimize_is_the_five_lowest_ascending(seven):
    top = analytics_top(analytics_rows(seven), objective_type="Minimize")
    assert [row["FinalObjectiveValue"] for row in top] == [0.08, 0.12, 0.31, 0.5, 0.64]


def test_top_5_of_the_four_kinds_ranks_failed_and_nan_last(four_kinds):
    top = analytics_top(analytics_rows(four_kinds), objective_type="Maximize")
    assert [row["TrainingJobName"] for row in top] == ["tj-mixed-001", "tj-mixed-002", "tj-mixed-003", "tj-mixed-004"]


# --- CSV and JSON -----------------------------------------------------------------------


def test_csv_has_a_header_and_empty_cells_for_missing_and_nan(four_kinds):
    rows = analytics_rows(four_kinds)
    parsed = list(csv.reader(io.StringIO(analytics_csv(rows))))
    assert parsed[0] == COLUMNS
    assert len(parsed) == 5
    by_name = {line[3]: dict(zip(COLUMNS, line, strict=True)) for line in parsed[1:]}
    assert by_name["tj-mixed-001"]["FinalObjectiveValue"] == "0.75"
    assert by_name["tj-mixed-001"]["TrainingStartTime"] == "2025-03-01T09:00:00+00:00"
    assert by_name["tj-mixed-001"]["TrainingElapsedTimeSeconds"] == "100.0"
    assert by_name["tj-mixed-001"]["TrainingJobStopReason"] == ""
    assert by_name["tj-mixed-002"]["TrainingJobStopReason"] == "EarlyStopping"
    assert by_name["tj-mixed-003"]["FinalObjectiveValue"] == ""
    assert by_name["tj-mixed-004"]["FinalObjectiveValue"] == ""  # NaN
    # Floats are written exactly: they read back to the same value.
    assert float(by_name["tj-mixed-001"]["learning_rate"]) == rows[0]["learning_rate"]
    assert by_name["tj-mixed-001"]["mini_batch_size"] == str(rows[0]["mini_batch_size"])


def test_csv_of_no_rows_still_has_its_header(build):
    tuning_job = build("tj-one", [completed(0, 1, [0.5])])
    assert analytics_csv([], columns=analytics_columns(tuning_job)) == ",".join(COLUMNS) + "\r\n"


def test_csv_defuses_text_that_a_spreadsheet_would_run_as_a_formula():
    text = analytics_csv([{"optimizer": "=HYPERLINK(1)", "lr": -0.5, "name": "adam"}])
    assert text.splitlines()[1] == "'=HYPERLINK(1),-0.5,adam"


def test_json_is_strict_with_null_for_nan_and_iso_times(four_kinds):
    text = analytics_json(analytics_rows(four_kinds))
    assert "NaN" not in text and "Infinity" not in text
    records = json.loads(text)
    assert [list(record) for record in records] == [COLUMNS] * 4
    assert [record["FinalObjectiveValue"] for record in records] == [0.75, 0.1, None, None]
    assert records[2]["TrainingStartTime"] == "2025-03-01T09:00:40+00:00"
    assert records[1]["TrainingJobStopReason"] == "EarlyStopping"
    assert isinstance(records[0]["mini_batch_size"], int)
