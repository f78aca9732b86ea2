"""The input musicnn was trained on: log-compressed mel patches of 3 s at 16 kHz.

musicnn's extractor (2019) loads audio with ``librosa.load(sr=16000)``, computes
``librosa.feature.melspectrogram(sr=16000, n_fft=512, hop_length=256, n_mels=96)`` (librosa of
that time: centred frames with *reflect* padding, periodic Hann window, slaney mel scale and
area norm, power 2), casts it to float16, takes ``log10(10000 x + 1)`` and cuts non-overlapping
patches of 187 frames. :class:`MusicnnMel` and :func:`mel_patches` do the same, except that
the log is taken in float32: in float16, ``10000 x`` overflows to ``inf`` for ``x > 6.55``
(1.1 % of the mel bins of the 50 real GTZAN clips of the sample, in 48 of them), which makes
some clips' logits NaN.

The resampling matters too: librosa then resampled with resampy's ``kaiser_best`` filter,
whose cutoff (0.917 of the new Nyquist, 7.3 kHz) is well below torchaudio's default (0.99).
The network is sensitive to the top mel bands (7-8 kHz), where the two differ by 10-50x in
energy: with torchaudio's default filter, tag probabilities of 3 s patches moved by up to
0.25. :class:`MusicnnMel` therefore resamples with torchaudio's Kaiser-windowed sinc set to
resampy's ``kaiser_best`` parameters, which reproduces it to ~1e-4 of full scale.
"""

from __future__ import annotations

import math

import torch
import torchaudio
from torch import nn

#: musicnn's analysis parameters (``configuration.py`` of the musicnn package).
SAMPLE_RATE = 16000
N_FFT = 512
HOP_LENGTH = 256
N_MELS = 96
#: Frames per patch: ``librosa.time_to_frames(3 s) + 1``, the input the weights were trained on.
PATCH_FRAMES = 187
#: resampy's ``kaiser_best`` (stored with its filter table): roll-off and Kaiser beta. Its
#: window spans 50 zero crossings of the *unscaled* sinc, i.e. ``50 * rolloff`` of the
#: roll-off-scaled sinc that torchaudio counts in ``lowpass_filter_width``.
KAISER_BEST_ROLLOFF = 0.9173473712608761
KAISER_BEST_BETA = 12.9846
KAISER_BEST_ZEROS = 50


class MusicnnMel(nn.Module):
    """Waveforms to musicnn's log-mel images, ``log10(10000 x + 1)`` of the power mel.

    Args:
        sample_rate: Rate of the incoming waveforms; resampled to 16 kHz as librosa did in 2019
            if different (the framework decodes GTZAN at 22,050 Hz).
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        # Resample keeps its sinc kernel as a buffer, so .to(device) moves it too.
        self.resample: nn.Module = nn.Identity()
        if sample_rate != SAMPLE_RATE:
            self.resample = torchaudio.transforms.Resample(
                sample_rate,
                SAMPLE_RATE,
                resampling_method="sinc_interp_kaiser",
                # Not an integer: torchaudio only uses it in ceil() and as a float bound.
                lowpass_filter_width=KAISER_BEST_ZEROS * KAISER_BEST_ROLLOFF,
                rolloff=KAISER_BEST_ROLLOFF,
                beta=KAISER_BEST_BETA,
            )
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=SAMPLE_RATE,
            n_fft=N_FFT,
            hop_length=HOP_LENGTH,
            n_mels=N_MELS,
            power=2.0,
            center=True,
            pad_mode="reflect",  # librosa's default until 0.10 ("constant" since)
            mel_scale="slaney",
            norm="slaney",
        )

    def power_mel(self, wave: torch.Tensor) -> torch.Tensor:
        """The power mel spectrogram (B, 96, frames) of waveforms (B, T), before the log."""
        if wave.dim() != 2:
            raise ValueError(f"MusicnnMel expects (batch, samples), got {tuple(wave.shape)}")
        # float32 even under autocast: the power mel spans many decades.
        with torch.autocast(device_type=wave.device.type, enabled=False):
            resampled = self.resample(wave.float())
            if self.sample_rate != SAMPLE_RATE:
                # resampy makes floor(n * new / old) samples and librosa pads to the ceiling
                # with a zero; torchaudio computes that last sample.
                resampled[:, wave.shape[1] * SAMPLE_RATE // self.sample_rate :] = 0.0
            return self.mel(resampled)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """Map waveforms (B, T) to log-mel images (B, 1, frames, 96).

        A clip of ``n`` samples at 16 kHz gives ``1 + n // 256`` frames.
        """
        spec = self.power_mel(wave)
        # log1p keeps the precision of small values; float32 avoids float16's overflow.
        logmel = torch.log1p(10000.0 * spec) / math.log(10.0)
        return logmel.transpose(1, 2).unsqueeze(1)


def mel_patches(mel: torch.Tensor, frames: int = PATCH_FRAMES) -> torch.Tensor:
    """Cut mel images into non-overlapping patches, as musicnn's extractor does.

    Frames after the last whole patch are dropped (a 30 s clip gives 1876 frames: 10 patches).

    Args:
        mel: (B, 1, T, mels) images.
        frames: Frames per patch.

    Returns:
        (B, T // frames, 1, frames, mels); flatten the first two axes to feed the network.

    Raises:
        ValueError: The images are shorter than one patch.
    """
    if mel.dim() != 4:
        raise ValueError(f"mel_patches expects (B, 1, frames, mels), got {tuple(mel.shape)}")
    count = mel.shape[2] // frames
    if count == 0:
        raise ValueError(f"{mel.shape[2]} frames are fewer than one patch of {frames}")
    patches = mel[:, :, : count * frames].unflatten(2, (count, frames))  # (B, 1, P, f, m)
    return patches.transpose(1, 2)
