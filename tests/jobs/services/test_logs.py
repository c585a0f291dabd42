"""A run's log file shipped to the database as it grows (jobs.runner.LogShipper), read back by offset."""

import pytest

from jobs import selectors, services
from jobs.models import TrainingJobLogChunk
from jobs.runner import LOG_CHUNK_BYTES, LOG_SHIP_CHUNKS, DatabaseOutageBackoff, LogShipper
from tests.jobs.services.helpers import advance, create

pytestmark = pytest.mark.django_db


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


@pytest.fixture
def job(algorithm, django_capture_on_commit_callbacks):
    return advance(create(django_capture_on_commit_callbacks), django_capture_on_commit_callbacks)[0]


def stored(job) -> str:
    return "".join(selectors.training_job_log_pieces(training_job_id=job.id))


def test_whole_lines_go_while_the_job_runs_and_the_rest_at_its_end(job, tmp_path):
    path, clock = tmp_path / "training.log", Clock()
    shipper = LogShipper(job.id, path, clock)
    path.write_text("epoch=1\nepoch=2 half a li")
    shipper.ship(DatabaseOutageBackoff())
    assert stored(job) == "epoch=1\n"
    with open(path, "a") as log:
        log.write("ne\n")
    shipper.ship(DatabaseOutageBackoff())
    assert stored(job) == "epoch=1\n"  # not again within the interval
    clock.now += 1
    shipper.ship(DatabaseOutageBackoff())
    assert stored(job) == "epoch=1\nepoch=2 half a line\n"
    with open(path, "a") as log:
        log.write("exit without a newline")
    assert shipper.ship(DatabaseOutageBackoff(), final=True)
    assert stored(job) == "epoch=1\nepoch=2 half a line\nexit without a newline"


def test_a_retried_job_s_new_lines_follow_the_earlier_attempt_s(job, tmp_path):
    path = tmp_path / "training.log"
    first = LogShipper(job.id, path)
    path.write_text("attempt 1\n")
    assert first.ship(DatabaseOutageBackoff(), final=True)
    # The same worker runs it again: the file keeps attempt 1's lines, the log goes on after them.
    second = LogShipper(job.id, path)
    with open(path, "a") as log:
        log.write("attempt 2\n")
    assert second.ship(DatabaseOutageBackoff(), final=True)
    assert stored(job) == "attempt 1\nattempt 2\n"
    # On another worker, a new file: still after what is stored.
    third = LogShipper(job.id, tmp_path / "elsewhere.log")
    (tmp_path / "elsewhere.log").write_text("attempt 3\n")
    assert third.ship(DatabaseOutageBackoff(), final=True)
    assert stored(job) == "attempt 1\nattempt 2\nattempt 3\n"
    assert services.training_job_log_end(training_job_id=job.id) == len(stored(job))


def test_a_flood_is_shipped_in_bounded_chunks_a_few_at_a_time(job, tmp_path):
    path, clock = tmp_path / "training.log", Clock()
    shipper = LogShipper(job.id, path, clock)
    line = "é" * 40 + "\n"  # two bytes a character: offsets are bytes
    path.write_text(line * 30_000)
    shipper.ship(DatabaseOutageBackoff())
    chunks = list(TrainingJobLogChunk.objects.filter(training_job=job))
    assert len(chunks) == LOG_SHIP_CHUNKS
    assert all(chunk.size <= LOG_CHUNK_BYTES and chunk.text.endswith("\n") for chunk in chunks)
    assert shipper.ship(DatabaseOutageBackoff(), final=True)
    assert stored(job) == line * 30_000
    middle = selectors.training_job_log(training_job_id=job.id, offset=len(line.encode()) * 100, tail_bytes=1000,
                                        max_bytes=len(line.encode()) * 2)  # fmt: skip
    assert middle["text"] == line * 2


def test_a_chunk_sent_again_after_a_lost_answer_is_stored_once(job):
    for _ in range(2):
        services.training_job_append_log(training_job_id=job.id, start=0, text="line\n")
    assert stored(job) == "line\n"


def test_what_is_not_a_regular_file_ships_nothing(job, tmp_path):
    path = tmp_path / "training.log"
    path.symlink_to("/dev/zero")
    assert LogShipper(job.id, path).ship(DatabaseOutageBackoff(), final=True)
    assert stored(job) == ""
