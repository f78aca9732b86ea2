"""Decoding audio files into fixed-length mono waveforms.

Every path that reads audio (the GTZAN index, the synthetic set, later ``predict``) goes through
:func:`load_audio`, so a file decodes the same way for training and for inference.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

#: GTZAN's sample rate, and the rate every clip is resampled to.
SAMPLE_RATE = 22050

#: File extensions treated as audio. Anything else in a genre folder (GTZAN's ``.mf`` lists,
#: ``.DS_Store``) is not audio and is ignored without a warning.
AUDIO_EXTENSIONS = frozenset({".wav", ".au", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".snd"})


class AudioDecodeError(RuntimeError):
    """A file could not be decoded as audio; the message names the file and the reason.

    Args:
        path: The file.
        reason: Why it could not be used, without the path.
    """

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> torch.Tensor:
    """Decode a file to a mono float32 waveform at ``sample_rate``.

    Args:
        path: Any file libsndfile can read (wav, au, flac, ogg, mp3 where supported).
        sample_rate: Target rate; other rates are resampled with torchaudio.

    Returns:
        A 1-D float32 tensor in [-1, 1].

    Raises:
        AudioDecodeError: The file is missing, empty, truncated or not audio.
    """
    path = Path(path)
    try:
        data, file_rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types (LibsndfileError, RuntimeError)
        raise AudioDecodeError(path, f"cannot decode audio ({exc})") from exc
    missing = _truncated_bytes(path)
    if missing:
        raise AudioDecodeError(path, f"file is truncated ({missing} bytes of audio missing)")
    if data.shape[0] == 0:
        raise AudioDecodeError(path, "file holds no samples")
    # Averaging channels keeps the level of a centred mono source, as librosa's to_mono does.
    wave = torch.from_numpy(np.ascontiguousarray(data.mean(axis=1)))
    if not torch.isfinite(wave).all():
        raise AudioDecodeError(path, "decoded samples are not finite")
    if file_rate != sample_rate:
        wave = AF.resample(wave, orig_freq=int(file_rate), new_freq=sample_rate)
    return wave


def _truncated_bytes(path: Path) -> int:
    """Bytes of sample data a WAV or AU header promises beyond the end of the file.

    libsndfile quietly decodes what is there, so a half-copied file would otherwise train as a
    short clip. Only these two headers state the data size; other formats return 0.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(12)
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            offset = 12
            while offset + 8 <= size:
                f.seek(offset)
                chunk, length = struct.unpack("<4sI", f.read(8))
                if chunk == b"data":
                    return max(0, length - (size - offset - 8)) if length < 0xFFFFFFFF else 0
                offset += 8 + length + (length & 1)  # chunks are padded to even sizes
        elif head[:4] == b".snd":
            data_offset, length = struct.unpack(">II", head[4:12])
            return max(0, length - (size - data_offset)) if length != 0xFFFFFFFF else 0
    return 0


def fix_length(wave: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Crop (from the start) or zero-pad (at the end) a 1-D waveform to ``num_samples``."""
    if wave.shape[-1] >= num_samples:
        return wave[..., :num_samples]
    return torch.nn.functional.pad(wave, (0, num_samples - wave.shape[-1]))


def to_int16(wave: torch.Tensor) -> torch.Tensor:
    """Quantise a float waveform in [-1, 1] to int16 (lossless for 16-bit sources like GTZAN)."""
    return torch.round(wave.clamp(-1.0, 32767 / 32768) * 32768.0).to(torch.int16)


def from_int16(wave: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_int16`: the scaling soundfile uses for 16-bit PCM."""
    return wave.to(torch.float32) / 32768.0
