"""The mel front end with its STFT written as a convolution, for ONNX export.

ONNX has no complex tensors, and torchaudio's STFT returns complex values; a strided conv1d with
fixed cosine/sine kernels (the window folded in) computes the same power spectrum with real
operations only.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

from genre_lightning.features.mel import MelFeatures


class DftMelSpectrogram(nn.Module):
    """torchaudio's power ``MelSpectrogram`` with the STFT done as a conv1d over DFT kernels.

    ONNX has no complex tensors, and torchaudio's STFT returns complex values; a strided conv1d
    with fixed cosine/sine kernels (the window folded in) computes the same spectrum with real
    operations only, so the whole front end exports.

    Args:
        mel: The transform to copy (its window, FFT size, hop and mel filter bank).
    """

    kernel: torch.Tensor
    fb: torch.Tensor

    def __init__(self, mel: Any) -> None:
        super().__init__()
        spec = mel.spectrogram
        if spec.power != 2.0 or spec.normalized or spec.pad != 0 or not spec.onesided:
            raise ValueError("DftMelSpectrogram supports the power-2, unnormalised mel only")
        self.n_fft, self.hop_length, self.center = spec.n_fft, spec.hop_length, spec.center
        self.pad_mode = spec.pad_mode
        # torch.stft centres a window shorter than n_fft inside the frame.
        window = torch.zeros(self.n_fft, dtype=torch.float64)
        left = (self.n_fft - spec.win_length) // 2
        window[left : left + spec.win_length] = spec.window.double()
        n = torch.arange(self.n_fft, dtype=torch.float64)
        k = torch.arange(self.n_fft // 2 + 1, dtype=torch.float64)
        # k * n taken modulo n_fft first keeps the angles small, hence exact in float64.
        angle = 2 * math.pi * torch.remainder(k[:, None] * n[None, :], self.n_fft) / self.n_fft
        # Built in float64 so the only rounding left is float32's in the conv itself.
        kernel = torch.cat([window * torch.cos(angle), -window * torch.sin(angle)])
        self.register_buffer("kernel", kernel.float().unsqueeze(1))  # (2 * freqs, 1, n_fft)
        self.register_buffer("fb", mel.mel_scale.fb.detach().clone())  # (freqs, n_mels)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """Map waveforms (B, T) to power mel spectrograms (B, n_mels, frames)."""
        x = wave.unsqueeze(1)
        if self.center:
            half = self.n_fft // 2
            x = nn.functional.pad(x, (half, half), mode=self.pad_mode)
        parts = nn.functional.conv1d(x, self.kernel, stride=self.hop_length)
        real, imag = parts.chunk(2, dim=1)
        power = real * real + imag * imag  # (B, freqs, frames)
        return torch.matmul(self.fb.transpose(0, 1), power)


def with_dft_stft(features: MelFeatures) -> MelFeatures:
    """A copy of ``features`` whose STFT is :class:`DftMelSpectrogram` (same outputs)."""
    clone = copy.deepcopy(features)
    # add_module replaces the registered submodule; MelFeatures.forward is reused unchanged
    # (it only needs ``mel(wave)`` and ``mel.hop_length``).
    clone.add_module("mel", DftMelSpectrogram(features.mel))
    return clone
