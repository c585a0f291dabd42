"""Helpers of the analytics tests: how a training job runs, a logged-in client."""

from dataclasses import dataclass, field

from django.test import Client

from jobs.backends.base import Outcome
from jobs.models import StopReason


@dataclass(frozen=True)
class Play:
    """One training job's run: from `start` to `end` seconds after T0, reporting `values` per epoch."""

    start: float
    end: float
    values: list[float] = field(default_factory=list)
    outcome: Outcome = Outcome.COMPLETED
    stop_reason: str = ""


def completed(start, end, values):
    return Play(start, end, values)


def stopped_early(start, end, values):
    return Play(start, end, values, Outcome.STOPPED, StopReason.EARLY_STOPPING)


def failed(start, end, values):
    return Play(start, end, values, Outcome.FAILED)


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client
