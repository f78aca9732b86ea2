"""The one owner of a run directory's layout, its ``metrics.json`` keys and metric names.

Every tool writes and reads a run through this module: training (one run per job), the tools
(each run in its own directory), sweep summaries, reports and the walkthrough notebook. A
training run directory (``outputs/<date>/<time>`` or one job of a multirun) holds::

    .hydra/config.yaml   the composed config (and overrides.yaml, hydra.yaml)
    metrics.json         the keys below
    split.csv            where each track went (track, genre, part, path)
    checkpoints/         best.ckpt (best val/acc, the one tested) and last.ckpt (latest epoch)
    tensorboard/         event files
    curves.csv           one row per epoch: the train/* and val/* metrics and the learning rate

A tool's run directory (``outputs/<tool>/<date>/<time>``) holds ``.hydra/``, ``<tool>.log`` and
its results: ``predictions.csv`` (predict); ``metrics.json`` and ``confusion_matrix.png``
(evaluate); ``model.onnx`` or ``model.torchscript.pt`` and its ``.json`` (export).

The configs name these places through the ``gl_run`` resolver (``${gl_run:checkpoints}``), so
this file is the only place that spells them.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

from genre_lightning.errors import UserError
from genre_lightning.files import write_json_atomic

#: Relative places inside a run directory, by name.
LAYOUT = {
    "metrics": "metrics.json",
    "split": "split.csv",
    "curves": "curves.csv",
    "checkpoints": "checkpoints",
    "tensorboard": "tensorboard",
    "hydra": ".hydra",
    "confusion_matrix": "confusion_matrix.png",
    "predictions": "predictions.csv",
    # export: the model file of each format (and <name>.json beside it)
    "onnx": "model.onnx",
    "torchscript": "model.torchscript.pt",
}
#: Checkpoint file stems inside ``checkpoints/`` (ModelCheckpoint's ``filename``).
BEST, LAST = "best", "last"

# Logged metrics (TensorBoard tags, and what a callback may monitor) that metrics.json does not
# hold: the epoch means of training, and validation's loss and chunk accuracy.
TRAIN_LOSS = "train/loss"
TRAIN_ACC = "train/acc"
VAL_LOSS = "val/loss"
#: Accuracy over the validation chunks one by one (chunked data only: ``data.chunk_seconds``).
VAL_CHUNK_ACC = "val/chunk_acc"
#: The F1 score of one genre is logged as ``test/f1/<genre>`` (:func:`f1_tag`).
TEST_F1 = "test/f1"
#: TensorBoard images: the test confusion matrix, and a few validation clips
#: (``val_examples/clip_<i>``, with their true and predicted genres as text).
TEST_CONFUSION_IMAGE = "test/confusion_matrix"
VAL_EXAMPLES = "val_examples"
#: The metrics ``curves.csv`` holds, by their names' start: each epoch's training means, then
#: its validation results (the test's are in metrics.json).
CURVE_PREFIXES = ("train/", "val/")
#: Its other columns: first the epoch and the optimizer steps by its end, last the learning rate.
CURVE_EPOCH, CURVE_STEP, CURVE_LR = "epoch", "step", "lr"

# metrics.json keys. test/acc, test/f1_macro, val/acc, val/acc_best and test/chunk_acc are also
# the TensorBoard tags they are logged under.
TEST_ACC = "test/acc"
TEST_F1_MACRO = "test/f1_macro"
#: The 95 % Wilson score interval of test/acc over the test tracks: how far one test's accuracy
#: can be trusted (10 tracks: 0.8 means 0.49 to 0.94).
TEST_ACC_CI95 = "test/acc_ci95"
TEST_F1_PER_CLASS = "test/f1_per_class"
VAL_ACC_BEST = "val/acc_best"
VAL_ACC = "val/acc"
#: Accuracy over the test chunks one by one (chunked data only: ``data.chunk_seconds``).
TEST_CHUNK_ACC = "test/chunk_acc"
CONFUSION_MATRIX = "confusion_matrix"
CLASS_NAMES = "class_names"
BEST_CKPT = "best_ckpt"
CKPT_PATH = "ckpt_path"
EPOCHS = "epochs"
SEED = "seed"
#: Tracks per part, ``{"train": n, "val": n, "test": n}`` (evaluate's: ``{"test": n}``).
NUM_CLIPS = "num_clips"
SKIPPED_FILES = "skipped_files"
#: What produced the numbers: the code's version and commit, the libraries' versions and the
#: device (:func:`genre_lightning.provenance.provenance`).
PROVENANCE = "provenance"
#: evaluate: the checkpoint's own record of what trained it (null for older checkpoints).
TRAINED_WITH = "trained_with"
#: evaluate: the data config that was tested (the checkpoint's with the changes given, or a
#: data option composed as training does).
DATA_CONFIG = "data_config"
#: What a callback can watch (``monitor``): the epoch metrics training logs (``val/chunk_acc``
#: only when tracks are cut into several chunks), and the counters Lightning adds.
MONITORABLE = (
    TRAIN_LOSS,
    TRAIN_ACC,
    VAL_LOSS,
    VAL_ACC,
    VAL_ACC_BEST,
    VAL_CHUNK_ACC,
    "epoch",
    "step",
)
#: The numbers of a sweep summary; its jobs are ranked by the first (the tested checkpoint's).
RESULTS = (VAL_ACC, VAL_ACC_BEST, TEST_ACC, TEST_F1_MACRO)


def f1_tag(genre: str) -> str:
    """The TensorBoard tag of one genre's test F1 score (``test/f1/<genre>``)."""
    return f"{TEST_F1}/{genre}"


def checkpoint_place(stem: str = BEST) -> str:
    """Where a run keeps a checkpoint, relative to its directory: ``checkpoints/<stem>.ckpt``."""
    return f"{LAYOUT['checkpoints']}/{stem}.ckpt"


#: A checkpoint's path as the tools' examples and messages show it.
EXAMPLE_CKPT = f"RUN/{checkpoint_place(BEST)}"

OmegaConf.register_new_resolver("gl_run", lambda name: _place(name), replace=True)


def _place(name: str) -> str:
    if name in LAYOUT:
        return LAYOUT[name]
    if name in (BEST, LAST):
        return name
    raise KeyError(f"gl_run:{name}: not a run-directory place ({', '.join(LAYOUT)})")


@dataclass(frozen=True)
class Run:
    """One run's directory: where its files are, and what they hold.

    Attributes:
        path: The run directory.
    """

    path: Path

    # -- places ------------------------------------------------------------------------------
    def file(self, name: str) -> Path:
        """The path of a place of :data:`LAYOUT` (e.g. ``"metrics"``) in this run."""
        return self.path / LAYOUT[name]

    def checkpoint(self, stem: str = BEST) -> Path:
        """``checkpoints/best.ckpt`` or ``checkpoints/last.ckpt``."""
        return self.path / checkpoint_place(stem)

    def holds(self, path: str | Path) -> bool:
        """Whether ``path`` is inside this run's directory (links resolved)."""
        return Path(path).resolve().is_relative_to(self.path.resolve())

    # -- contents ----------------------------------------------------------------------------
    @property
    def metrics(self) -> dict[str, Any]:
        """``metrics.json``: test/acc, test/f1_macro, val/acc_best, confusion matrix, ..."""
        return dict(json.loads(self.file("metrics").read_text()))

    def write_metrics(self, metrics: dict[str, Any]) -> Path:
        """Replace ``metrics.json`` (whole: readers never see half of it)."""
        path = self.file("metrics")
        write_json_atomic(path, metrics)
        return path

    @property
    def config(self) -> dict[str, Any]:
        """The run's Hydra config (``.hydra/config.yaml``), as plain dicts.

        Raises:
            UserError: The run was not started through Hydra (e.g. ``train(cfg)`` in Python).
        """
        path = self.file("hydra") / "config.yaml"
        if not path.is_file():
            raise UserError(f"{path} does not exist: this run was not started from the CLI")
        return dict(yaml.safe_load(path.read_text()))

    @property
    def overrides(self) -> list[str]:
        """The command-line overrides of this run (``.hydra/overrides.yaml``); [] if none."""
        path = self.file("hydra") / "overrides.yaml"
        return list(yaml.safe_load(path.read_text()) or []) if path.is_file() else []

    @property
    def best_ckpt(self) -> Path:
        """The checkpoint that was tested: best validation accuracy (else the last epoch)."""
        best = self.metrics.get(BEST_CKPT)
        for path in (best, self.checkpoint(BEST)):
            if path and Path(path).is_file():
                return Path(path)
        return self.checkpoint(LAST)

    def split(self, part: str | None = None) -> list[dict[str, str]]:
        """Rows of ``split.csv`` (track, genre, part, path), optionally of one part only."""
        with open(self.file("split"), newline="") as f:
            rows = list(csv.DictReader(f))
        return [r for r in rows if part is None or r["part"] == part]

    def curves(self) -> dict[str, list[tuple[int, float]]]:
        """The per-epoch curves of ``curves.csv``: column -> [(epoch, value), ...] for every
        metric and the learning rate, in epoch order (an epoch without a value, e.g. one not
        validated, left out). The shape :meth:`scalars` returns, with epochs for steps.

        Raises:
            UserError: The run has no ``curves.csv`` (``callbacks.curves=null``, or a run
                trained before runs wrote one: :meth:`scalars` reads its TensorBoard events).
        """
        path = self.file("curves")
        if not path.is_file():
            raise UserError(
                f"{path} does not exist: the run was trained with callbacks.curves=null or "
                f"before runs wrote it; its TensorBoard events hold the curves (Run.scalars)"
            )
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
        columns = [c for c in (rows[0] if rows else {}) if c not in (CURVE_EPOCH, CURVE_STEP)]
        return {
            column: [(int(r[CURVE_EPOCH]), float(r[column])) for r in rows if r[column]]
            for column in columns
        }

    def scalars(self) -> dict[str, list[tuple[int, float]]]:
        """Every TensorBoard scalar of the run: tag -> [(step, value), ...] in step order, one
        value a step.

        Reads the event files themselves, so what TensorBoard shows is what is returned.

        Raises:
            UserError: The run has no event files (it was trained with ``logger=none``).
        """
        # Imported here: tensorboard's reader is slow to import and only needed for this.
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        folder = self.file("tensorboard")
        if not any(folder.glob("events.out.tfevents.*")):
            raise UserError(
                f"{self.path} has no TensorBoard events in {folder.name}/: it was trained with "
                f"logger=none. Its metrics.json, checkpoints and per-epoch curves "
                f"({self.file('curves').name}: Run.curves) are there."
            )
        events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
        events.Reload()
        # A resumed run logs some steps again (the epoch it resumed in): the value logged last
        # for a step is the one that stands.
        return {
            tag: sorted({e.step: float(e.value) for e in events.Scalars(tag)}.items())
            for tag in events.Tags()["scalars"]
        }


def run_of_checkpoint(ckpt_path: str | Path) -> Run:
    """The training run a checkpoint belongs to (``<run>/checkpoints/x.ckpt`` -> ``<run>``)."""
    parent = Path(ckpt_path).resolve().parent
    return Run(parent.parent if parent.name == LAYOUT["checkpoints"] else parent)


#: What a refused checkpoint file should be replaced with.
CKPT_FIX = (
    f"pass a .ckpt written by genre_lightning training (a run's {LAYOUT['checkpoints']}/ folder)"
)


def not_a_file(path: Path) -> str | None:
    """What is at ``path`` where something is but no regular file: a folder, or a device or
    a pipe (nothing ``torch.save`` could have written). None where nothing is there."""
    if path.is_dir():
        return "is a folder"
    return "is neither a regular file nor a folder" if path.exists() else None


def checkpoint_file(ckpt_path: str | Path) -> Path:
    """``ckpt_path`` (a tool's key) as a path, if a file is there.

    Raises:
        UserError: Nothing, or a folder, is there.
    """
    path = Path(ckpt_path)
    if not path.is_file():
        # A run folder (or its checkpoints/ folder) given for its checkpoint: name the file.
        best = Run(path).checkpoint(BEST)
        held = [p for p in (best, path / best.name) if p.is_file()]
        fix = f"give its file, e.g. ckpt_path={held[0]}" if held else CKPT_FIX
        what = not_a_file(path) or f"no checkpoint file at {path.resolve()}"
        raise UserError(f"ckpt_path={ckpt_path}: {what}; {fix}")
    return path


def load_run(path: str | Path) -> Run:
    """Open a finished run directory.

    Raises:
        UserError: ``path`` is not a finished run (no ``metrics.json``).
    """
    run = Run(Path(path))
    if not run.file("metrics").is_file():
        raise UserError(
            f"{run.path} is not a finished run directory (no {LAYOUT['metrics']}); pass a "
            f"directory under outputs/ whose training finished"
        )
    return run


def finished_runs(root: str | Path) -> list[Run]:
    """Every finished training run under ``root`` (recursively), oldest first.

    A training run has ``checkpoints/`` beside ``metrics.json`` (an evaluation's has not).
    """
    found = (
        p.parent
        for p in Path(root).glob(f"**/{LAYOUT['metrics']}")
        if (p.parent / LAYOUT["checkpoints"]).is_dir()
    )
    return [Run(p) for p in sorted(found, key=lambda p: (p / LAYOUT["metrics"]).stat().st_mtime)]


def latest_run(root: str | Path = "outputs") -> Run:
    """The most recently finished training run under ``root``.

    Raises:
        UserError: No finished run is found.
    """
    runs = finished_runs(root)
    if not runs:
        raise UserError(f"no finished run under {Path(root).resolve()}; train one first")
    return runs[-1]
