"""audio.py: real decoding with soundfile, resampling, mono mixing, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from genre_lightning.audio import (
    AudioDecodeError,
    fix_length,
    from_int16,
    load_audio,
    to_int16,
)

from .conftest import write_tone


def test_real_gtzan_clip_decodes_at_22050(gtzan_sample: Path) -> None:
    path = gtzan_sample / "genres_original" / "blues" / "blues.00000.wav"
    wave = load_audio(path)
    info = sf.info(str(path))
    assert wave.dtype == torch.float32 and wave.dim() == 1
    assert wave.shape[0] == info.frames and 661_000 < info.frames < 666_000
    assert 0.01 < wave.abs().max() <= 1.0


def test_int16_round_trip_is_lossless_for_16_bit_audio(gtzan_sample: Path) -> None:
    path = gtzan_sample / "genres_original" / "rock" / "rock.00000.wav"
    wave = load_audio(path)
    raw, _ = sf.read(str(path), dtype="int16")
    assert torch.equal(to_int16(wave), torch.from_numpy(raw))
    assert torch.equal(from_int16(to_int16(wave)), wave)


def test_stereo_44k_is_mixed_to_mono_and_resampled(tmp_path: Path) -> None:
    path = tmp_path / "tone.flac"
    write_tone(path, seconds=2.0, sr=44100, channels=2)
    wave = load_audio(path)
    assert wave.shape == (44100,)  # 2 s at 22050 Hz
    # A 440 Hz tone stays at 440 Hz after resampling: check the spectrum's peak.
    spectrum = torch.fft.rfft(wave).abs()
    assert abs(int(spectrum.argmax()) * 22050 / 44100 - 440) < 2


@pytest.mark.parametrize("content", [b"", b"this is not audio at all", b"RIFF\x00\x00"])
def test_bad_file_raises_decode_error_naming_it(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "jazz.00054.wav"
    path.write_bytes(content)
    with pytest.raises(AudioDecodeError, match=r"jazz\.00054\.wav"):
        load_audio(path)


def test_fix_length_crops_and_pads() -> None:
    wave = torch.arange(1, 11, dtype=torch.float32)
    assert torch.equal(fix_length(wave, 4), wave[:4])
    padded = fix_length(wave, 13)
    assert padded.shape == (13,) and torch.equal(padded[:10], wave) and padded[10:].eq(0).all()


def test_to_int16_clips_out_of_range() -> None:
    out = to_int16(torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0]))
    assert out.tolist() == [-32768, -32768, 0, 32767, 32767]
    assert np.issubdtype(out.numpy().dtype, np.int16)
