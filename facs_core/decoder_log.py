"""Count the video decoder's error messages instead of letting them reach the terminal.

OpenCV's FFmpeg backend lets FFmpeg print its decoding errors
(``[h264 @ 0x55d0c8] error while decoding MB 0 8``) straight to the process's
standard error, below Python: a damaged video would flood a user's terminal
with lines they cannot act on. :func:`decoder_messages` points file
descriptor 2 at a temporary file for the duration of a decoding pass, then
counts the decoder's lines and passes any other line through to the real
standard error, so nothing else is lost (only delayed to the end of the pass).

The redirection is process-wide, so passes are serialised by a lock; other
threads' output during a pass arrives when it ends.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["DecoderMessages", "decoder_messages"]

#: FFmpeg's log prefix: ``[<component> @ 0x<address>]``.
_DECODER_LINE = re.compile(rb"^\[[^\]@]+ @ 0x[0-9a-fA-F]+\]")
_LOCK = threading.RLock()


@dataclass
class DecoderMessages:
    """What the decoder said during one pass; ``errors`` is filled in when the pass ends."""

    errors: int = 0


@contextmanager
def decoder_messages() -> Iterator[DecoderMessages]:
    """Capture the decoder's messages for the ``with`` block and count them.

    Yields
    ------
    DecoderMessages
        Its ``errors`` holds the number of decoder lines once the block exits.
    """
    counted = DecoderMessages()
    with _LOCK:
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield counted
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                sink.seek(0)
                others = []
                for line in sink.read().splitlines(keepends=True):
                    if _DECODER_LINE.match(line):
                        counted.errors += 1
                    elif line.strip():
                        others.append(line)
                if others:
                    os.write(2, b"".join(others))
