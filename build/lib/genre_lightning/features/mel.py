"""The mel front ends, as ``nn.Module`` s whose constants are buffers.

``.to(device)`` moves them with the network, so mel images are computed on the batch's device,
and they trace and export with it.
"""

from __future__ import annotations

import torch
import torchaudio
from torch import nn

from genre_lightning.audio import SAMPLE_RATE

#: Clips per STFT call on CPU (see MelFeatures.forward).
CPU_CLIPS_PER_CALL = 2


class MelFeatures(nn.Module):
    """Power mel spectrogram laid out as the paper's (time, mel) image.

    Defaults are Xie's: librosa-style power mel (no log), 64 slaney mels, n_fft 2048,
    window 1984, hop 992, zero ("constant") centre padding, cropped or padded to 668 frames.

    Args:
        sample_rate: Rate of the incoming waveforms.
        n_fft: FFT size.
        win_length: Hann window length.
        hop_length: Hop between frames.
        n_mels: Number of mel bands.
        num_frames: Frames kept per clip (crop or zero-pad); ``None`` keeps them all.
        log: Compress to decibels (``10 log10``), floored ``top_db`` below each clip's peak.
            The paper uses raw power (``False``); a log scale suits the ear and the network.
        top_db: Dynamic range kept by ``log``.
    """

    def __init__(
        self,
        sample_rate: int = SAMPLE_RATE,
        n_fft: int = 2048,
        win_length: int = 1984,
        hop_length: int = 992,
        n_mels: int = 64,
        num_frames: int | None = 668,
        log: bool = False,
        top_db: float = 80.0,
    ) -> None:
        super().__init__()
        self.num_frames = num_frames
        self.log, self.top_db = log, top_db
        self.n_mels = n_mels
        # slaney scale + slaney norm + constant padding is what librosa.feature.melspectrogram
        # does by default; with them torchaudio matches librosa to ~1e-6 relative.
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=n_fft,
            win_length=win_length,
            hop_length=hop_length,
            n_mels=n_mels,
            power=2.0,
            center=True,
            pad_mode="constant",
            mel_scale="slaney",
            norm="slaney",
        )

    def forward(self, wave: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Map waveforms (B, T) to mel images (B, 1, num_frames, n_mels).

        Args:
            wave: Waveforms, zero-padded to a common length T.
            lengths: Samples of each clip before padding. Frames that librosa would not have
                computed for a clip that short (from ``1 + length // hop`` on) are zeroed, so a
                padded batch gives exactly the features of each clip on its own.
        """
        if wave.dim() != 2:
            raise ValueError(f"MelFeatures expects (batch, samples), got shape {tuple(wave.shape)}")
        # The STFT runs in float32 even under bf16 autocast: power mel spans many decades.
        with torch.autocast(device_type=wave.device.type, enabled=False):
            wave = wave.float()
            if wave.device.type == "cpu" and _eager():
                # Two clips at a time keep the STFT's buffers in cache: ~2x faster per clip
                # on CPU than one big batch (benchmarks/mel.py measures both). Not in traced
                # or exported graphs: a split of fixed size would fix their batch size.
                spec = torch.cat([self.mel(part) for part in wave.split(CPU_CLIPS_PER_CALL)])
            else:
                spec = self.mel(wave)  # (B, n_mels, frames)
        spec = spec.transpose(1, 2)  # (B, frames, n_mels), the paper's transpose
        if lengths is not None:
            valid = 1 + lengths.to(spec.device) // self.mel.hop_length
            keep = torch.arange(spec.shape[1], device=spec.device)[None, :] < valid[:, None]
            spec = spec * keep[:, :, None]
        if self.num_frames is not None:
            frames = spec.shape[1]
            if frames >= self.num_frames:
                spec = spec[:, : self.num_frames]
            else:
                spec = nn.functional.pad(spec, (0, 0, 0, self.num_frames - frames))
        if self.log:
            spec = 10.0 * torch.log10(spec.clamp_min(1e-10))
            peak = spec.amax(dim=(1, 2), keepdim=True)
            spec = torch.maximum(spec, peak - self.top_db)
        return spec.unsqueeze(1)


def _eager() -> bool:
    """Whether this is plain eager execution (not TorchScript, ONNX export or torch.compile)."""
    return not (
        torch.jit.is_scripting()
        or torch.jit.is_tracing()
        or torch.onnx.is_in_onnx_export()
        or torch.compiler.is_compiling()
    )
