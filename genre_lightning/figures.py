"""Pictures of a run: confusion matrices and mel spectrograms, for TensorBoard and PNG files.

Drawn with Pillow (which TensorBoard itself requires), so no plotting library is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from PIL import Image, ImageDraw
from pytorch_lightning.loggers import TensorBoardLogger

CELL = 34  # pixels per confusion-matrix cell
MARGIN = 84  # room for the class names


def confusion_image(matrix: torch.Tensor, class_names: Sequence[str]) -> np.ndarray:
    """Render a confusion matrix (rows: true genre, columns: predicted) as an RGB array.

    Cells are shaded by the share of each true genre's clips (row-normalised) and show counts.

    Returns:
        uint8 array (height, width, 3).
    """
    counts = matrix.detach().cpu().to(torch.float64)
    shares = counts / counts.sum(dim=1, keepdim=True).clamp_min(1)
    n = len(class_names)
    size = MARGIN + n * CELL + 8
    image = Image.new("RGB", (size, size + 16), "white")
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN, MARGIN - 36), "predicted (column = row number)", fill="black")
    draw.text((4, MARGIN - 16), "true", fill="black")
    for j in range(n):  # column heads: the row numbers, since names do not fit a cell
        draw.text((MARGIN + j * CELL + CELL // 3, MARGIN - 16), str(j), fill="black")
    for i, name in enumerate(class_names):
        top = MARGIN + i * CELL
        draw.text((4, top + CELL // 3), f"{i} {name}"[:13], fill="black")
        for j in range(n):
            shade = int(255 * (1 - float(shares[i, j])))
            left = MARGIN + j * CELL
            draw.rectangle([left, top, left + CELL - 1, top + CELL - 1], fill=(shade, shade, 255))
            colour = "white" if shade < 128 else "black"
            draw.text((left + 4, top + CELL // 3), str(int(counts[i, j])), fill=colour)
    return np.asarray(image)


def mel_image(mel: torch.Tensor) -> np.ndarray:
    """A (1, frames, mels) power mel as a greyscale image: dB scale, low mels at the bottom."""
    db = 10 * torch.log10(mel.detach().float().cpu()[0].clamp_min(1e-10))
    db = db.clamp_min(db.max() - 80)  # 80 dB of dynamic range, as spectrogram plots usually show
    scaled = (db - db.min()) / (db.max() - db.min()).clamp_min(1e-6)
    return (scaled.T.flip(0) * 255).to(torch.uint8).numpy()


def save_png(array: np.ndarray, path: str | Path) -> None:
    """Write an image array (HxW or HxWx3, uint8) as PNG."""
    Image.fromarray(array).save(path)


def _tensorboard(module: pl.LightningModule) -> TensorBoardLogger | None:
    return next((lg for lg in module.loggers if isinstance(lg, TensorBoardLogger)), None)


def tensorboard_log_examples(
    module: pl.LightningModule,
    mels: torch.Tensor,
    targets: torch.Tensor,
    preds: torch.Tensor,
    class_names: Sequence[str],
) -> None:
    """Show validation clips' mel spectrograms with their true and predicted genres."""
    logger = _tensorboard(module)
    if logger is None:
        return
    for i in range(mels.shape[0]):
        tag = f"val_examples/clip_{i}"
        logger.experiment.add_image(tag, mel_image(mels[i]), module.global_step, dataformats="HW")
        caption = f"true: {class_names[int(targets[i])]}, predicted: {class_names[int(preds[i])]}"
        logger.experiment.add_text(tag, caption, module.global_step)


def tensorboard_log_confusion(
    module: pl.LightningModule, matrix: torch.Tensor, class_names: Sequence[str]
) -> None:
    """Show the test confusion matrix as an image."""
    logger = _tensorboard(module)
    if logger is not None:
        image = confusion_image(matrix, class_names)
        logger.experiment.add_image(
            "test/confusion_matrix", image, module.global_step, dataformats="HWC"
        )
