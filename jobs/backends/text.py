"""Text written by a training program, made fit for any database.

A program prints whatever it likes: NUL bytes, Latin-1, half a UTF-8 character cut
at a line limit. PostgreSQL refuses NUL in text and JSON, and no database stores
invalid UTF-8 as text, so a single stray byte in the last lines of a crashing
program would make the write of its failure reason fail and lose the job's true
ending. Every place where program text enters the database goes through
`clean_program_text`, so all of them keep the same characters.
"""

import re

# U+FFFD REPLACEMENT CHARACTER is what a decoder shows for bytes it could not
# read, so a NUL shows up the same way as an invalid byte: visibly, not silently.
REPLACEMENT = "\ufffd"
# A str can still hold what UTF-8 cannot encode: lone surrogates, e.g. from
# os.fsdecode() of a file name in another encoding.
_SURROGATES = re.compile("[\ud800-\udfff]")


def clean_program_text(text: str | bytes) -> str:
    """`text` as valid UTF-8 without NUL: each invalid byte or NUL becomes U+FFFD."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    else:
        text = _SURROGATES.sub(REPLACEMENT, text)
    return text.replace("\x00", REPLACEMENT)
