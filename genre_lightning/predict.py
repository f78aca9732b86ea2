"""Classify audio files with a trained checkpoint; one CSV row per file, written as it is done.

Usage (a Hydra app: ``--help``, ``--cfg job`` and ``-m`` sweeps work as for training)::

    python -m genre_lightning.predict ckpt_path=RUN/checkpoints/best.ckpt input=FILE_OR_DIR \\
        [output=predictions.csv] [device=auto|cpu|cuda|cuda:N]

The config is ``conf/predict.yaml``; by default the CSV goes to the tool's own run directory,
``outputs/predict/<date>/<time>/predictions.csv``. A directory is searched recursively for
audio files (wav, au, flac, ogg, mp3, aiff). Each file is decoded block by block and
classified window by window (training-length windows, logits averaged), so memory does not grow
with its length; the ``seconds`` and ``windows`` columns say how much of it was used.

CSV columns: file, genre, confidence, error, seconds, windows, then one probability per genre.
A file that cannot be read or decoded gets a row with only ``error`` filled, saying why. The
exit status is 0 when at least one file was classified, 2 otherwise.

**What survives a failure.** Rows are appended to ``<output>.partial`` and flushed as each file
is done; the file is renamed to ``<output>`` only when every file has its row. If the run is
killed (SIGKILL, out of memory), interrupted (Ctrl-C, SIGTERM) or fails on a later file,
``<output>.partial`` keeps a complete row for every file finished before that (a last row cut
by SIGKILL mid-write can be incomplete); a rerun writes it afresh. File names are written
exactly: names that are not valid UTF-8 keep their bytes (``errors="surrogateescape"``; read the
CSV back the same way and ``os.fsencode`` gives the file's path).

torch and Lightning take seconds to import, so they are imported by the functions that use
them: ``--help``, ``--cfg job`` and a bad command line or output path answer at once.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import os
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from genre_lightning import runs
from genre_lightning.audio_files import AUDIO_EXTENSIONS, audio_files_under, undecodable_note
from genre_lightning.cli.app import hydra_app
from genre_lightning.cli.command_line import check_tool_files
from genre_lightning.cli.console import say
from genre_lightning.errors import EXIT_CTRL_C, EXIT_SIGTERM, Interrupted, UserError
from genre_lightning.files import check_writable, partial_path, streaming_write
from genre_lightning.validate import Check, device_name, text

if TYPE_CHECKING:
    from genre_lightning.inference import Classifier

log = logging.getLogger(__name__)

#: The columns before the per-genre probabilities.
COLUMNS = ("file", "genre", "confidence", "error", "seconds", "windows")
#: The output's file name, suggested where another is refused.
EXAMPLE = runs.LAYOUT["predictions"]
#: Files listed by name under each note of the console summary (all are in the CSV).
LISTED_FILES = 10


def find_audio(path: Path) -> list[Path]:
    """The file itself, or every audio file under a directory (at any depth, hidden files and
    folders left out; sorted).

    Raises:
        UserError: The path does not exist, or a directory holds no audio file.
    """
    if path.is_file():
        return [path]  # named explicitly: tried whatever its extension
    if not path.is_dir():
        what = runs.not_a_file(path)  # a device, a pipe or a socket: nothing to decode
        if what is not None:
            raise UserError(f"input={path}: {what}; give an audio file or a folder of them")
        raise UserError(f"input={path}: no such file or directory")
    undecodable: list[Path] = []
    files = sorted(audio_files_under(path, undecodable=undecodable))
    if not files:
        extensions = ", ".join(sorted(AUDIO_EXTENSIONS))
        held = f"; it holds {undecodable_note(undecodable)}" if undecodable else ""
        raise UserError(f"input={path}: no audio files ({extensions}) in this directory{held}")
    if undecodable:
        log.warning("skipped %s", undecodable_note(undecodable))
    return files


def shown(path: str | Path) -> str:
    """A file name for the console and the log: bytes that are not UTF-8 as ``\\xNN``.

    A name read from the file system may hold such bytes (as lone surrogates); printed as is,
    it would stop the program with a UnicodeEncodeError.
    """
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def predict_file(classifier: Classifier, path: Path) -> dict[str, Any]:
    """The CSV row of one file: prediction, probabilities and how much was used, or the error."""
    from genre_lightning.audio import SILENCE_PEAK, SILENT, AudioDecodeError, WindowReader

    row: dict[str, Any] = dict.fromkeys([*COLUMNS, *classifier.class_names], "")
    row["file"] = str(path)
    reader = WindowReader(path, classifier.sample_rate, classifier.window_samples)
    try:
        probs = classifier.classify_windows(reader)
    except AudioDecodeError as exc:
        row["error"] = exc.reason
        return row
    if not bool(probs.isfinite().all()):  # NaN probabilities would name an arbitrary genre
        row["error"] = "the network's output is not finite for this file"
        return row
    if reader.peak <= SILENCE_PEAK:  # a network names a genre for anything, silence included
        row["error"] = f"{SILENT}, no music to classify"
        return row
    best = int(probs.argmax())
    row.update(
        genre=classifier.class_names[best],
        confidence=f"{float(probs[best]):.6g}",
        seconds=f"{reader.samples / classifier.sample_rate:.3f}",
        windows=reader.windows,
    )
    row.update({n: f"{float(p):.6g}" for n, p in zip(classifier.class_names, probs, strict=True)})
    return row


def predict(
    ckpt_path: str | Path, input: str | Path, output: str | Path, device: str = "auto"
) -> list[dict[str, Any]]:
    """Classify a file or every audio file under a folder; stream the rows to ``output``.

    The output path and the input are checked before the checkpoint is read.

    Args:
        ckpt_path: A checkpoint written by training.
        input: An audio file or a folder.
        output: The CSV file (its folder is created).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.

    Returns:
        The rows written, in file order.

    Raises:
        UserError: Bad output, input, checkpoint or device; or no file could be classified.
        Interrupted: Ctrl-C or SIGTERM; the rows so far are in ``<output>.partial``.
    """
    reads = {"ckpt_path": ckpt_path, "input": input}
    output = check_not_audio(check_writable(output, "output", example=EXAMPLE, reads=reads))
    files = find_audio(Path(input))
    from genre_lightning.inference import load_classifier, resolve_device  # after the quick checks

    target = resolve_device(device)
    classifier = load_classifier(ckpt_path).to(target)
    output.parent.mkdir(parents=True, exist_ok=True)
    columns = [*COLUMNS, *classifier.class_names]
    rows: list[dict[str, Any]] = []
    partial = partial_path(output)
    try:
        with (
            _sigterm_interrupts(),
            streaming_write(output, encoding="utf-8", errors="surrogateescape", newline="") as f,
        ):
            writer = csv.DictWriter(f, fieldnames=columns)
            writer.writeheader()
            for path in files:
                row = predict_file(classifier, path)
                writer.writerow(row)
                f.flush()  # the row is on disk before the next file starts
                rows.append(row)
    except KeyboardInterrupt as exc:
        raise Interrupted(
            f"stopped after {len(rows)} of {len(files)} file(s); their rows are in {partial}",
            EXIT_SIGTERM if isinstance(exc, _Sigterm) else EXIT_CTRL_C,
        ) from None
    except Exception:
        log.error(
            "failed after %d of %d file(s); their rows are in %s", len(rows), len(files), partial
        )
        raise
    finally:
        classifier.store_features()  # what was computed stays, even for a stopped run
    _summarise(rows, classifier, output)
    return rows


class _Sigterm(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: the rows so far stay and the program says where."""


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`_Sigterm` (only the main thread has signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        raise _Sigterm()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _listed(lines: list[str], output: Path) -> None:
    """Print the first :data:`LISTED_FILES` of ``lines``, and how many more ``output`` has."""
    for line in lines[:LISTED_FILES]:
        say(f"    {line}")
    if len(lines) > LISTED_FILES:
        say(f"    ... and {len(lines) - LISTED_FILES} more (columns seconds, windows of {output})")


def _summarise(rows: list[dict[str, Any]], classifier: Classifier, output: Path) -> None:
    failed = [r for r in rows if r["error"]]
    counts = Counter(r["genre"] for r in rows if not r["error"])
    say(f"classified {len(rows) - len(failed)} of {len(rows)} file(s) -> {output}")
    if counts:
        say("  " + ", ".join(f"{g}: {n}" for g, n in counts.most_common()))
    window = classifier.window_samples / classifier.sample_rate
    done = [r for r in rows if not r["error"]]
    # What was not heard as trained: a tail left out, or a file padded up to one window, by a
    # tenth of a window or more. Less is not worth naming: GTZAN's 30.01 s clips, padded to
    # the paper's 30.05 s window in training too, lose or gain a few frames.
    slack = window / 10
    cut = [r for r in done if float(r["seconds"]) - int(r["windows"]) * window >= slack]
    short = [r for r in done if window - float(r["seconds"]) >= slack]
    if cut:
        say(
            f"  {len(cut)} file(s) end in a part shorter than one {window:g} s window, left out "
            f"(each file is the mean of its whole windows):"
        )
        _listed(
            [
                f"{shown(r['file'])}: {r['windows']} windows, "
                f"{int(r['windows']) * window:.1f} of {float(r['seconds']):.1f} s"
                for r in cut
            ],
            output,
        )
    if short:
        say(
            f"  {len(short)} file(s) shorter than one {window:g} s window, classified "
            f"zero-padded (unlike what the network was trained on: less certain):"
        )
        _listed([f"{shown(r['file'])}: {float(r['seconds']):.1f} s" for r in short], output)
    for row in failed:
        say(f"  not classified: {shown(row['file'])}: {row['error']}")
    if len(failed) == len(rows):
        raise UserError(
            f"none of the {len(rows)} file(s) could be classified (see the error column of "
            f"{output})"
        )


#: The keys of conf/predict.yaml (``paths.*``: the ``RUN_CHECKS`` of every tool).
CHECKS: dict[str, Check] = {
    "ckpt_path": text(runs.EXAMPLE_CKPT),
    # One input per run: several are a sweep (-m input=a,b), one job each.
    "input": text("song.mp3 (a file or a folder; several: -m input=dir1,dir2)"),
    "device": device_name,
    "output": text(EXAMPLE),
}


def _job(cfg: DictConfig) -> None:
    predict(cfg.ckpt_path, cfg.input, cfg.output, cfg.device)


def _before_launch(cfg: DictConfig, given: list[str], here: bool) -> None:
    """:func:`predict`'s quick checks before the run folder is written: output, checkpoint
    file, input."""
    output = check_tool_files(cfg, here, {"example": EXAMPLE})
    if output is not None:
        check_not_audio(output)
    if here:
        find_audio(Path(cfg.input))


def check_not_audio(output: Path) -> Path:
    """Refuse an ``output`` that is an audio file: the CSV would replace a recording."""
    if output.is_file() and output.suffix.lower() in AUDIO_EXTENSIONS:
        raise UserError(
            f"output={output}: is an audio file, which the predictions would replace; give a "
            f"CSV file, e.g. output={output.with_name(EXAMPLE)}"
        )
    return output


#: ``python -m genre_lightning.predict`` / ``genre-lightning-predict``.
main = hydra_app("predict", _job, CHECKS, before_launch=_before_launch)


if __name__ == "__main__":
    main()
