"""Model fields for values SageMaker reports that databases handle unevenly."""

import math

from django.db import models


class IEEEFloatField(models.FloatField):
    """A float column that keeps NaN on every backend.

    Training programs do emit NaN (a diverged loss), and the issue rule is to
    store what was emitted. PostgreSQL keeps NaN in float8, but SQLite turns a
    bound NaN into NULL; there the value is written as the text 'NaN', which a
    REAL column keeps verbatim because it is not a numeric literal.
    """

    def get_db_prep_value(self, value, connection, prepared=False):
        value = super().get_db_prep_value(value, connection, prepared)
        if connection.vendor == "sqlite" and isinstance(value, float) and math.isnan(value):
            return "NaN"
        return value

    def from_db_value(self, value, expression, connection):
        if isinstance(value, str):
            return float(value)
        return value
