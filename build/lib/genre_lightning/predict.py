"""Classify audio files with a trained checkpoint; one CSV row per file.

Usage::

    python -m genre_lightning.predict ckpt_path=RUN/checkpoints/best.ckpt input=FILE_OR_DIR \\
        [output=predictions.csv] [device=auto|cpu|cuda]

A directory is searched recursively for audio files (wav, au, flac, ogg, mp3, aiff). Recordings
of any length are cut into windows of the training clip length and their logits averaged.
CSV columns: file, genre, confidence, error, then one probability per genre. A file that cannot
be decoded gets a row with only ``error`` filled; the exit status is 0 when at least one file
was classified, 2 otherwise.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import torch

from genre_lightning.audio import AUDIO_EXTENSIONS, AudioDecodeError, load_audio
from genre_lightning.cli import run_main
from genre_lightning.errors import UserError
from genre_lightning.files import write_csv_atomic
from genre_lightning.inference import Classifier, load_classifier

DEFAULTS: dict[str, Any] = {
    "ckpt_path": None,
    "input": None,
    "output": "predictions.csv",
    "device": "auto",
}


def find_audio(path: Path) -> list[Path]:
    """The file itself, or every audio file under a directory (recursively, sorted).

    Raises:
        UserError: The path does not exist, or a directory holds no audio file.
    """
    if path.is_file():
        return [path]  # named explicitly: tried whatever its extension
    if not path.is_dir():
        raise UserError(f"input={path}: no such file or directory")
    files = sorted(
        p
        for p in path.rglob("*")
        if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".")
    )
    if not files:
        extensions = ", ".join(sorted(AUDIO_EXTENSIONS))
        raise UserError(f"input={path}: no audio files ({extensions}) in this directory")
    return files


def predict_files(classifier: Classifier, files: list[Path]) -> list[dict[str, Any]]:
    """One CSV row per file: prediction and probabilities, or the decode error."""
    rows = []
    for path in files:
        row: dict[str, Any] = {"file": str(path), "genre": "", "confidence": "", "error": ""}
        row.update(dict.fromkeys(classifier.class_names, ""))
        try:
            wave = load_audio(path, classifier.sample_rate)
        except AudioDecodeError as exc:
            row["error"] = exc.reason
            rows.append(row)
            continue
        probs = classifier.classify(wave)
        best = int(probs.argmax())
        row.update(genre=classifier.class_names[best], confidence=f"{float(probs[best]):.6g}")
        row.update(
            {n: f"{float(p):.6g}" for n, p in zip(classifier.class_names, probs, strict=True)}
        )
        rows.append(row)
    return rows


def write_csv(rows: list[dict[str, Any]], class_names: list[str], path: Path) -> None:
    """Write the rows with the columns in a fixed order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(path, ["file", "genre", "confidence", "error", *class_names], rows)


def _device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise UserError(f"device={name}: use auto, cpu or cuda")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device={name}, but no CUDA device is available; use device=cpu")
    return name


def _predict(args: dict[str, Any]) -> int:
    files = find_audio(Path(args["input"]))
    classifier = load_classifier(args["ckpt_path"]).to(_device(args["device"]))
    rows = predict_files(classifier, files)
    output = Path(args["output"])
    write_csv(rows, classifier.class_names, output)

    failed = [r for r in rows if r["error"]]
    counts = Counter(r["genre"] for r in rows if not r["error"])
    print(f"classified {len(rows) - len(failed)} of {len(rows)} file(s) -> {output}")
    if counts:
        print("  " + ", ".join(f"{g}: {n}" for g, n in counts.most_common()))
    for row in failed:
        print(f"  not decoded: {row['file']}: {row['error']}")
    if len(failed) == len(rows):
        raise UserError(f"none of the {len(rows)} file(s) could be decoded (see {output})")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    return run_main(_predict, argv, defaults=DEFAULTS, required=("ckpt_path", "input"))


if __name__ == "__main__":
    sys.exit(main())
