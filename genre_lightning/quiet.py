"""Third-party messages a user cannot act on, silenced where they come from.

Each entry names one message; anything else, and every warning about the user's own data or
config, still shows.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

#: Lightning's log lines (logger ``pytorch_lightning.utilities.rank_zero``) that say nothing
#: about this run: an advertisement, and a note about our own rich model summary callback.
LIGHTNING_NOISE = (
    "💡 Tip:",
    "Trainer already configured with model summary callbacks",
)
#: Where Lightning logs what it finds on the machine ("GPU available: ...") and its tips.
LIGHTNING_LOGGERS = (
    "pytorch_lightning.utilities.rank_zero",
    "lightning_fabric.utilities.rank_zero",
)
#: torch.onnx's exporter (logger ``torch.onnx._internal.exporter._registration``) registers
#: torchvision's detection operators when it builds its op table, and says so, four lines, when
#: torchvision is not installed; no model of this package uses them.
ONNX_NOISE = ("torchvision is not installed",)
#: Trainer.save_checkpoint (GracefulStop's save at a SIGTERM) says it saves the whole state,
#: which a resume needs: worded as if about loading, it read like an unsafe load.
SAVE_NOISE = ("`weights_only` was not set",)
#: Warnings raised inside libraries about their own internals.
WARNING_NOISE = (
    # pytorch_lightning's _pytree calls a torch API that torch deprecated (fixed upstream).
    r"`isinstance\(treespec, LeafSpec\)` is deprecated",
    # A pretrained network keeps its batch-norm statistics (MusicnnClassifier.train): those
    # layers are in eval mode on purpose.
    r"Found \d+ module\(s\) in eval mode at the start of training",
    # A run writes into a checkpoint folder that holds files only when it resumes (a new run
    # into a used run folder is refused before launch): expected, not news.
    r"Checkpoint directory .* exists and is not empty",
)


class _DropMessages(logging.Filter):
    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefixes)


def silence_known_noise() -> None:
    """Install the filters (idempotent)."""
    noisy = {
        **dict.fromkeys(LIGHTNING_LOGGERS, LIGHTNING_NOISE),
        "pytorch_lightning.trainer.connectors.checkpoint_connector": SAVE_NOISE,
        "torch.onnx._internal.exporter._registration": ONNX_NOISE,
    }
    for name, prefixes in noisy.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropMessages) for f in logger.filters):
            logger.addFilter(_DropMessages(prefixes))
    for message in WARNING_NOISE:
        warnings.filterwarnings("ignore", message=message)
    # Optuna's RDB storage runs alembic migrations, which log at INFO on every start; the ONNX
    # exporter's graph passes (onnxscript, onnx_ir) log each rewrite and removal at INFO, which
    # Hydra's logging setup would print.
    for name in ("alembic", "onnxscript", "onnx_ir"):
        logging.getLogger(name).setLevel(logging.WARNING)


@contextmanager
def lightning_silenced() -> Iterator[None]:
    """Lightning's log lines and warnings dropped inside the block: for a trainer built only to
    check the config, whose device lines would otherwise print before the run starts."""
    loggers = [logging.getLogger(name) for name in LIGHTNING_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


#: File extensions whose decoder (libmpg123, inside libsndfile) writes its own diagnostics
#: straight to the process's standard error: ``part2_3_length (1024) too large for available
#: bit count`` at block boundaries of a sound MP3 read in blocks (thousands of lines for an
#: hour), ``Trying to resync...`` for a file that is not MP3 at all. The decode's own outcome,
#: samples or an error naming the file, is what a user can act on.
CHATTY_DECODERS = frozenset({".mp3"})

_native_stderr_lock = threading.Lock()
_native_stderr_users = 0
_native_stderr_saved: int | None = None


@contextmanager
def native_stderr_silenced(active: bool = True) -> Iterator[None]:
    """File descriptor 2 pointed at the null device inside the block, for C libraries that
    write to it directly (Python's ``sys.stderr`` is flushed first, and restored after).

    Nested and concurrent blocks share one redirection, undone when the last one ends.

    Args:
        active: ``False``: a block that changes nothing (a caller's condition, inline).
    """
    global _native_stderr_users, _native_stderr_saved
    if not active:
        yield
        return
    with _native_stderr_lock:
        if _native_stderr_users == 0:
            sys.stderr.flush()
            try:
                saved = os.dup(2)
            except OSError:  # no standard error to silence
                saved = None
            if saved is not None:
                with open(os.devnull, "wb") as null:
                    os.dup2(null.fileno(), 2)
            _native_stderr_saved = saved
        _native_stderr_users += 1
    try:
        yield
    finally:
        with _native_stderr_lock:
            _native_stderr_users -= 1
            if _native_stderr_users == 0 and _native_stderr_saved is not None:
                os.dup2(_native_stderr_saved, 2)
                os.close(_native_stderr_saved)
                _native_stderr_saved = None


@contextmanager
def own_logging_held() -> Iterator[None]:
    """This package's log lines dropped inside the block: for the checks a tool runs before
    Hydra sets up logging (``before_launch``), which its job runs again. Said there too, a
    warning would print twice, the first time unformatted and into no log file."""
    # A tool run as ``python -m genre_lightning.<tool>`` logs as ``__main__``, not under the
    # package: its module's warnings were printed twice.
    loggers = [logging.getLogger(name) for name in ("genre_lightning", "__main__")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
