"""What a tool says to its user: the one ``error:`` line, its result, an ``interrupted:`` line.

Each goes to the console once and into the run's log file, so the run folder keeps why it ended.
"""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

from genre_lightning.errors import EXIT_USAGE


def fail(message: str) -> NoReturn:
    """Print ``error: <message>`` (one line) and exit with :data:`EXIT_USAGE`."""
    print(f"error: {' '.join(message.split(chr(10)))}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def say(message: str) -> None:
    """Print a tool's result (its summary) and write it into the run's log file too: the run
    folder keeps what the console showed, as training's log keeps its test table."""
    print(message)
    log_to_files(message, logging.INFO)


def log_to_files(message: str, level: int = logging.ERROR) -> None:
    """Write ``message`` into the run's log file (``<run dir>/<tool>.log``) only: the run
    folder then says why it ended, and the console shows the line once."""
    record = logging.LogRecord(__name__, level, __file__, 0, message, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


def stop(message: str, status: int) -> NoReturn:
    """End the process as a stop the user asked for: one ``interrupted:`` line, ``status``."""
    log_to_files(f"interrupted: {message}")
    print(f"interrupted: {message}", file=sys.stderr)
    sys.exit(status)
