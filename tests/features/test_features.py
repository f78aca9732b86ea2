"""features.py: the paper's mel matches librosa on real GTZAN clips; normalisation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import librosa
import numpy as np
import pytest
import torch

from genre_lightning.audio import fix_length, load_audio
from genre_lightning.errors import UserError
from genre_lightning.features.mel import DEFAULT_IMAGE_SHAPE, MelFeatures
from genre_lightning.features.normalize import Normalize, RunningMoments

CLIPS = ["blues/blues.00000.wav", "classical/classical.00001.wav", "metal/metal.00002.wav"]


@pytest.mark.parametrize("clip", CLIPS)
def test_mel_matches_librosa_on_real_clips(gtzan_sample: Path, clip: str) -> None:
    wave = load_audio(gtzan_sample / "genres_original" / clip)
    reference = librosa.feature.melspectrogram(
        y=wave.numpy(),
        sr=22050,
        n_fft=2048,
        win_length=1984,
        hop_length=992,
        n_mels=64,
        power=2.0,
        pad_mode="constant",
    ).T  # (frames, 64), the paper's transpose
    ref = np.zeros((668, 64), dtype=np.float64)
    ref[: min(668, len(reference))] = reference[:668]  # the paper's crop/pad to 668 frames

    ours = MelFeatures()(wave[None])
    assert ours.shape == (1, 1, 668, 64)
    rel = np.abs(ours[0, 0].double().numpy() - ref).max() / np.abs(ref).max()
    assert rel <= 1e-4, f"max relative error {rel:.2e} vs librosa"


@pytest.mark.parametrize("clip", ["country/country.00003.wav", "country/country.00002.wav"])
def test_cached_clip_length_gives_the_same_features(gtzan_sample: Path, clip: str) -> None:
    """Cropping/padding to 662,688 samples (data.clip_samples) changes none of the 668 frames.

    country.00003 (661,408 samples) is one of GTZAN's shortest clips: librosa computes 667
    frames for it and the 668th is padding; country.00002 (669,680) is longer than needed.
    """
    wave = load_audio(gtzan_sample / "genres_original" / clip)
    mel = MelFeatures()
    full = mel(wave[None])
    fixed = mel(fix_length(wave, 662_688)[None], lengths=torch.tensor([wave.shape[0]]))
    torch.testing.assert_close(fixed, full, rtol=1e-5, atol=1e-6)


def test_short_input_is_padded_and_batch_is_independent() -> None:
    mel = MelFeatures()
    wave = torch.randn(3, 22050)
    out = mel(wave)
    assert out.shape == (3, 1, 668, 64)
    assert out[:, :, 30:].eq(0).all()  # 1 s gives 23 frames, the rest is padding
    torch.testing.assert_close(mel(wave[1:2]), out[1:2])


def test_lengths_zero_the_frames_past_each_clip() -> None:
    mel = MelFeatures(num_frames=None)
    wave = torch.randn(2, 22050)
    out = mel(wave, lengths=torch.tensor([22050, 9920]))
    torch.testing.assert_close(out[0], mel(wave[:1])[0])
    assert out[1, 0, 11:].eq(0).all() and out[1, 0, :11].gt(0).all()  # 1 + 9920 // 992 = 11


def test_num_frames_none_keeps_every_frame() -> None:
    out = MelFeatures(num_frames=None)(torch.randn(1, 44100))
    assert out.shape == (1, 1, 1 + 44100 // 992, 64)


def test_image_shape_is_what_forward_makes_of_one_window() -> None:
    # The network's input shape: frames kept or cropped to num_frames, counted after resampling.
    musicnn_like = {"n_fft": 512, "win_length": None, "hop_length": 256, "resample_to": 16_000}
    cases: list[tuple[dict[str, Any], int]] = [
        ({}, 662_688),
        ({"num_frames": None}, 44_100),
        ({"num_frames": None, **musicnn_like}, 22_050),
    ]
    for settings, samples in cases:
        features = MelFeatures(**settings)
        made = features(torch.zeros(1, samples)).shape[1:]
        assert features.image_shape(samples) == tuple(made), settings
    assert MelFeatures().image_shape(44_100) == DEFAULT_IMAGE_SHAPE == (1, 668, 64)


def test_rejects_wrong_rank() -> None:
    with pytest.raises(ValueError, match="batch, samples"):
        MelFeatures()(torch.randn(10))


def test_lengths_are_one_per_clip_given_as_any_sequence() -> None:
    mel, wave = MelFeatures(num_frames=None), 0.1 * torch.randn(2, 22050)
    torch.testing.assert_close(mel(wave, [22050, 5000]), mel(wave, torch.tensor([22050, 5000])))
    # A count that is not the batch's broadcast or failed deep inside.
    for lengths in ([22050], torch.tensor([[22050, 5000]])):
        with pytest.raises(ValueError, match=r"^lengths: expected one length per clip, shape"):
            mel(wave, lengths)


def test_settings_out_of_range_are_refused_by_the_config_s_rules() -> None:
    # Used directly, -1 frames dropped the last frame and a hop of 0 failed inside the STFT.
    cases: dict[str, tuple[Any, str]] = {
        "num_frames": (-1, "must be at least 1, or null"),
        "hop_length": (0, "must be at least 1"),
        "top_db": (-5.0, "must be above 0"),
        "win_length": (4096, "exceeds data.features.n_fft=2048"),
    }
    for key, (value, why) in cases.items():
        with pytest.raises(UserError, match=f"^data.features.{key}={value} {why}"):
            MelFeatures(**{key: value})
    with pytest.raises(ValueError, match="log='loud' is not known"):
        MelFeatures(log="loud")
    # Integer samples are refused too: cast to float they are 32768 times too loud.
    with pytest.raises(TypeError, match=r"torch\.int16.*from_int16"):
        MelFeatures()(torch.zeros(1, 1000, dtype=torch.int16))


def test_running_moments_match_direct_statistics() -> None:
    data = torch.rand(37, 1, 5, 4) * 100
    moments = RunningMoments()
    for chunk in data.split(8):
        moments.update(chunk)
    mean, std = moments.compute()
    torch.testing.assert_close(mean, data.mean(0))
    torch.testing.assert_close(std, data.std(0, unbiased=False), rtol=1e-4, atol=1e-4)


def test_normalize_standardises_and_remembers_it_was_fitted() -> None:
    data = torch.rand(64, 1, 6, 4) * 10 + 3
    norm = Normalize((1, 6, 4))
    assert not bool(norm.fitted)
    norm.set_statistics(data.mean(0), data.std(0, unbiased=False))
    out = norm(data)
    assert bool(norm.fitted)
    torch.testing.assert_close(out.mean(0), torch.zeros(1, 6, 4), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(0, unbiased=False), torch.ones(1, 6, 4), atol=1e-4, rtol=0)
    assert {"mean", "std", "fitted"} <= set(norm.state_dict())
    with pytest.raises(ValueError, match="do not fit"):
        norm.set_statistics(torch.zeros(2), torch.ones(2))


def test_log_option_gives_floored_decibels() -> None:
    noise = torch.randn(1, 22050, generator=torch.Generator().manual_seed(0))
    wave = noise * torch.tensor([[1.0], [0.01]])  # one noise at two levels, 40 dB apart
    power = MelFeatures(num_frames=None)(wave)
    db = MelFeatures(num_frames=None, log=True, top_db=80.0)(wave)
    expected = 10 * torch.log10(power.clamp_min(1e-10))
    peak = expected.amax(dim=(2, 3), keepdim=True)
    torch.testing.assert_close(db, torch.maximum(expected, peak - 80.0))
    assert (db.amax(dim=(2, 3)) - db.amin(dim=(2, 3))).max() <= 80.0 + 1e-4
    # Scale shifts dB by a constant: the quieter copy sits 40 dB lower.
    torch.testing.assert_close(db[1].amax() - db[0].amax(), torch.tensor(-40.0), atol=1e-3, rtol=0)


def test_per_mel_normalisation_pools_over_time() -> None:
    data = torch.rand(32, 1, 6, 4) * torch.arange(1, 5) + torch.arange(6).view(6, 1)
    norm = Normalize((1, 6, 4), per="mel")
    norm.set_statistics(data.mean(0), data.std(0, unbiased=False))
    pooled = data.permute(0, 1, 2, 3).reshape(-1, 4)  # every (clip, frame) of a band
    torch.testing.assert_close(norm.mean[0, 0], pooled.mean(0))
    torch.testing.assert_close(norm.std[0, 0], pooled.std(0, unbiased=False), rtol=1e-4, atol=1e-5)
    assert torch.equal(norm.mean[0, 0], norm.mean[0, 5])  # the same for every frame
    with pytest.raises(ValueError, match="use element, mel, none"):
        Normalize((1, 6, 4), per="clip")


def test_no_normalisation_is_the_identity_and_needs_no_statistics() -> None:
    norm = Normalize((1, 6, 4), per="none")
    x = torch.randn(3, 1, 6, 4)
    assert torch.equal(norm(x), x) and not bool(norm.fitted)
