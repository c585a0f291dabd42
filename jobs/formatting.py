"""How every page, the admin and the templates write durations, numbers and times: one set of rules.

Display only. The exports (analytics.table) keep full precision and ISO 8601
times; what a person reads goes through here, so that a duration is "4 min 5 s"
on every page, an objective value has six significant digits wherever it is
shown, and a time always says its zone. static/js/format.js applies the same
rules in the browser, and tests/jobs/test_formatting.py holds both to one
table of cases.
"""

import math
from datetime import datetime, timedelta

from django.utils import timezone

MISSING = "–"
SIGNIFICANT_DIGITS = 6


def duration(seconds: float | None) -> str:
    """A duration as precise as a reader compares them: "4.2 s", "42 s", "4 min 5 s", "2 h 3 min".

    Tenths matter only for the shortest runs; past an hour the seconds are noise.
    Rounding is half up (as in JavaScript's Math.round), so both sides agree.
    """
    if seconds is None or not math.isfinite(seconds):
        return MISSING
    seconds = max(seconds, 0.0)
    tenths = math.floor(seconds * 10 + 0.5)
    if tenths < 100:
        whole, tenth = divmod(tenths, 10)
        return f"{whole}.{tenth} s" if tenth else f"{whole} s"
    total = math.floor(seconds + 0.5)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def number(value: float | int | None, digits: int = SIGNIFICANT_DIGITS) -> str:
    """A float to `digits` significant digits ("0.00578952", "1.5e-05"); an int as it is.

    Python's "g" presentation: no trailing zeros, an exponent only for very
    large or very small values. NaN and infinities are named, not hidden: an
    objective that diverged is worth seeing.
    """
    if value is None:
        return MISSING
    if isinstance(value, bool | int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value + 0.0:.{digits}g}"  # + 0.0: no "-0"


def timestamp(moment: datetime | None) -> str:
    """A time in the configured TIME_ZONE, which it names: "2026-12-03 18:04:05 UTC" ("UTC+01:00" off UTC).

    An offset rather than an abbreviation ("CET"): the browser can name an
    offset the same way for every zone, and an abbreviation is ambiguous anyway.
    """
    if moment is None:
        return MISSING
    local = timezone.localtime(moment)
    return f"{local:%Y-%m-%d %H:%M:%S} {zone(local.utcoffset())}"


def zone(offset: timedelta | None) -> str:
    minutes = round(offset.total_seconds() / 60) if offset else 0
    if not minutes:
        return "UTC"
    hours, minutes = divmod(abs(minutes), 60)
    return f"UTC{'-' if offset < timedelta(0) else '+'}{hours:02d}:{minutes:02d}"


def percent(value: float | None) -> str:
    """Savings and shares to a tenth of a percent: "12.5%"."""
    if value is None or not math.isfinite(value):
        return MISSING
    return f"{value:.1f}%"


def cell(value) -> str:
    """Any cell of a table: numbers as `number`, times as `timestamp`, the rest as text."""
    if isinstance(value, datetime):
        return timestamp(value)
    if value is None or isinstance(value, int | float):
        return number(value)
    return str(value)
