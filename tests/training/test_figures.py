"""figures.py: confusion matrices and mel images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genre_lightning.training.figures import (
    CELL,
    MARGIN,
    confusion_image,
    curves_image,
    mel_image,
    save_png,
)


def test_confusion_image_shades_by_row_share(tmp_path: Path) -> None:
    matrix = torch.tensor([[9, 1, 0], [0, 0, 5], [2, 2, 2]])
    image = confusion_image(matrix, ["a", "b", "c"])
    assert image.dtype == np.uint8 and image.shape[2] == 3

    def cell_colour(i: int, j: int) -> np.ndarray:  # a pixel near the cell's corner, off the text
        return image[MARGIN + i * CELL + 2, MARGIN + j * CELL + CELL - 3]

    assert cell_colour(1, 2)[0] == 0  # 5/5: full shade
    assert cell_colour(0, 2)[0] == 255  # 0/10: white
    assert cell_colour(0, 0)[0] < cell_colour(0, 1)[0]  # 9/10 darker than 1/10
    save_png(image, tmp_path / "cm.png")
    assert Image.open(tmp_path / "cm.png").size == (image.shape[1], image.shape[0])
    # Three genres make a grid narrower than the header above it: the image widens to hold
    # it, so its text ends before the right edge rather than at it.
    header = image[MARGIN - 38 : MARGIN - 22]
    inked = np.nonzero((header < 200).any(axis=(0, 2)))[0]
    assert inked.size and inked.max() < image.shape[1] - 4


def test_mel_image_puts_low_mels_at_the_bottom() -> None:
    mel = torch.full((1, 20, 8), 1e-6)
    mel[0, :, 0] = 1.0  # energy only in the lowest mel band
    image = mel_image(mel)
    assert image.shape == (8, 20) and image.dtype == np.uint8
    assert image[-1].min() == 255 and image[0].max() == 0


def test_mel_image_reads_each_compression_as_the_same_levels() -> None:
    power = 10 ** (4 * torch.rand(1, 30, 16, generator=torch.Generator().manual_seed(0)) - 2)
    reference = mel_image(power).astype(int)
    decibels = 10 * torch.log10(power)
    musicnn = torch.log10(1 + 10000 * power)  # musicnn's input: log10(10000 x + 1)
    assert np.abs(mel_image(decibels, "db").astype(int) - reference).max() <= 1
    assert np.abs(mel_image(musicnn, "musicnn").astype(int) - reference).max() <= 2
    # Never negative, musicnn's features passed for a power mel and were logged twice over.
    assert np.abs(mel_image(musicnn).astype(int) - reference).max() > 20


def test_curves_image_draws_each_series() -> None:
    series = {"train/loss": [(0, 2.0), (5, 1.0), (10, 0.5)], "val/loss": [(5, 1.5), (10, 1.2)]}
    image = curves_image(series, title="loss", size=(300, 200))
    assert image.shape == (200, 300, 3)
    colours = {tuple(int(c) for c in px) for px in image.reshape(-1, 3)}
    assert (31, 119, 180) in colours and (214, 39, 40) in colours  # both curves drawn
    empty = curves_image({}, title="nothing")
    assert empty.shape == (280, 480, 3)
