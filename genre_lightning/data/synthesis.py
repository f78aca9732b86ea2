"""The sound of the built-in "synthetic genres": ten styles of generated music.

The styles differ the way genres do: tempo and rhythm density, where the beats fall, pitch
register, harmonic versus noisy timbre and note envelope. Every clip draws its own tempo, key,
melody, loudness and noise level, so the classes overlap enough that a model has to learn them.
:mod:`genre_lightning.data.synthetic` writes them as a data set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genre_lightning.audio_files import SAMPLE_RATE


@dataclass(frozen=True)
class Style:
    """What makes one synthetic genre: rhythm, register, timbre and envelope."""

    name: str
    bpm: float
    hits_per_beat: int  # percussive events per beat; 0 = no percussion
    offbeat: bool  # hits fall between beats (reggae's skank)
    kick: bool  # a low thump on every beat
    midi: int  # centre of the melodic register
    notes_per_beat: float
    partials: int  # 1 = sine; many = bright, buzzy
    noise: float  # broadband noise mixed into the texture
    attack: float  # seconds
    decay: float  # note decay, as a fraction of the note length


STYLES = (
    Style("drone", 70, 0, False, False, 45, 0.5, 6, 0.05, 0.15, 2.0),
    Style("chorale", 60, 0, False, False, 67, 1, 2, 0.01, 0.20, 1.5),
    Style("pluck", 105, 1, False, False, 62, 2, 10, 0.02, 0.003, 0.25),
    Style("fourfloor", 122, 2, True, True, 57, 1, 4, 0.05, 0.01, 0.6),
    Style("bassbeat", 88, 1, False, True, 36, 1, 3, 0.10, 0.01, 0.8),
    Style("swing", 150, 3, False, False, 60, 2, 4, 0.05, 0.01, 0.5),
    Style("distorted", 175, 4, False, True, 41, 2, 24, 0.60, 0.002, 0.9),
    Style("bright", 115, 2, False, True, 76, 2, 5, 0.05, 0.005, 0.5),
    Style("offbeat", 76, 1, True, False, 50, 1, 5, 0.10, 0.005, 0.35),
    Style("driving", 138, 2, False, True, 52, 2, 12, 0.35, 0.005, 0.7),
)

_SCALE = np.array([0, 2, 3, 5, 7, 8, 10, 12])  # natural minor, one octave


def synthesize_clip(
    style: Style, rng: np.random.Generator, seconds: float, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """Generate one clip of ``style`` with per-clip random tempo, key, melody and levels.

    Returns:
        A float32 mono waveform with peak amplitude in [0.3, 0.9].
    """
    n = round(seconds * sample_rate)
    out = np.zeros(n, dtype=np.float64)
    beat = 60.0 / (style.bpm * rng.uniform(0.9, 1.1))
    key = style.midi + int(rng.integers(-4, 5))

    # Melody: notes on a grid, pitches drawn from the scale around the register.
    note_len = beat / style.notes_per_beat
    onset = rng.uniform(0, note_len)
    while onset < seconds:
        f0 = 440.0 * 2 ** ((key + rng.choice(_SCALE) - 69) / 12)
        _add(out, onset, _tone(style, rng, f0, note_len, sample_rate), sample_rate)
        onset += note_len * rng.uniform(0.97, 1.03)

    # Percussion: filtered noise bursts, and a pitch-dropping kick on each beat.
    if style.hits_per_beat:
        step = beat / style.hits_per_beat
        t0 = step / 2 if style.offbeat else 0.0
        for k in range(int(seconds / step) + 1):
            burst = np.diff(rng.standard_normal(int(0.06 * sample_rate)), prepend=0.0)
            burst *= np.exp(-np.arange(burst.size) / (0.012 * sample_rate)) * 0.6
            _add(out, t0 + k * step, burst, sample_rate)
    if style.kick:
        t = np.arange(int(0.15 * sample_rate)) / sample_rate
        kick = np.sin(2 * np.pi * (55 * t + 60 * (1 - np.exp(-t / 0.03)) * 0.03))
        kick *= np.exp(-t / 0.05) * 1.2
        for k in range(int(seconds / beat) + 1):
            _add(out, k * beat, kick, sample_rate)

    out += rng.uniform(0.005, 0.05) * rng.standard_normal(n)  # recording noise floor
    out *= rng.uniform(0.3, 0.9) / max(np.abs(out).max(), 1e-9)
    return out.astype(np.float32)


def _tone(
    style: Style, rng: np.random.Generator, f0: float, note_len: float, sample_rate: int
) -> np.ndarray:
    length = int(note_len * sample_rate)
    t = np.arange(length) / sample_rate
    wave = np.zeros(length)
    for h in range(1, style.partials + 1):
        if h * f0 >= sample_rate / 2:
            break
        wave += np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 2 * np.pi)) / h
    wave += style.noise * rng.standard_normal(length)
    envelope = np.minimum(t / style.attack, 1.0) * np.exp(-t / (style.decay * note_len))
    return wave * envelope * rng.uniform(0.5, 1.0)


def _add(out: np.ndarray, start_s: float, sound: np.ndarray, sample_rate: int) -> None:
    start = int(start_s * sample_rate)
    if start >= out.size:
        return
    end = min(out.size, start + sound.size)
    out[start:end] += sound[: end - start]
