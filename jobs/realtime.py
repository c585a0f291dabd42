"""Events that tell the outside world a tuning job changed.

This module owns the event types and the group names; the service layer is
the only caller of `publish`. An event leaves only after the transaction that
made the change commits, so nobody is ever told about a row they cannot read
yet, or about one that was rolled back.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

TUNING_JOB_CREATED = "tuning_job.created"
TUNING_JOB_STATUS = "tuning_job.status"
TRAINING_JOB_CREATED = "training_job.created"
TRAINING_JOB_STATUS = "training_job.status"
METRICS_APPENDED = "metrics.appended"

TUNING_JOB_LIST_GROUP = "tuning-jobs"
# Sent to one user's sockets when what they may see may have changed (logout,
# deactivation, a team membership added or removed): each socket re-checks.
ACCESS_CHANGED = "access.changed"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def tuning_job_group(tuning_job_id: int) -> str:
    return f"tuning-job.{tuning_job_id}"


@dataclass(frozen=True)
class Event:
    type: str
    tuning_job_id: int
    payload: dict = field(default_factory=dict)

    @property
    def groups(self) -> tuple[str, ...]:
        """Metric batches interest only the pages of their own tuning job; the list shows statuses and counters."""
        if self.type == METRICS_APPENDED:
            return (tuning_job_group(self.tuning_job_id),)
        return (TUNING_JOB_LIST_GROUP, tuning_job_group(self.tuning_job_id))


def _log_sink(event: Event) -> None:
    logger.debug("event %s for tuning job %s", event.type, event.tuning_job_id)


_sinks: list[Callable[[Event], None]] = [_log_sink]


def add_sink(sink: Callable[[Event], None]) -> None:
    """Register a receiver of committed events (the websocket layer, a test)."""
    _sinks.append(sink)


def remove_sink(sink: Callable[[Event], None]) -> None:
    _sinks.remove(sink)


def channel_layer_sink(event: Event) -> None:
    """Send a committed event to its Channels groups (installed by JobsConfig.ready)."""
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "job.event", "event": event.type, "tuning_job_id": event.tuning_job_id, "payload": event.payload}
    for group in event.groups:
        async_to_sync(layer.group_send)(group, message)


def publish(event: Event) -> None:
    """Deliver `event` to every sink once the current transaction commits."""

    def deliver():
        for sink in list(_sinks):
            try:
                sink(event)
            except Exception:
                # The change is committed whatever a receiver does; a broken
                # receiver must not turn a successful write into an error.
                logger.exception("event sink %r failed on %s", sink, event.type)

    transaction.on_commit(deliver)


def access_changed(*, user_id: int, ended_session_key: str | None = None) -> None:
    """Tell `user_id`'s open sockets to re-authorise once the current transaction commits.

    `ended_session_key` names a session that logged out: its sockets close
    without a check, since the session may not be flushed yet when they hear.
    """

    def deliver():
        layer = get_channel_layer()
        if layer is None:
            return
        message = {"type": ACCESS_CHANGED, "ended_session_key": ended_session_key}
        try:
            async_to_sync(layer.group_send)(user_group(user_id), message)
        except Exception:
            # Sockets also re-check on their own (consumers.REAUTHORISE_SECONDS).
            logger.exception("could not tell user %s's sockets to re-authorise", user_id)

    transaction.on_commit(deliver)
