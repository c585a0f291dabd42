import math
from datetime import UTC, datetime

import pytest

from jobs.backends.metrics import (
    MetricDefinition,
    MetricDefinitionError,
    MetricParser,
    MetricRecord,
    compile_metric_definitions,
)

NOW = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
LOSS = MetricDefinition("train:loss", r"train:loss=(\S+)")
ACCURACY = MetricDefinition("validation:accuracy", r"validation:accuracy=([0-9.]+)")


def test_one_line_yields_every_matching_metric():
    parser = MetricParser([LOSS, ACCURACY])

    records = parser.parse_line("epoch=3 train:loss=0.25 validation:accuracy=0.9", NOW)

    assert records == [
        MetricRecord("train:loss", 3, 0.25, NOW),
        MetricRecord("validation:accuracy", 3, 0.9, NOW),
    ]


def test_regex_is_searched_anywhere_in_the_line():
    parser = MetricParser([ACCURACY])

    records = parser.parse_line("[12:00:01] INFO validation:accuracy=0.5 (best)", NOW)

    assert [r.value for r in records] == [0.5]


def test_without_epoch_the_epoch_is_the_nth_value_of_that_metric():
    parser = MetricParser([LOSS, ACCURACY])

    parser.parse_line("train:loss=3", NOW)
    parser.parse_line("train:loss=2", NOW)
    parser.parse_line("no metric here", NOW)
    records = parser.parse_line("train:loss=1 validation:accuracy=0.7", NOW)

    assert [(r.metric_name, r.epoch) for r in records] == [
        ("train:loss", 3),
        ("validation:accuracy", 1),
    ]


def test_epoch_in_the_line_wins_over_counting():
    parser = MetricParser([LOSS])

    parser.parse_line("train:loss=3", NOW)
    records = parser.parse_line("epoch=10 train:loss=2", NOW)

    assert records[0].epoch == 10


def test_epoch_must_be_its_own_word():
    parser = MetricParser([LOSS])

    records = parser.parse_line("warmup_epoch=7 train:loss=2", NOW)

    assert records[0].epoch == 1


def test_values_that_are_not_floats_are_ignored():
    parser = MetricParser([LOSS])

    assert parser.parse_line("train:loss=abc", NOW) == []
    assert parser.parse_line("train:loss=1.2.3", NOW) == []
    # Ignored values do not count as epochs.
    assert parser.parse_line("train:loss=0.5", NOW)[0].epoch == 1


def test_optional_group_that_did_not_match_is_ignored():
    parser = MetricParser([MetricDefinition("loss", r"loss(?:=(\d+))?")])

    assert parser.parse_line("loss", NOW) == []


@pytest.mark.parametrize(
    ("text", "check"),
    [
        ("nan", math.isnan),
        ("inf", lambda v: v == math.inf),
        ("-inf", lambda v: v == -math.inf),
        ("1e-3", lambda v: v == 0.001),
    ],
)
def test_nan_and_inf_are_recorded(text, check):
    parser = MetricParser([LOSS])

    (record,) = parser.parse_line(f"train:loss={text}", NOW)

    assert check(record.value)


def test_timestamp_must_be_timezone_aware():
    parser = MetricParser([LOSS])

    with pytest.raises(ValueError, match="timezone-aware"):
        parser.parse_line("train:loss=1", datetime(2024, 1, 1))


def test_valid_definitions_compile_in_order():
    compiled = compile_metric_definitions([LOSS, ACCURACY])

    assert [name for name, _ in compiled] == ["train:loss", "validation:accuracy"]


@pytest.mark.parametrize(
    ("definitions", "index", "attribute", "message"),
    [
        ([LOSS, MetricDefinition("acc", r"acc=([0-9.]+")], 1, "Regex", "invalid regex"),
        ([MetricDefinition("acc", r"acc=[0-9.]+")], 0, "Regex", "capture group"),
        ([MetricDefinition("acc", "")], 0, "Regex", "must not be empty"),
        ([MetricDefinition("  ", r"(\d)")], 0, "Name", "must not be empty"),
        ([LOSS, ACCURACY, LOSS], 2, "Name", "duplicate"),
        # What Python's re accepts and RE2 refuses: it would need backtracking.
        ([LOSS, MetricDefinition("acc", r"acc=(\d)\1")], 1, "Regex", "RE2"),
        ([MetricDefinition("acc", r"acc=(\d+)(?= )")], 0, "Regex", "lookaround"),
        ([MetricDefinition("acc", r"(?<=acc=)(\d+)")], 0, "Regex", "invalid regex"),
        ([MetricDefinition("acc\x00", r"acc=(\d+)")], 0, "Name", "NUL"),
        ([MetricDefinition("acc", "acc=(\\d+)\x00")], 0, "Regex", "NUL"),
    ],
)
def test_broken_definition_is_named_in_the_error(definitions, index, attribute, message):
    with pytest.raises(MetricDefinitionError, match=message) as caught:
        MetricParser(definitions)

    assert (caught.value.index, caught.value.attribute) == (index, attribute)
    assert f"MetricDefinitions[{index}].{attribute}" in str(caught.value)


@pytest.mark.timeout(60)
def test_a_catastrophic_regex_for_a_backtracking_engine_runs_in_linear_time():
    """`(a+)+$` on "a" * 34 + "b" takes 2**34 steps in Python's re: the worker hung on it."""
    parser = MetricParser([MetricDefinition("a", r"(a+)+$")])
    line = "a" * 34 + "b"

    assert all(parser.parse_line(line, NOW) == [] for _ in range(10_000))
