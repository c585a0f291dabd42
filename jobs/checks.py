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


@register()
def heartbeat_timing_check(app_configs, **kwargs):
    """A live job must never look lost: the reaper passes within half a timeout, heartbeats come in time.

    The reaper takes a longer pause in its own passes for an outage and watches
    again (jobs.services.reaper.reaper_watching_for); passes that never come
    within half a timeout would make every pause look like one.
    """
    timeout = settings.TUNEBOARD_HEARTBEAT_TIMEOUT
    intervals = (("TUNEBOARD_REAPER_INTERVAL", "jobs.E002"), ("TUNEBOARD_HEARTBEAT_INTERVAL", "jobs.E003"))
    return [
        Error(
            f"{name} ({getattr(settings, name)} s) must be less than half of "
            f"TUNEBOARD_HEARTBEAT_TIMEOUT ({timeout} s).",
            id=check_id,
        )
        for name, check_id in intervals
        if getattr(settings, name) >= timeout / 2
    ]
