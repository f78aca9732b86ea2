"""Checkpoint files that are never half-written."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from genre_lightning.errors import UserError


class CheckpointWriteError(UserError):
    """A checkpoint could not be written (disk full, unwritable run directory)."""


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes each checkpoint to a temporary file in the same folder, then renames it.

    A run killed while saving leaves the previous ``last.ckpt`` intact (a rename is atomic on
    POSIX file systems), so resuming always finds a complete checkpoint.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        """Save ``checkpoint`` to ``path`` atomically."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as f:
                torch.save(checkpoint, f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):  # the folder itself may be what failed
                tmp.unlink(missing_ok=True)
            raise CheckpointWriteError(
                f"cannot write checkpoint {path} ({exc}). Free disk space or make the run "
                f"directory writable (hydra.run.dir=...); the previous checkpoints are intact."
            ) from exc
