"""Pictures of a run: confusion matrices and mel spectrograms, for TensorBoard and PNG files.

Drawn with Pillow (which TensorBoard itself requires), so no plotting library is needed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from PIL import Image, ImageDraw
from pytorch_lightning.loggers import TensorBoardLogger

from genre_lightning import runs
from genre_lightning.features.mel import compression
from genre_lightning.files import atomic_write

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
    header = "predicted (column = row number)"
    # A few genres make a grid narrower than its header, which would be cut off.
    width = max(size, MARGIN + int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(header)) + 8)
    image = Image.new("RGB", (width, size + 16), "white")
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN, MARGIN - 36), header, fill="black")
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


def mel_image(mel: torch.Tensor, log: bool | str | None = None) -> np.ndarray:
    """A (1, frames, mels) mel as a greyscale image: dB scale, low mels at the bottom.

    Args:
        mel: A mel image as the front end computes it (before normalisation).
        log: Its compression, as :class:`~genre_lightning.features.mel.MelFeatures` takes
            it: power (``none``), decibels (``db``) or musicnn's ``log10(10000 x + 1)``.
            ``None`` tells power from decibels (a power mel is never negative); musicnn's
            must be named (it is never negative either).
    """
    x = mel.detach().float().cpu()[0]
    name = ("db" if bool((x < 0).any()) else "none") if log is None else compression(log)
    if name == "none":
        level = 10 * torch.log10(x.clamp_min(1e-10))
    else:  # decibels, or musicnn's log10 scale: tenths of decibels above 1e-4 of the power
        level = x if name == "db" else 10 * x
    # 80 dB of dynamic range, as spectrogram plots usually show
    level = level.clamp_min(level.max() - 80)
    scaled = (level - level.min()) / (level.max() - level.min()).clamp_min(1e-6)
    return (scaled.T.flip(0) * 255).to(torch.uint8).numpy()


COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


def curves_image(
    series: Mapping[str, Sequence[tuple[int, float]]],
    title: str = "",
    size: tuple[int, int] = (480, 280),
    x_label: str = "step",
) -> np.ndarray:
    """Draw (x, value) curves on shared axes, e.g. ``train/loss`` and ``val/loss``.

    Args:
        series: Curve name -> points, as :meth:`genre_lightning.runs.Run.scalars` (x: the
            step) or :meth:`~genre_lightning.runs.Run.curves` (x: the epoch) returns.
        title: Text above the plot.
        size: Image (width, height) in pixels.
        x_label: What x counts, written beside its largest value.

    Returns:
        uint8 RGB array (height, width, 3).
    """
    width, height = size
    left, right, top, bottom = 56, 12, 24, 34 + 14 * len(series)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    draw.text((left, 4), title, fill="black")
    points = [p for curve in series.values() for p in curve]
    if not points:
        draw.text((left, height // 2), "no data", fill="black")
        return np.asarray(image)
    steps = [s for s, _ in points]
    values = [v for _, v in points if np.isfinite(v)] or [0.0]
    x0, x1 = min(steps), max(max(steps), min(steps) + 1)
    y0, y1 = min(values), max(values)
    y1 = y1 if y1 > y0 else y0 + 1.0

    def xy(step: int, value: float) -> tuple[float, float]:
        x = left + (step - x0) / (x1 - x0) * (width - left - right)
        y = height - bottom - (value - y0) / (y1 - y0) * (height - top - bottom)
        return x, y

    draw.rectangle([left, top, width - right, height - bottom], outline="black")
    draw.text((4, top), f"{y1:.3g}", fill="black")
    draw.text((4, height - bottom - 10), f"{y0:.3g}", fill="black")
    draw.text((left, height - bottom + 2), str(x0), fill="black")
    draw.text((width - right - 40, height - bottom + 2), f"{x_label} {x1}", fill="black")
    for i, (name, curve) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        line = [xy(s, v) for s, v in sorted(curve) if np.isfinite(v)]
        if len(line) > 1:
            draw.line(line, fill=colour, width=2)
        for x, y in line if len(line) < 40 else []:
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        draw.text((left, height - bottom + 18 + 14 * i), f"-- {name}", fill=colour)
    return np.asarray(image)


def save_png(array: np.ndarray, path: str | Path) -> None:
    """Write an image array (HxW or HxWx3, uint8) as PNG, atomically (never half an image)."""
    with atomic_write(Path(path), "wb") as f:
        Image.fromarray(array).save(f, format="PNG")


def _tensorboard(module: pl.LightningModule) -> TensorBoardLogger | None:
    return next((lg for lg in module.loggers if isinstance(lg, TensorBoardLogger)), None)


def _logged_step(module: pl.LightningModule) -> int:
    """The step Lightning gives the metrics logged now, for the images shown beside them.

    Lightning counts an optimizer step in ``global_step`` at once, but in the step its loggers
    use (its training loop's count of batches that stepped) only after the batch's validation
    run: images at ``global_step`` sat one step after the validation scalars of their epoch.
    """
    loop = module.trainer.fit_loop.epoch_loop
    return int(getattr(loop, "_batches_that_stepped", module.global_step))


def tensorboard_log_examples(
    module: pl.LightningModule,
    mels: torch.Tensor,
    targets: torch.Tensor,
    preds: torch.Tensor,
    class_names: Sequence[str],
    log: bool | str | None = None,
) -> None:
    """Show validation clips' mel spectrograms with their true and predicted genres
    (``log``: the mels' compression, as :func:`mel_image` takes it)."""
    logger = _tensorboard(module)
    if logger is None:
        return
    step = _logged_step(module)
    for i in range(mels.shape[0]):
        tag = f"{runs.VAL_EXAMPLES}/clip_{i}"
        image = mel_image(mels[i], log)
        logger.experiment.add_image(tag, image, step, dataformats="HW")
        caption = f"true: {class_names[int(targets[i])]}, predicted: {class_names[int(preds[i])]}"
        logger.experiment.add_text(tag, caption, step)


def tensorboard_log_confusion(
    module: pl.LightningModule, matrix: torch.Tensor, class_names: Sequence[str]
) -> None:
    """Show the test confusion matrix as an image."""
    logger = _tensorboard(module)
    if logger is not None:
        image = confusion_image(matrix, class_names)
        logger.experiment.add_image(
            runs.TEST_CONFUSION_IMAGE, image, _logged_step(module), dataformats="HWC"
        )
