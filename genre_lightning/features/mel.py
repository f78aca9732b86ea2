"""The mel front ends, as ``nn.Module`` s whose constants are buffers.

``.to(device)`` moves them with the network, so mel images are computed on the batch's device,
and they trace and export with it.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torchaudio
from torch import nn

from genre_lightning.audio import check_float_wave
from genre_lightning.audio_files import SAMPLE_RATE

#: Clips per STFT call on CPU (see MelFeatures.forward).
CPU_CLIPS_PER_CALL = 2
#: The compressions ``log`` may name: none (power, the paper), decibels, or musicnn's
#: ``log10(10000 x + 1)``. ``False``/``True`` are kept as ``none``/``db`` for older configs.
COMPRESSIONS = ("none", "db", "musicnn")
#: resampy's ``kaiser_best`` filter (what librosa resampled with until 0.10): roll-off and
#: Kaiser beta. Its window spans 50 zero crossings of the *unscaled* sinc, i.e. ``50 * rolloff``
#: of the roll-off-scaled sinc that torchaudio counts in ``lowpass_filter_width``.
KAISER_BEST_ROLLOFF = 0.9173473712608761
KAISER_BEST_BETA = 12.9846
KAISER_BEST_ZEROS = 50


def compression(log: bool | str) -> str:
    """The name in :data:`COMPRESSIONS` of a ``log`` setting (``False``/``True``: older
    configs' ``none``/``db``).

    Raises:
        ValueError: ``log`` names no compression.
    """
    name = {False: "none", True: "db"}[log] if isinstance(log, bool) else log
    if name not in COMPRESSIONS:
        raise ValueError(f"log={log!r} is not known; use one of {', '.join(COMPRESSIONS)}")
    return name


def mel_settings(given: Mapping[str, Any] | None) -> dict[str, Any]:
    """``data.features`` with :class:`MelFeatures`' defaults filled in for the keys left out
    (its signature owns them; ``sample_rate`` is the data's, not a feature setting)."""
    defaults = inspect.signature(MelFeatures.__init__).parameters
    settings = {k: p.default for k, p in defaults.items() if k not in ("self", "sample_rate")}
    settings.update(given or {})
    return settings


class MelFeatures(nn.Module):
    """Waveforms to mel images laid out as the paper's (time, mel) image.

    Defaults are Xie's: librosa-style power mel (no log), 64 slaney mels, n_fft 2048,
    window 1984, hop 992, zero ("constant") centre padding, cropped or padded to 668 frames.
    The other configurations the recipes use:

    * log-mel (``log="db"``): decibels floored ``top_db`` below each clip's peak;
    * musicnn's input (``experiment=musicnn_probe``): resampled to 16 kHz with resampy's
      ``kaiser_best`` filter, n_fft 512, hop 256, 96 mels, reflect padding, ``log="musicnn"``,
      187-frame windows. The network is sensitive to the top mel bands (7-8 kHz), where the
      resampling filters differ: with torchaudio's default filter (cutoff 0.99 of Nyquist
      instead of kaiser_best's 0.917) tag probabilities moved by up to 0.25. The original
      took the log of a float16 mel, where ``10000 x`` overflows for ``x > 6.55`` (1 % of the
      bins of real GTZAN clips, NaN logits on some); here the log is taken in float32.

    Args:
        sample_rate: Rate of the incoming waveforms.
        n_fft: FFT size.
        win_length: Hann window length (``None``: ``n_fft``).
        hop_length: Hop between frames (at ``resample_to`` when given).
        n_mels: Number of mel bands.
        num_frames: Frames kept per clip (crop or zero-pad); ``None`` keeps them all.
        log: Compression of the power mel, one of :data:`COMPRESSIONS`.
        top_db: Dynamic range kept by ``log="db"``.
        pad_mode: Padding of the centred frames: ``constant`` (librosa >= 0.10, the paper's
            features) or ``reflect`` (librosa before 0.10, musicnn's).
        resample_to: Resample to this rate first (``None``: analyse at ``sample_rate``).

    Raises:
        ValueError: ``log`` names no compression.
        UserError: Another setting is out of range (named as its ``data.features`` key).
    """

    def __init__(
        self,
        sample_rate: int = SAMPLE_RATE,
        n_fft: int = 2048,
        win_length: int | None = 1984,
        hop_length: int = 992,
        n_mels: int = 64,
        num_frames: int | None = 668,
        log: bool | str = False,
        top_db: float = 80.0,
        pad_mode: str = "constant",
        resample_to: int | None = None,
    ) -> None:
        super().__init__()
        self.compression, self.top_db = compression(log), top_db
        # The config's rules for these settings, which data/config.py owns (imported here: it
        # imports this module): used directly, num_frames=-1 dropped a frame, hop_length=0
        # failed deep in the STFT.
        from genre_lightning.data.config import check_data_config

        settings: dict[str, Any] = {"n_fft": n_fft, "win_length": win_length, "n_mels": n_mels}
        settings |= {"hop_length": hop_length, "num_frames": num_frames, "top_db": top_db}
        settings |= {"pad_mode": pad_mode, "resample_to": resample_to}
        check_data_config({"features": settings})
        self.num_frames = num_frames
        self.n_mels = n_mels
        self.sample_rate = sample_rate
        self.analysis_rate = resample_to or sample_rate
        # Resample keeps its sinc kernel as a buffer, so .to(device) moves it too.
        self.resample: nn.Module = nn.Identity()
        if self.analysis_rate != sample_rate:
            self.resample = torchaudio.transforms.Resample(
                sample_rate,
                self.analysis_rate,
                resampling_method="sinc_interp_kaiser",
                # Not an integer: torchaudio only uses it in ceil() and as a float bound.
                lowpass_filter_width=KAISER_BEST_ZEROS * KAISER_BEST_ROLLOFF,
                rolloff=KAISER_BEST_ROLLOFF,
                beta=KAISER_BEST_BETA,
            )
        # slaney scale + slaney norm + constant padding is what librosa.feature.melspectrogram
        # does by default; with them torchaudio matches librosa to ~1e-6 relative.
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=self.analysis_rate,
            n_fft=n_fft,
            win_length=win_length,
            hop_length=hop_length,
            n_mels=n_mels,
            power=2.0,
            center=True,
            pad_mode=pad_mode,
            mel_scale="slaney",
            norm="slaney",
        )

    def power_mel(self, wave: torch.Tensor) -> torch.Tensor:
        """The power mel spectrogram (B, n_mels, frames) of waveforms (B, T), before the log."""
        if wave.dim() != 2:
            raise ValueError(f"MelFeatures expects (batch, samples), got shape {tuple(wave.shape)}")
        check_float_wave(wave)
        # The STFT runs in float32 even under bf16 autocast: power mel spans many decades.
        with torch.autocast(device_type=wave.device.type, enabled=False):
            wave = self._resampled(wave.float())
            if wave.device.type == "cpu" and _eager():
                # Two clips at a time keep the STFT's buffers in cache: ~2x faster per clip
                # on CPU than one big batch (benchmarks/mel.py measures both). Not in traced
                # or exported graphs: a split of fixed size would fix their batch size.
                return torch.cat([self.mel(part) for part in wave.split(CPU_CLIPS_PER_CALL)])
            return self.mel(wave)

    def _resampled(self, wave: torch.Tensor) -> torch.Tensor:
        if self.analysis_rate == self.sample_rate:
            return wave
        out = self.resample(wave)
        # resampy makes floor(n * new / old) samples and librosa pads to the ceiling with a
        # zero; torchaudio computes that last sample. Zero it, as the original did.
        kept = wave.shape[1] * self.analysis_rate // self.sample_rate
        return nn.functional.pad(out[:, :kept], (0, out.shape[1] - kept))

    def forward(
        self, wave: torch.Tensor, lengths: torch.Tensor | Sequence[int] | None = None
    ) -> torch.Tensor:
        """Map waveforms (B, T) to mel images (B, 1, num_frames, n_mels).

        Args:
            wave: Float waveforms in [-1, 1] (int16 samples: scale them with
                :func:`~genre_lightning.audio.from_int16`), zero-padded to a common length T.
            lengths: Samples of each clip before padding (a tensor or sequence of B integers).
                Frames that librosa would not have computed for a clip that short (from
                ``1 + length // hop`` on, counted at the analysis rate) are zeroed, so a padded
                batch gives exactly the features of each clip on its own.
        """
        spec = self.power_mel(wave).transpose(1, 2)  # (B, frames, n_mels), the paper's layout
        if lengths is not None:
            lengths = torch.as_tensor(lengths)
            if lengths.dim() != 1 or lengths.shape[0] != wave.shape[0]:
                raise ValueError(
                    f"lengths: expected one length per clip, shape ({wave.shape[0]},), got "
                    f"{tuple(lengths.shape)}"
                )
            analysed = lengths.to(spec.device) * self.analysis_rate // self.sample_rate
            valid = 1 + analysed // self.mel.hop_length
            keep = torch.arange(spec.shape[1], device=spec.device)[None, :] < valid[:, None]
            spec = spec * keep[:, :, None]
        if self.num_frames is not None:
            frames = spec.shape[1]
            if frames >= self.num_frames:
                spec = spec[:, : self.num_frames]
            else:
                spec = nn.functional.pad(spec, (0, 0, 0, self.num_frames - frames))
        if self.compression == "db":
            spec = 10.0 * torch.log10(spec.clamp_min(1e-10))
            peak = spec.amax(dim=(1, 2), keepdim=True)
            spec = torch.maximum(spec, peak - self.top_db)
        elif self.compression == "musicnn":
            # log1p keeps the precision of small values; float32 avoids float16's overflow.
            spec = torch.log1p(10000.0 * spec) / math.log(10.0)
        return spec.unsqueeze(1)

    def image_shape(self, samples: int) -> tuple[int, int, int]:
        """The shape ``(channels, frames, mels)`` of the image this front end makes of one
        window of ``samples``: what a network fed by it is built for.

        Computed by running the front end on silence, so it is whatever :meth:`forward` makes
        (frames kept or cropped, resampling), never a second formula beside it.
        """
        device = next(self.buffers()).device
        with torch.no_grad():
            channels, frames, mels = self(torch.zeros(1, samples, device=device)).shape[1:]
        return (channels, frames, mels)


def _default_image_shape() -> tuple[int, int, int]:
    settings = mel_settings(None)
    # One channel (forward adds it); num_frames fixes the frames whatever the clip length.
    return (1, int(settings["num_frames"]), int(settings["n_mels"]))


#: The image of the default front end (the paper's), from :class:`MelFeatures`' defaults:
#: what the module and networks built without the data's shape assume.
DEFAULT_IMAGE_SHAPE = _default_image_shape()


def _eager() -> bool:
    """Whether this is plain eager execution (not TorchScript, ONNX export or torch.compile)."""
    return not (
        torch.jit.is_scripting()
        or torch.jit.is_tracing()
        or torch.onnx.is_in_onnx_export()
        or torch.compiler.is_compiling()
    )
