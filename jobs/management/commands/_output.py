"""JSON output shared by the SageMaker-shaped commands."""

import json
import math

from django.core.serializers.json import DjangoJSONEncoder


def _finite(value):
    """JSON has no NaN or Infinity: write them as strings, as boto3 users would parse them."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def dumps(data) -> str:
    return json.dumps(_finite(data), cls=DjangoJSONEncoder, indent=2, allow_nan=False)
