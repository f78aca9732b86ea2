"""Sinc resampling of a signal that arrives block by block, equal to one call on all of it.

:class:`~genre_lightning.audio.WindowReader` decodes recordings of any length through it, one
block of input at a time.
"""

from __future__ import annotations

import math

import numpy as np
from torchaudio.transforms import Resample


class StreamingResampler:
    """torchaudio's sinc resampling of a long signal fed in blocks, with the whole-signal result.

    :func:`torchaudio.functional.resample` pads the signal with zeros and convolves it with a
    bank of ``new`` filters at a stride of ``orig`` input samples (rates divided by their
    gcd): output frame ``k`` reads input samples ``k*orig - width`` to ``k*orig + orig + width``.
    This class keeps the input samples that later frames still read (at most ``2*width + orig``
    plus one block) and computes every frame as soon as its input is complete, so the
    concatenated outputs equal one call on the whole signal, zero padding at both ends included
    (to float32 rounding: torchaudio's transform computes the filters in float64).

    The arithmetic is numpy's: on one channel of a block it is a small matrix product, which
    torch would spread over its thread pool for no gain (and much loss on a busy machine).

    Args:
        orig_freq: The input rate.
        new_freq: The output rate.
    """

    def __init__(self, orig_freq: int, new_freq: int) -> None:
        gcd = math.gcd(orig_freq, new_freq)
        self.orig, self.new = orig_freq // gcd, new_freq // gcd
        transform = Resample(orig_freq, new_freq)
        # (new, 2*width + orig) -> transposed for frames @ filters
        self.filters = transform.kernel[:, 0, :].numpy().T.copy()
        self.width: int = transform.width
        self.pending = np.zeros(self.width, np.float32)  # torchaudio pads zeros at the start
        self.seen = 0  # input samples fed
        self.made = 0  # output samples returned

    def _frames(self) -> np.ndarray:
        """Every output whose input is complete; drops input no later frame reads."""
        span = 2 * self.width + self.orig
        count = (self.pending.size - span) // self.orig + 1
        if count <= 0:
            return np.zeros(0, np.float32)
        # The strided convolution as one matrix product over overlapping views of the input.
        windows = np.lib.stride_tricks.sliding_window_view(self.pending, span)[:: self.orig]
        out = windows[:count] @ self.filters  # (count, new): frame k's output samples
        self.pending = self.pending[count * self.orig :]
        return out.reshape(-1)

    def feed(self, block: np.ndarray) -> np.ndarray:
        """Resample the next block of input; returns the output samples it completed."""
        self.seen += block.size
        self.pending = np.concatenate([self.pending, block.astype(np.float32, copy=False)])
        out = self._frames()
        self.made += out.size
        return out

    def flush(self) -> np.ndarray:
        """The last output samples (the end of the signal, zero-padded as torchaudio does)."""
        self.pending = np.concatenate([self.pending, np.zeros(self.width + self.orig, np.float32)])
        total = math.ceil(self.new * self.seen / self.orig)
        out = self._frames()[: max(0, total - self.made)]
        self.made += out.size
        return out
