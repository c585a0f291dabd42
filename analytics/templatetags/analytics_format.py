"""How the analytics pages print durations, percentages and table cells.

Every filter returns plain text, never marked safe: the template escapes it.
"""

import math
from datetime import datetime

from django import template
from django.utils import timezone

register = template.Library()

MISSING = "–"


@register.filter
def duration(seconds) -> str:
    """2 h 48 min · 38 min 5 s · 4.2 s, as a console would print a training time."""
    if seconds is None or not math.isfinite(seconds):
        return MISSING
    if seconds < 60:
        return f"{seconds:.1f} s"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s"


@register.filter
def percent(value) -> str:
    if value is None or not math.isfinite(value):
        return MISSING
    return f"{value:.1f}%"


@register.filter
def cell(value) -> str:
    """A value of the analytics table: numbers to 6 significant digits, times in UTC."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)
