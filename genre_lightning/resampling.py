"""Sinc resampling of a signal that arrives block by block, equal to one call on all of it.

:class:`~genre_lightning.audio.WindowReader` decodes recordings of any length through it, one
block of input at a time.
"""

from __future__ import annotations

import logging
import math

import numpy as np
from torchaudio.transforms import Resample

log = logging.getLogger(__name__)

#: The most filter-bank entries (``new * orig`` after dividing both rates by their gcd) a
#: conversion may take: every common rate to and from 22050 or 16000 Hz needs under 200,000.
#: A rate sharing few factors with the target (7919 or 44099 Hz) would need the product of the
#: two rates: gigabytes of filters, and the process killed for memory.
MAX_FILTER_ENTRIES = 1 << 22
#: How far (a fraction of the rate) :func:`workable_rate` looks for a rate to read a file at.
_MAX_RATE_ERROR = 0.01
_warned: set[tuple[int, int]] = set()


def workable_rate(orig_freq: int, new_freq: int) -> int:
    """The rate to resample a recording at ``orig_freq`` from: ``orig_freq`` itself, or the
    nearest rate whose filter bank has at most :data:`MAX_FILTER_ENTRIES` entries.

    Reading a 7919 Hz file as 7920 Hz plays it 0.013 % fast, far below what a genre depends on;
    an exact conversion would need 22050 filters of 7919 taps (1.4 GB) at construction. Warned
    once per pair of rates.
    """

    def entries(rate: int) -> int:
        gcd = math.gcd(rate, new_freq)
        return (rate // gcd) * (new_freq // gcd)

    if entries(orig_freq) <= MAX_FILTER_ENTRIES:
        return orig_freq
    for step in range(1, max(1, int(orig_freq * _MAX_RATE_ERROR)) + 1):
        for rate in (orig_freq - step, orig_freq + step):
            if rate > 0 and entries(rate) <= MAX_FILTER_ENTRIES:
                if (orig_freq, new_freq) not in _warned:
                    _warned.add((orig_freq, new_freq))
                    log.warning(
                        "audio at %d Hz is resampled to %d Hz as if it were %d Hz (%.3f %% "
                        "off): the exact conversion would need %d filter entries",
                        orig_freq,
                        new_freq,
                        rate,
                        100 * abs(rate - orig_freq) / orig_freq,
                        entries(orig_freq),
                    )
                return rate
    return orig_freq  # none near: small rates have small filter banks anyway


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
        orig_freq: The input rate (read as :func:`workable_rate` says).
        new_freq: The output rate.
    """

    def __init__(self, orig_freq: int, new_freq: int) -> None:
        orig_freq = workable_rate(orig_freq, new_freq)
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
