"""How a training worker stays seen as alive: asking a database that does not answer
(jobs.runner.DatabaseOutageBackoff), and heartbeat timings checked at start-up."""

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import OperationalError

from jobs.runner import DatabaseAway, DatabaseOutageBackoff


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Database:
    """Answers, or raises what a stopped server makes Django raise."""

    def __init__(self):
        self.up = False
        self.calls = 0

    def query(self, *, value):
        self.calls += 1
        if not self.up:
            raise OperationalError("connection refused")
        return value


def test_an_outage_is_asked_again_after_doubling_delays_of_at_most_a_second():
    clock, database = Clock(), Database()
    backoff = DatabaseOutageBackoff(clock)
    delays = []
    for _ in range(6):
        with pytest.raises(DatabaseAway):
            backoff.call(database.query, value=1)
        start = clock.now
        while backoff.waiting:
            with pytest.raises(DatabaseAway):
                backoff.call(database.query, value=1)  # not asked: still waiting
            clock.now += 0.125
        delays.append(clock.now - start)
    assert delays == [0.25, 0.5, 1.0, 1.0, 1.0, 1.0]
    assert database.calls == 6


def test_once_the_database_answers_the_next_outage_starts_from_the_first_delay():
    clock, database = Clock(), Database()
    backoff = DatabaseOutageBackoff(clock)
    for _ in range(3):
        with pytest.raises(DatabaseAway):
            backoff.call(database.query, value=1)
        clock.now += 10
    database.up = True
    assert backoff.call(database.query, value=7) == 7
    database.up = False
    with pytest.raises(DatabaseAway):
        backoff.call(database.query, value=1)
    clock.now += 0.25
    assert not backoff.waiting


def test_other_errors_are_not_an_outage():
    def broken(**kwargs):
        raise ValueError("a bug, not an outage")

    backoff = DatabaseOutageBackoff(Clock())
    with pytest.raises(ValueError):
        backoff.call(broken)
    assert not backoff.waiting


def test_heartbeat_timings_that_would_make_live_jobs_look_lost_fail_the_start_up_check(settings):
    call_command("check")
    settings.TUNEBOARD_HEARTBEAT_TIMEOUT = 4
    settings.TUNEBOARD_REAPER_INTERVAL = 2
    with pytest.raises(SystemCheckError, match="jobs.E002.*TUNEBOARD_REAPER_INTERVAL"):
        call_command("check")
    settings.TUNEBOARD_REAPER_INTERVAL = 1
    settings.TUNEBOARD_HEARTBEAT_INTERVAL = 3
    with pytest.raises(SystemCheckError, match="jobs.E003.*TUNEBOARD_HEARTBEAT_INTERVAL"):
        call_command("check")
