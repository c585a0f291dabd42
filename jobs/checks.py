"""System checks: configuration mistakes reported at start-up, not at the first training job."""

from django.conf import settings
from django.core.checks import Error, register

from jobs.tuning.early_stopping import RULES


@register()
def early_stopping_rule_check(app_configs, **kwargs):
    name = settings.TUNEBOARD_EARLY_STOPPING_RULE
    if name == "auto" or name in RULES:
        return []
    return [
        Error(
            f"TUNEBOARD_EARLY_STOPPING_RULE is {name!r}, which is no early-stopping rule.",
            hint=f"Use auto (the benchmarked default) or one of: {', '.join(sorted(RULES))}.",
            id="jobs.E001",
        )
    ]
