"""One set of display rules: jobs/formatting.py on the server, static/js/format.js in the browser.

The table of cases below is the specification of both; the last test runs the
JavaScript module under node with the same cases, so the two cannot drift apart.
"""

import json
import math
import shutil
import subprocess
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.utils import timezone as django_timezone

from jobs import formatting
from tests.conftest import ROOT

MOMENT = datetime(2026, 12, 3, 18, 4, 5, tzinfo=UTC)

DURATIONS = [
    (None, "–"),
    (math.nan, "–"),
    (0, "0 s"),
    (-0.3, "0 s"),  # a clock a little behind another
    (1.0, "1 s"),
    (4.24, "4.2 s"),
    (4.25, "4.3 s"),  # half up, as in JavaScript
    (9.96, "10 s"),
    (42.4, "42 s"),
    (59.6, "1 min 0 s"),
    (61, "1 min 1 s"),
    (245, "4 min 5 s"),
    (400, "6 min 40 s"),
    (3599.4, "59 min 59 s"),
    (3600 * 2 + 180, "2 h 3 min"),
    (3600 + 125, "1 h 2 min"),
    (100 * 3600, "100 h 0 min"),
]

NUMBERS = [
    (None, "–"),
    (0.0057895240435489916, "0.00578952"),
    (0.9, "0.9"),
    (1.0, "1"),
    (-0.0, "0"),
    (1.5e-05, "1.5e-05"),
    (0.0001, "0.0001"),
    (123456.7, "123457"),
    (1234567.0, "1.23457e+06"),
    (-2.5e-12, "-2.5e-12"),
    (3.141592653589793, "3.14159"),
    (math.nan, "NaN"),
    (math.inf, "inf"),
    (-math.inf, "-inf"),
]

TIMES = [
    # (zone the server is configured with, the moment, how it is written)
    ("UTC", MOMENT, "2026-12-03 18:04:05 UTC"),
    ("Europe/Berlin", MOMENT, "2026-12-03 19:04:05 UTC+01:00"),
    ("Europe/Berlin", MOMENT - timedelta(days=150), "2026-07-06 20:04:05 UTC+02:00"),
    ("Asia/Kolkata", MOMENT, "2026-12-03 23:34:05 UTC+05:30"),
    ("America/St_Johns", MOMENT, "2026-12-03 14:34:05 UTC-03:30"),
]


@pytest.mark.parametrize(("seconds", "text"), DURATIONS)
def test_durations_read_the_same_everywhere(seconds, text):
    assert formatting.duration(seconds) == text


@pytest.mark.parametrize(("value", "text"), NUMBERS)
def test_numbers_keep_six_significant_digits(value, text):
    assert formatting.number(value) == text


def test_integers_and_booleans_are_written_as_they_are():
    assert formatting.number(1234567) == "1234567"
    assert formatting.number(True) == "True"


@pytest.mark.parametrize(("zone", "moment", "text"), TIMES)
def test_times_are_in_the_configured_zone_and_say_which(zone, moment, text):
    with django_timezone.override(zone):
        assert formatting.timestamp(moment) == text


def test_a_time_in_another_zone_is_converted_first():
    moment = MOMENT.astimezone(timezone(timedelta(hours=-5)))
    assert formatting.timestamp(moment) == "2026-12-03 18:04:05 UTC"


def test_a_cell_is_written_by_its_type():
    assert formatting.cell(MOMENT) == "2026-12-03 18:04:05 UTC"
    assert formatting.cell(0.123456789) == "0.123457"
    assert formatting.cell(7) == "7"
    assert formatting.cell(None) == "–"
    assert formatting.cell("EarlyStopping") == "EarlyStopping"


@pytest.mark.parametrize(("value", "text"), [(12.345, "12.3%"), (-54.0, "-54.0%"), (None, "–"), (math.inf, "–")])
def test_percentages_keep_one_decimal(value, text):
    assert formatting.percent(value) == text


# JSON has no NaN or infinities: they travel as names and become numbers again in node.
NODE_SCRIPT = """
const format = await import(process.argv[1]);
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
const revive = (v) => ({ NaN: NaN, inf: Infinity, "-inf": -Infinity, "-0": -0 })[v] ?? v;
console.log(JSON.stringify({
  durations: cases.durations.map((s) => format.duration(revive(s))),
  numbers: cases.numbers.map((v) => format.number(revive(v))),
  times: cases.times.map(([zone, iso]) => format.timestamp(iso, zone)),
}));
"""


def _portable(value):
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return {math.inf: "inf", -math.inf: "-inf"}.get(value, "NaN")
    if isinstance(value, float) and value == 0 and math.copysign(1, value) < 0:
        return "-0"
    return value


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed: the JS side cannot be checked here")
def test_the_browser_writes_every_case_as_the_server_does():
    cases = {
        "durations": [_portable(seconds) for seconds, _ in DURATIONS],
        "numbers": [_portable(value) for value, _ in NUMBERS],
        "times": [[zone, moment.isoformat()] for zone, moment, _ in TIMES],
    }
    module = (ROOT / "static" / "js" / "format.js").as_uri()
    result = subprocess.run(
        ["node", "--input-type=commonjs", "-e", f"(async () => {{ {NODE_SCRIPT} }})()", module],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    written = json.loads(result.stdout)
    assert written == {
        "durations": [text for _, text in DURATIONS],
        "numbers": [text for _, text in NUMBERS],
        "times": [text for _, _, text in TIMES],
    }
