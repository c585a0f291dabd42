"""Websocket consumers over the real Redis channel layer: authorisation, events, catch-up, coalescing."""

import time
from datetime import UTC, datetime

import pytest
from asgiref.sync import async_to_sync
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser, Group

from jobs import consumers, selectors, services
from jobs.backends.base import Outcome, RunResult
from jobs.backends.metrics import MetricRecord
from jobs.consumers import ACCESS_REVOKED, COALESCE_SECONDS
from jobs.models import TeamMember, TeamRole
from jobs.routing import websocket_urlpatterns
from tests.jobs.factories import register_algorithm, tuning_job_config

pytestmark = pytest.mark.django_db(transaction=True)

application = URLRouter(websocket_urlpatterns)


@pytest.fixture
def team():
    return Group.objects.create(name="vision")


@pytest.fixture
def alice(django_user_model, team):
    user = django_user_model.objects.create_user("alice")
    TeamMember.objects.create(team=team, user=user, role=TeamRole.VIEWER)
    return user


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob")


@pytest.fixture
def running(team, celery_broker):
    """tj-1 with two started training jobs; tasks go to the test broker, where no worker takes them."""
    register_algorithm()
    tuning_job = services.tuning_job_create(config=tuning_job_config(team_name="vision"))
    jobs = services.tuning_job_advance(tuning_job_id=tuning_job.id)
    for job in jobs:
        services.training_job_start(training_job_id=job.id, worker="w@h:1", log_path="")
    return tuning_job, jobs


def report(job, epochs, metric="validation:accuracy"):
    services.training_job_record_metrics(
        training_job_id=job.id,
        records=[MetricRecord(metric, epoch, epoch / 100, datetime.now(UTC)) for epoch in epochs],
    )


async def connect(user, path="/ws/tuning-jobs/tj-1/"):
    communicator = WebsocketCommunicator(application, path)
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    return communicator, connected


async def receive_until(communicator, message_type, timeout=5):
    while True:
        message = await communicator.receive_json_from(timeout=timeout)
        if message["type"] == message_type:
            return message


def epochs_in(messages, job_name):
    return sorted(epoch for m in messages for epoch, _ in m["jobs"].get(job_name, {}).get("validation:accuracy", []))


def test_anonymous_other_teams_and_missing_jobs_are_refused(running, bob):
    async def scenario():
        for user, path in (
            (AnonymousUser(), "/ws/tuning-jobs/tj-1/"),
            (bob, "/ws/tuning-jobs/tj-1/"),
            (bob, "/ws/tuning-jobs/no-such-job/"),
            (AnonymousUser(), "/ws/tuning-jobs/"),
        ):
            communicator, connected = await connect(user, path)
            assert not connected, (user, path)

    async_to_sync(scenario)()


def test_catch_up_then_live_batches_then_reconnect_without_loss_or_doubles(running, alice):
    tuning_job, (first, second) = running
    report(first, [1, 2])

    async def scenario():
        communicator, connected = await connect(alice)
        assert connected
        await communicator.send_json_to({"type": "catch_up", "since": {}})
        snapshot = await receive_until(communicator, "metrics")
        assert epochs_in([snapshot], first.name) == [1, 2]
        counters = await receive_until(communicator, "counters")
        assert counters["counters"] == {"Completed": 0, "InProgress": 2, "Stopped": 0, "Failed": 0}

        await database_write(report, first, [3])
        live = await receive_until(communicator, "metrics")
        assert epochs_in([live], first.name) == [3]
        cursor = {**snapshot["cursor"], **live["cursor"]}
        await communicator.disconnect()

        # Missed while disconnected: the reconnect's catch-up brings exactly these.
        await database_write(report, first, [4, 5])
        await database_write(report, second, [1])
        communicator, _ = await connect(alice)
        await communicator.send_json_to({"type": "catch_up", "since": cursor})
        caught_up = await receive_until(communicator, "metrics")
        assert epochs_in([caught_up], first.name) == [4, 5]
        assert epochs_in([caught_up], second.name) == [1]
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_a_big_tuning_job_loads_thinned_curves_then_live_points(running, alice, monkeypatch):
    tuning_job, (first, second) = running
    # Small enough thresholds for two jobs of 20 epochs to count as big.
    monkeypatch.setattr(selectors, "CURVE_FULL_SAMPLES", 20)
    monkeypatch.setattr(selectors, "CURVE_POINT_BUDGET", 10)
    monkeypatch.setattr(selectors, "CURVE_MIN_POINTS", 5)
    monkeypatch.setattr(selectors, "CURVE_KEEP_BEST", 0)
    report(first, range(1, 21))
    report(second, range(1, 21))
    report(first, range(1, 4), metric="train:loss")
    services.training_job_finish(training_job_id=second.id, result=RunResult(Outcome.COMPLETED, 0))

    async def scenario():
        communicator, _ = await connect(alice)
        await communicator.send_json_to({"type": "catch_up", "since": {}})
        snapshot = await receive_until(communicator, "metrics")
        # The running job whole; the ended one every 4th epoch, with its first and last.
        assert snapshot["thinned"] == {"stride": 4, "jobs": 1, "whole": 1}
        assert epochs_in([snapshot], first.name) == list(range(1, 21))
        assert epochs_in([snapshot], second.name) == [1, 4, 8, 12, 16, 20]
        # Only the objective metric travels: it is the one the page draws.
        assert set(snapshot["jobs"][first.name]) == {"validation:accuracy"}
        await receive_until(communicator, "counters")

        await database_write(report, first, [21])
        live = await receive_until(communicator, "metrics")
        assert epochs_in([live], first.name) == [21]
        assert second.name not in live["jobs"]
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_a_catch_up_from_the_curves_endpoints_cursor_brings_only_what_came_after(running, alice):
    tuning_job, (first, second) = running
    report(first, [1, 2])
    first_load = selectors.learning_curves_first_load(tuning_job=tuning_job, metric="validation:accuracy")
    assert epochs_in([first_load], first.name) == [1, 2]
    # Between the page's HTTP read and its socket's catch-up.
    report(first, [3])
    report(second, [1])

    async def scenario():
        communicator, _ = await connect(alice)
        await communicator.send_json_to({"type": "catch_up", "since": first_load["cursor"]})
        caught_up = await receive_until(communicator, "metrics")
        assert epochs_in([caught_up], first.name) == [3]
        assert epochs_in([caught_up], second.name) == [1]
        assert "thinned" not in caught_up
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_a_small_tuning_job_loads_whole_curves(running, alice):
    tuning_job, (first, second) = running
    report(first, range(1, 21))
    services.training_job_finish(training_job_id=first.id, result=RunResult(Outcome.COMPLETED, 0))

    async def scenario():
        communicator, _ = await connect(alice)
        await communicator.send_json_to({"type": "catch_up", "since": {}})
        snapshot = await receive_until(communicator, "metrics")
        assert "thinned" not in snapshot
        assert epochs_in([snapshot], first.name) == list(range(1, 21))
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_a_flood_of_epochs_is_coalesced(running, alice):
    tuning_job, (first, _) = running

    async def scenario():
        communicator, _ = await connect(alice)
        await communicator.send_json_to({"type": "catch_up", "since": {}})
        await receive_until(communicator, "counters")
        started = time.monotonic()
        for epoch in range(1, 201):
            await database_write(report, first, [epoch])
        batches = []
        while sum(len(epochs_in([b], first.name)) for b in batches) < 200:
            batches.append(await receive_until(communicator, "metrics"))
        elapsed = time.monotonic() - started
        assert epochs_in(batches, first.name) == list(range(1, 201))
        # One message per coalescing window at most, however fast the epochs come.
        assert len(batches) <= elapsed / COALESCE_SECONDS + 2
        assert len(batches) < 200
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_status_changes_are_forwarded_with_fresh_counters(running, alice):
    tuning_job, (first, _) = running

    async def scenario():
        communicator, _ = await connect(alice)
        await communicator.send_json_to({"type": "catch_up", "since": {}})
        await receive_until(communicator, "counters")
        await database_write(lambda: services.training_job_stop(training_job_id=first.id))
        status = await receive_until(communicator, "training_job.status")
        assert (status["name"], status["status"]) == (first.name, "Stopping")
        counters = await receive_until(communicator, "counters")
        assert counters["counters"]["InProgress"] == 2  # Stopping still runs
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_the_list_socket_sends_rows_of_visible_tuning_jobs_only(running, alice, bob):
    tuning_job, (first, _) = running

    async def scenario():
        member, _ = await connect(alice, "/ws/tuning-jobs/")
        outsider, _ = await connect(bob, "/ws/tuning-jobs/")
        await database_write(lambda: services.training_job_stop(training_job_id=first.id))
        row = await receive_until(member, "tuning_job")
        assert row["name"] == "tj-1" and row["counters"]["InProgress"] == 2
        assert await outsider.receive_nothing(timeout=0.5)
        await member.disconnect()
        await outsider.disconnect()

    async_to_sync(scenario)()


async def database_write(function, *args):
    from channels.db import database_sync_to_async

    await database_sync_to_async(function)(*args)


def test_a_socket_closes_when_its_user_leaves_the_team(running, alice):
    async def scenario():
        communicator, connected = await connect(alice)
        assert connected
        await database_write(lambda: TeamMember.objects.filter(user=alice).delete())
        assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": ACCESS_REVOKED}

    async_to_sync(scenario)()


def test_a_socket_closes_when_its_user_is_deactivated(running, alice):
    async def scenario():
        communicator, _ = await connect(alice, "/ws/tuning-jobs/")
        alice.is_active = False
        await database_write(alice.save)
        assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": ACCESS_REVOKED}

    async_to_sync(scenario)()


def test_logging_out_closes_that_sessions_sockets_only(running, alice, client):
    from django.contrib.sessions.backends.db import SessionStore
    from django.test import Client

    other_browser = Client()

    async def connect_with_session(browser):
        await database_write(browser.force_login, alice)
        communicator = WebsocketCommunicator(application, "/ws/tuning-jobs/tj-1/")
        communicator.scope["user"] = alice
        communicator.scope["session"] = SessionStore(session_key=browser.session.session_key)
        connected, _ = await communicator.connect()
        assert connected
        return communicator

    async def scenario():
        logged_out = await connect_with_session(client)
        still_in = await connect_with_session(other_browser)
        await database_write(client.logout)
        assert await logged_out.receive_output(timeout=5) == {"type": "websocket.close", "code": ACCESS_REVOKED}
        await database_write(report, running[1][0], [1])
        await still_in.send_json_to({"type": "catch_up", "since": {}})
        assert (await receive_until(still_in, "metrics"))["jobs"]
        await still_in.disconnect()

    async_to_sync(scenario)()


def test_a_socket_whose_session_ended_unannounced_closes_on_its_next_event(running, alice, client, monkeypatch):
    from django.contrib.sessions.backends.db import SessionStore

    monkeypatch.setattr(consumers, "REAUTHORISE_SECONDS", 0)
    tuning_job, (first, _) = running

    async def scenario():
        await database_write(client.force_login, alice)
        key = client.session.session_key
        communicator = WebsocketCommunicator(application, "/ws/tuning-jobs/tj-1/")
        communicator.scope["user"] = alice
        communicator.scope["session"] = SessionStore(session_key=key)
        assert (await communicator.connect())[0]
        # Expired or deleted from the store, with no logout to announce it.
        await database_write(lambda: SessionStore(session_key=key).delete())
        await database_write(lambda: services.training_job_stop(training_job_id=first.id))
        assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": ACCESS_REVOKED}

    async_to_sync(scenario)()


def test_a_page_on_another_port_of_the_same_host_cannot_open_a_socket(running, alice):
    from tuning_site.asgi import application as site

    async def scenario():
        for origin, expected in (("http://127.0.0.1:8302", False), ("http://127.0.0.1:8301", True)):
            communicator = WebsocketCommunicator(
                site, "/ws/tuning-jobs/", headers=[(b"host", b"127.0.0.1:8301"), (b"origin", origin.encode())]
            )
            communicator.scope["user"] = alice
            connected, _ = await communicator.connect()
            assert connected is expected, origin
            await communicator.disconnect()

    async_to_sync(scenario)()
