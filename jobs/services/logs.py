"""A training job's log in the database: chunks shipped by its worker, read back by byte offset."""

from django.db.models import F, Max

from jobs.backends.text import clean_program_text
from jobs.models import TrainingJobLogChunk


def training_job_log_end(*, training_job_id: int) -> int:
    """The stored log's length in bytes: where the next chunk goes."""
    chunks = TrainingJobLogChunk.objects.filter(training_job_id=training_job_id)
    return chunks.aggregate(end=Max(F("start") + F("size")))["end"] or 0


def training_job_append_log(*, training_job_id: int, start: int, text: str) -> int:
    """Store one chunk at byte `start`; returns its size. A chunk sent twice (its first
    COMMIT's answer was lost to an outage) is kept once."""
    text = clean_program_text(text)
    chunk, _ = TrainingJobLogChunk.objects.get_or_create(
        training_job_id=training_job_id, start=start, defaults={"size": len(text.encode()), "text": text}
    )
    return chunk.size
