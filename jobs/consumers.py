"""Websocket consumers: live events for the tuning-job list and one tuning job.

Consumers authorise on connect (a socket for a tuning job the user may not
see is refused exactly like a missing one), join the groups jobs.realtime
names, forward events, and read; they never write.

Metric samples are not pushed one by one: an event only says that a
training job has new samples, and the consumer reads them at most once every
COALESCE_SECONDS, so a job reporting 1,000 epochs a second costs a browser a
few messages a second. The first event after a quiet spell is read at once
(a window that always waited would add its length to every sample's
latency); the ones that follow it within the window wait for its end. Status
changes also refresh the counters, coalesced the same way.

A socket stays authorised only while its user may still read: it joins its
user's group, where logout, deactivation and team changes are announced
(jobs.access_signals), and before forwarding an event it re-checks the
session and the team at most every REAUTHORISE_SECONDS; a socket that may no
longer read is closed with ACCESS_REVOKED.

Only the objective metric's samples travel here: it is the one the tuning
job page draws (the training job page reads all of a job's metrics itself).
"""

import asyncio
import time
from importlib import import_module
from types import SimpleNamespace

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib import auth

from jobs import realtime, selectors
from jobs.models import TuningJob

COALESCE_SECONDS = 0.1
MESSAGE_POINTS = 10_000
STATUS_EVENTS = {realtime.TRAINING_JOB_CREATED, realtime.TRAINING_JOB_STATUS, realtime.TUNING_JOB_STATUS}
REAUTHORISE_SECONDS = 5
# Websocket close codes 4000-4999 are the application's: 4403 reads as HTTP's Forbidden.
ACCESS_REVOKED = 4403


class ReauthorisingConsumer(AsyncJsonWebsocketConsumer):
    """Closes the socket once its user may no longer read what it forwards."""

    async def join_user_group(self):
        self.revoked = False
        self.authorised_at = asyncio.get_running_loop().time()
        self.user_group = realtime.user_group(self.scope["user"].pk)
        await self.channel_layer.group_add(self.user_group, self.channel_name)

    async def leave_user_group(self):
        if getattr(self, "user_group", None):
            await self.channel_layer.group_discard(self.user_group, self.channel_name)

    async def access_changed(self, message):
        ended = message.get("ended_session_key")
        if ended is not None and ended == self._session_key():
            await self._revoke()
        else:
            await self.still_authorised(now=True)

    async def still_authorised(self, now: bool = False) -> bool:
        """True if the user may still read; else close the socket. Checks the database at most every few seconds."""
        if self.revoked:
            return False
        loop = asyncio.get_running_loop()
        if not now and loop.time() - self.authorised_at < REAUTHORISE_SECONDS:
            return True
        if await database_sync_to_async(self._may_still_read)():
            self.authorised_at = loop.time()
            return True
        await self._revoke()
        return False

    async def _revoke(self):
        self.revoked = True
        await self.close(code=ACCESS_REVOKED)

    def _session_key(self) -> str | None:
        session = self.scope.get("session")
        return session.session_key if session is not None else None

    def _may_still_read(self) -> bool:
        user = self.scope["user"]
        key = self._session_key()
        if key is not None:
            # The session as stored now, not the copy read on connect: a logout
            # flushed it, a password change invalidated its hash.
            store = import_module(settings.SESSION_ENGINE).SessionStore(session_key=key)
            current = auth.get_user(SimpleNamespace(session=store))
        else:
            current = auth.get_user_model().objects.filter(pk=user.pk).first()
        if current is None or current.pk != user.pk or not current.is_active:
            return False
        return self.may_read(current)

    def may_read(self, user) -> bool:
        return True


class TuningJobConsumer(ReauthorisingConsumer):
    """`/ws/tuning-jobs/<name>/`: one tuning job's events and metric samples.

    The client sends {"type": "catch_up", "since": {training job: last sample id}}
    after connecting (on first load the cursor of the curves.json it read,
    or an empty map if it has none; its cursor after a dropped connection) and
    receives every sample it lacks, then live batches.
    """

    async def connect(self):
        self.tuning_job = await database_sync_to_async(self._visible_tuning_job)()
        if self.tuning_job is None:
            await self.close()
            return
        self.group = realtime.tuning_job_group(self.tuning_job.id)
        self.cursor: dict[str, int] = {}
        self.changed: set[str] = set()
        self.synced = False
        self.flush_pending = False
        self.flushed_at = 0.0
        self.counters_due = False
        await self.join_user_group()
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    def _visible_tuning_job(self) -> TuningJob | None:
        name = self.scope["url_route"]["kwargs"]["name"]
        return selectors.tuning_jobs_visible_to(user=self.scope["user"]).filter(name=name).first()

    def may_read(self, user) -> bool:
        return selectors.tuning_jobs_visible_to(user=user).filter(pk=self.tuning_job.id).exists()

    async def disconnect(self, code):
        await self.leave_user_group()
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        if content.get("type") != "catch_up":
            await self.send_json({"type": "error", "message": "Send {'type': 'catch_up', 'since': {...}}."})
            return
        since = content.get("since") or {}
        if not isinstance(since, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in since.items()
        ):
            await self.send_json({"type": "error", "message": "'since' maps training job names to sample ids."})
            return
        self.cursor = dict(since)
        overview = None
        if not since:
            overview = await database_sync_to_async(selectors.learning_curves_overview)(
                tuning_job=self.tuning_job, metric=self.tuning_job.objective_metric_name
            )
        if overview is not None:
            # Everything up to the overview's read; what commits later comes with
            # an event, and this socket joined the group before the read.
            self.cursor.update(overview["cursor"])
            parts = list(_parts(overview["jobs"], overview["cursor"]))
            for index, part in enumerate(parts, start=1):
                more = index < len(parts)
                await self.send_json({"type": "metrics", **part, "more": more, "thinned": overview["thinned"]})
        else:
            await self._send_samples(only=None)
        await self._send_counters()
        self.synced = True
        if self.changed:
            self._schedule_flush(counters=False)  # events that came in during the catch-up

    async def job_event(self, message):
        if not await self.still_authorised():
            return
        event = message["event"]
        payload = message["payload"]
        if event == realtime.METRICS_APPENDED:
            self.changed.add(payload["training_job"])
        else:
            await self.send_json({"type": event, **payload})
        if event in STATUS_EVENTS or event == realtime.METRICS_APPENDED:
            self._schedule_flush(counters=event in STATUS_EVENTS)

    def _schedule_flush(self, counters: bool) -> None:
        self.counters_due = self.counters_due or counters
        if self.flush_pending:
            return
        self.flush_pending = True
        loop = asyncio.get_running_loop()
        delay = max(0.0, self.flushed_at + COALESCE_SECONDS - loop.time())
        loop.call_later(delay, lambda: asyncio.ensure_future(self._flush()))

    async def _flush(self):
        self.flush_pending = False
        self.flushed_at = asyncio.get_running_loop().time()
        if self.synced and self.changed:
            changed, self.changed = self.changed, set()
            await self._send_samples(only=changed)
        if self.counters_due:
            self.counters_due = False
            await self._send_counters()

    async def _send_samples(self, only: set[str] | None):
        while True:
            batch = await database_sync_to_async(selectors.metric_samples_since)(
                tuning_job_id=self.tuning_job.id,
                since=self.cursor,
                only=only,
                metric=self.tuning_job.objective_metric_name,
            )
            self.cursor.update(batch["cursor"])
            if batch["jobs"] or only is None:
                await self.send_json({"type": "metrics", **batch})
            if not batch["more"]:
                return

    async def _send_counters(self):
        counters = await database_sync_to_async(self._counters)()
        await self.send_json({"type": "counters", **counters})

    def _counters(self) -> dict:
        # Taken before the read: the page keeps the counters read last, whether
        # they came here or in an HTTP response that overtook or trailed them.
        read_at = time.time()
        tuning_job = TuningJob.objects.select_related("best_training_job").get(pk=self.tuning_job.id)
        best = tuning_job.best_training_job
        return {
            "read_at": read_at,
            "status": tuning_job.status,
            "counters": selectors.counters_payload(selectors.tuning_job_counters(tuning_job=tuning_job)),
            "best": {"name": best.name, "value": best.final_objective_value} if best else None,
        }


def _parts(jobs: dict, cursor: dict):
    """A big batch of samples as messages of about MESSAGE_POINTS points each.

    The ASGI server refuses to send a websocket message over 1 MiB (daphne's
    default). A job's points are never split (a part ends once it holds
    MESSAGE_POINTS or more), so each part's cursor is whole.
    """
    part: dict = {}
    points = 0
    for name, metrics in jobs.items():
        part[name] = metrics
        points += sum(len(samples) for samples in metrics.values())
        if points >= MESSAGE_POINTS:
            yield {"jobs": part, "cursor": {job: cursor[job] for job in part}}
            part, points = {}, 0
    if part:
        yield {"jobs": part, "cursor": {job: cursor[job] for job in part}}


class TuningJobListConsumer(ReauthorisingConsumer):
    """`/ws/tuning-jobs/`: status and counters of every tuning job the user may see."""

    async def connect(self):
        if not self.scope["user"].is_authenticated:
            await self.close()
            return
        self.pending: set[int] = set()
        self.flush_pending = False
        await self.join_user_group()
        await self.channel_layer.group_add(realtime.TUNING_JOB_LIST_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.leave_user_group()
        await self.channel_layer.group_discard(realtime.TUNING_JOB_LIST_GROUP, self.channel_name)

    async def job_event(self, message):
        if not await self.still_authorised():
            return
        self.pending.add(message["tuning_job_id"])
        if not self.flush_pending:
            self.flush_pending = True
            asyncio.get_running_loop().call_later(COALESCE_SECONDS, lambda: asyncio.ensure_future(self._flush()))

    async def _flush(self):
        self.flush_pending = False
        pending, self.pending = self.pending, set()
        rows = await database_sync_to_async(self._rows)(pending)
        for row in rows:
            await self.send_json({"type": "tuning_job", **row})

    def _rows(self, tuning_job_ids: set[int]) -> list[dict]:
        visible = selectors.tuning_jobs_visible_to(user=self.scope["user"]).filter(id__in=tuning_job_ids)
        rows = []
        for tuning_job in visible:
            best = tuning_job.best_training_job
            rows.append(
                {
                    "name": tuning_job.name,
                    "status": tuning_job.status,
                    "counters": selectors.counters_payload(selectors.tuning_job_counters(tuning_job=tuning_job)),
                    "best": best.final_objective_value if best else None,
                }
            )
        return rows
