"""Websocket consumers: live events for the tuning-job list and one tuning job.

Consumers authorise on connect (a socket for a tuning job the user may not
see is refused exactly like a missing one), join the groups jobs.realtime
names, forward events, and read; they never write.

Metric samples are not pushed one by one: an event only says that a
training job has new samples, and the consumer reads them at most every
COALESCE_SECONDS, so a job reporting 1,000 epochs a second costs a browser a
few messages a second. Status changes also refresh the counters, coalesced
the same way.
"""

import asyncio

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from jobs import realtime, selectors
from jobs.models import TuningJob

COALESCE_SECONDS = 0.1
STATUS_EVENTS = {realtime.TRAINING_JOB_CREATED, realtime.TRAINING_JOB_STATUS, realtime.TUNING_JOB_STATUS}


class TuningJobConsumer(AsyncJsonWebsocketConsumer):
    """`/ws/tuning-jobs/<name>/`: one tuning job's events and metric samples.

    The client sends {"type": "catch_up", "since": {training job: last sample id}}
    after connecting (an empty map on first load, its cursor after a dropped
    connection) and receives every sample it lacks, then live batches.
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
        self.counters_due = False
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    def _visible_tuning_job(self) -> TuningJob | None:
        name = self.scope["url_route"]["kwargs"]["name"]
        return selectors.tuning_jobs_visible_to(user=self.scope["user"]).filter(name=name).first()

    async def disconnect(self, code):
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
        await self._send_samples(only=None)
        await self._send_counters()
        self.synced = True

    async def job_event(self, message):
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
        asyncio.get_running_loop().call_later(COALESCE_SECONDS, lambda: asyncio.ensure_future(self._flush()))

    async def _flush(self):
        self.flush_pending = False
        if self.synced and self.changed:
            changed, self.changed = self.changed, set()
            await self._send_samples(only=changed)
        if self.counters_due:
            self.counters_due = False
            await self._send_counters()

    async def _send_samples(self, only: set[str] | None):
        while True:
            batch = await database_sync_to_async(selectors.metric_samples_since)(
                tuning_job_id=self.tuning_job.id, since=self.cursor, only=only
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
        tuning_job = TuningJob.objects.select_related("best_training_job").get(pk=self.tuning_job.id)
        best = tuning_job.best_training_job
        return {
            "status": tuning_job.status,
            "counters": selectors.counters_payload(selectors.tuning_job_counters(tuning_job=tuning_job)),
            "best": {"name": best.name, "value": best.final_objective_value} if best else None,
        }


class TuningJobListConsumer(AsyncJsonWebsocketConsumer):
    """`/ws/tuning-jobs/`: status and counters of every tuning job the user may see."""

    async def connect(self):
        if not self.scope["user"].is_authenticated:
            await self.close()
            return
        self.visible: dict[int, bool] = {}
        self.pending: set[int] = set()
        self.flush_pending = False
        await self.channel_layer.group_add(realtime.TUNING_JOB_LIST_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        await self.channel_layer.group_discard(realtime.TUNING_JOB_LIST_GROUP, self.channel_name)

    async def job_event(self, message):
        if message["event"] == realtime.METRICS_APPENDED:
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
