"""The training curves as a table: one row per epoch in the run folder's ``curves.csv``.

TensorBoard shows the curves; a paper's figure wants their numbers. Each epoch's row holds the
epoch metrics training logs (``train/*``, ``val/*``) and the learning rate, and the file is
rewritten whole, atomically, at the end of every epoch, so a killed run leaves the table of its
completed epochs. The rows travel in the checkpoints, so a resumed run's table is the
uninterrupted run's: the epochs it trains again replace the rows they had, not add to them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from genre_lightning import runs
from genre_lightning.files import write_csv_atomic

#: The table's first and last columns (runs.py names them); the metrics lie between.
EPOCH, STEP, LR = runs.CURVE_EPOCH, runs.CURVE_STEP, runs.CURVE_LR


class EpochCurves(pl.Callback):
    """Writes ``curves.csv``: per epoch, its number, the optimizer steps done by its end, every
    ``train/*`` and ``val/*`` metric logged, and the learning rate of its last step.

    Args:
        path: The table's file (``<run dir>/curves.csv``).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, float | int]] = []
        self.validated = False

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Lightning keeps the last logged value of every metric: without this, an epoch that
        # is not validated (trainer.check_val_every_n_epoch) would repeat the last one's.
        self.validated = self.validated or not trainer.sanity_checking

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Called before the checkpoint callbacks' own hook (Lightning runs the monitoring
        # callbacks last), so the checkpoint written at this epoch's end holds its row.
        row: dict[str, float | int] = {EPOCH: trainer.current_epoch, STEP: trainer.global_step}
        prefixes = runs.CURVE_PREFIXES if self.validated else runs.CURVE_PREFIXES[:1]
        self.validated = False
        for name, value in trainer.callback_metrics.items():
            if name.startswith(prefixes):
                row[name] = _number(value)
        if trainer.optimizers:  # the rate of the epoch's last step (schedulers step after this)
            row[LR] = float(trainer.optimizers[0].param_groups[0]["lr"])
        # A row per epoch: an epoch trained again after a resume replaces its row.
        self.rows = [r for r in self.rows if r[EPOCH] < row[EPOCH]] + [row]
        if trainer.is_global_zero:
            write_csv_atomic(self.path, _columns(self.rows), self.rows)

    def state_dict(self) -> dict[str, Any]:
        return {"rows": [dict(r) for r in self.rows]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = [dict(r) for r in state_dict.get("rows", [])]


def _number(value: Any) -> float:
    """A logged value as a float; a float32 one as the shortest decimal that reads back as the
    same float32 (0.38, not 0.3799999952316284)."""
    if isinstance(value, torch.Tensor) and value.dtype != torch.float64:
        return float(str(np.float32(value.item())))
    return float(value)


def _columns(rows: list[dict[str, float | int]]) -> list[str]:
    """The epoch, the step, the ``train/*`` then the ``val/*`` metrics (each in the order
    first logged), then the learning rate."""
    logged: dict[str, None] = {}
    for row in rows:
        logged.update(dict.fromkeys(row))
    metrics = [k for prefix in runs.CURVE_PREFIXES for k in logged if k.startswith(prefix)]
    return [EPOCH, STEP, *metrics, *([LR] if LR in logged else [])]
