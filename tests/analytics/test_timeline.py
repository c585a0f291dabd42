"""analytics.timeline: slots, outcomes and what early stopping gave back."""

from datetime import UTC, datetime, timedelta

import pytest

from analytics.timeline import assign_slots, gave_back_seconds, gave_back_summary, outcome, timeline_bars

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def row(name, start, end, status="Completed", stop_reason=None, epochs=3):
    return {
        "TrainingJobName": name,
        "TrainingJobStatus": status,
        "TrainingJobStopReason": stop_reason,
        "TrainingStartTime": None if start is None else T0 + timedelta(seconds=start),
        "TrainingEndTime": None if end is None else T0 + timedelta(seconds=end),
        "TrainingElapsedTimeSeconds": None if start is None or end is None else float(end - start),
        "EpochsRun": epochs,
    }


def test_slots_reuse_the_lowest_one_free_and_are_as_few_as_the_most_running_at_once():
    assert assign_slots([(0, 10), (5, 15), (10, 20), (12, 13)]) == [0, 1, 0, 2]
    # Given in any order, ties by launch order; both slots are free at 7, and the lower one is taken.
    assert assign_slots([(7, 8), (0, 6), (0, 5)]) == [0, 0, 1]
    assert assign_slots([]) == []


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        ("Completed", None, "Completed"),
        ("Stopped", "EarlyStopping", "EarlyStopped"),
        ("Stopped", "Hyperband", "EarlyStopped"),
        ("Stopped", "UserRequest", "Stopped"),
        ("Failed", None, "Failed"),
        ("Stopping", None, "InProgress"),
    ],
)
def test_outcomes(status, reason, expected):
    assert outcome(row("a", 0, 1, status, reason)) == expected


def test_gave_back_is_the_epochs_not_run_times_the_mean_epoch_time():
    assert gave_back_seconds(seconds=30.0, epochs_run=3, max_epochs=10) == pytest.approx(70.0)
    for epochs_run, max_epochs in ((0, 10), (3, None), (10, 10), (12, 10)):
        assert gave_back_seconds(seconds=30.0, epochs_run=epochs_run, max_epochs=max_epochs) is None


def test_bars_run_to_now_while_running_and_only_early_stops_give_back():
    now = T0 + timedelta(seconds=100)
    rows = [
        row("done", 0, 40),
        row("early", 10, 40, "Stopped", "EarlyStopping", epochs=3),
        row("user", 40, 50, "Stopped", "UserRequest", epochs=1),
        row("running", 45, None, "InProgress", epochs=2),
        row("queued", None, None, "InProgress", epochs=0),
    ]
    bars = timeline_bars(rows, max_epochs={"early": 9, "user": 9}, now=now)
    assert [(bar.name, bar.slot, bar.outcome, bar.gave_back_seconds) for bar in bars] == [
        ("done", 0, "Completed", None),
        ("early", 1, "EarlyStopped", pytest.approx(60.0)),  # 6 epochs of 10 s not run
        ("user", 0, "Stopped", None),
        ("running", 1, "InProgress", None),
    ]
    assert bars[3].end == now and bars[3].seconds == pytest.approx(55.0)
    summary = gave_back_summary(bars)
    assert summary["training_seconds"] == pytest.approx(40 + 30 + 10 + 55)
    assert (summary["early_stopped"], summary["estimated"]) == (1, 1)
    assert summary["saved_percent"] == pytest.approx(60 / (135 + 60) * 100)


def test_without_a_known_last_epoch_nothing_is_claimed():
    bars = timeline_bars([row("early", 0, 30, "Stopped", "EarlyStopping")], max_epochs={"early": None}, now=T0)
    assert gave_back_summary(bars)["saved_percent"] is None
