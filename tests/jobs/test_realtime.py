"""Which Channels groups each event reaches: metric batches only their own tuning job's."""

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from jobs import realtime

STATUS_EVENTS = [
    realtime.TUNING_JOB_CREATED,
    realtime.TUNING_JOB_STATUS,
    realtime.TRAINING_JOB_CREATED,
    realtime.TRAINING_JOB_STATUS,
]


@pytest.mark.parametrize("event_type", STATUS_EVENTS)
def test_status_events_go_to_the_list_and_to_their_tuning_job(event_type):
    assert realtime.Event(event_type, 7).groups == ("tuning-jobs", "tuning-job.7")


def test_metric_events_go_only_to_their_tuning_job():
    assert realtime.Event(realtime.METRICS_APPENDED, 7).groups == ("tuning-job.7",)


def test_a_list_socket_receives_no_metric_batch_over_the_channel_layer(celery_broker):
    layer = get_channel_layer()
    list_channel = async_to_sync(layer.new_channel)()
    detail_channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(realtime.TUNING_JOB_LIST_GROUP, list_channel)
    async_to_sync(layer.group_add)(realtime.tuning_job_group(7), detail_channel)
    try:
        realtime.channel_layer_sink(realtime.Event(realtime.METRICS_APPENDED, 7, {"training_job": "tj-001"}))
        realtime.channel_layer_sink(realtime.Event(realtime.TUNING_JOB_STATUS, 7, {"status": "Completed"}))
        # A channel delivers in order: had the metric batch reached the list, it would come first.
        assert async_to_sync(layer.receive)(list_channel)["event"] == realtime.TUNING_JOB_STATUS
        assert async_to_sync(layer.receive)(detail_channel)["event"] == realtime.METRICS_APPENDED
        assert async_to_sync(layer.receive)(detail_channel)["event"] == realtime.TUNING_JOB_STATUS
    finally:
        async_to_sync(layer.group_discard)(realtime.TUNING_JOB_LIST_GROUP, list_channel)
        async_to_sync(layer.group_discard)(realtime.tuning_job_group(7), detail_channel)
