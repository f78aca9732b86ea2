"""A finished training run read back from its directory: metrics, curves, checkpoints.

A run directory (``outputs/<date>/<time>`` or one job of a multirun) holds ``metrics.json``,
``.hydra/config.yaml``, ``checkpoints/`` and ``tensorboard/`` event files. This is what the
walkthrough notebook and other analysis code use instead of parsing those files themselves.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from genre_lightning.errors import UserError


@dataclass(frozen=True)
class Run:
    """One training run's directory.

    Attributes:
        path: The run directory.
    """

    path: Path

    @property
    def metrics(self) -> dict[str, Any]:
        """``metrics.json``: test/acc, test/f1_macro, val/acc_best, confusion matrix, ..."""
        return dict(json.loads((self.path / "metrics.json").read_text()))

    @property
    def config(self) -> dict[str, Any]:
        """The run's Hydra config (``.hydra/config.yaml``), as plain dicts.

        Raises:
            UserError: The run was not started through Hydra (e.g. ``train(cfg)`` in Python).
        """
        path = self.path / ".hydra" / "config.yaml"
        if not path.is_file():
            raise UserError(f"{path} does not exist: this run was not started from the CLI")
        return dict(yaml.safe_load(path.read_text()))

    @property
    def best_ckpt(self) -> Path:
        """The checkpoint that was tested: best validation accuracy (else the last epoch)."""
        best = self.metrics.get("best_ckpt")
        for path in (best, self.path / "checkpoints" / "best.ckpt"):
            if path and Path(path).is_file():
                return Path(path)
        return self.path / "checkpoints" / "last.ckpt"

    def split(self, part: str | None = None) -> list[dict[str, str]]:
        """Rows of ``split.csv`` (track, genre, part, path), optionally of one part only."""
        with open(self.path / "split.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        return [r for r in rows if part is None or r["part"] == part]

    def scalars(self) -> dict[str, list[tuple[int, float]]]:
        """Every TensorBoard scalar of the run: tag -> [(step, value), ...] in step order.

        Reads the event files themselves, so what TensorBoard shows is what is returned.

        Raises:
            UserError: The run has no event files (it was trained with ``logger=none``).
        """
        # Imported here: tensorboard's reader is slow to import and only needed for this.
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        if not any((self.path / "tensorboard").glob("events.out.tfevents.*")):
            raise UserError(
                f"{self.path} has no TensorBoard events in tensorboard/: it was trained with "
                f"logger=none. Its metrics.json and checkpoints are there; curves need a run "
                f"with the default logger=tensorboard."
            )
        events = EventAccumulator(str(self.path / "tensorboard"), size_guidance={"scalars": 0})
        events.Reload()
        return {
            tag: [(e.step, float(e.value)) for e in events.Scalars(tag)]
            for tag in events.Tags()["scalars"]
        }


def load_run(path: str | Path) -> Run:
    """Open a finished run directory.

    Raises:
        UserError: ``path`` is not a finished run (no ``metrics.json``).
    """
    run = Run(Path(path))
    if not (run.path / "metrics.json").is_file():
        raise UserError(
            f"{run.path} is not a finished run directory (no metrics.json); pass a directory "
            f"under outputs/ whose training finished"
        )
    return run


def latest_run(root: str | Path = "outputs") -> Run:
    """The most recently finished run under ``root`` (searched recursively).

    Raises:
        UserError: No finished run is found.
    """
    # A training run has checkpoints/ beside metrics.json (evaluate's output folder does not).
    found = sorted(
        (p for p in Path(root).glob("**/metrics.json") if (p.parent / "checkpoints").is_dir()),
        key=lambda p: p.stat().st_mtime,
    )
    if not found:
        raise UserError(f"no finished run under {Path(root).resolve()}; train one first")
    return Run(found[-1].parent)
