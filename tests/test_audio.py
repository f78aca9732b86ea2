"""audio.py: real decoding with soundfile, resampling, mono mixing, bad files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torchaudio.functional as AF

from genre_lightning.audio import (
    AudioDecodeError,
    WindowReader,
    fix_length,
    from_int16,
    load_audio,
    to_int16,
)
from genre_lightning.resampling import StreamingResampler, workable_rate

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


# 7919 Hz (a prime) is read as 7920 Hz by both (workable_rate).
@pytest.mark.parametrize(
    ("rate", "channels"), [(44100, 2), (48000, 1), (8000, 2), (22050, 1), (7919, 1)]
)
def test_window_reader_gives_load_audio_s_samples(tmp_path: Path, rate: int, channels: int) -> None:
    path = tmp_path / "noise.wav"
    noise = np.random.default_rng(rate).standard_normal((int(rate * 3.3), channels)) * 0.2
    sf.write(path, noise.astype(np.float32), rate)
    whole = load_audio(path)
    # Blocks of 777 frames: block edges fall everywhere relative to windows and filter frames.
    reader = WindowReader(path, 22050, 22050, block_frames=777)
    windows = list(reader)
    assert reader.samples == whole.numel() and reader.windows == len(windows) == 3
    assert all(length == 22050 for _, length in windows)
    # The same samples up to float32 rounding of the resampling filters.
    torch.testing.assert_close(
        torch.cat([w for w, _ in windows]), whole[: 3 * 22050], atol=1e-5, rtol=0
    )


@pytest.mark.parametrize(("rate", "channels"), [(44100, 2), (8000, 1), (22050, 1), (7919, 1)])
def test_a_recording_longer_than_asked_for_is_decoded_only_as_far_as_needed(
    tmp_path: Path, rate: int, channels: int
) -> None:
    # The cache stores each clip's first samples: a long mix was decoded whole (4.4 GB at its
    # peak for 30 min of 44.1 kHz stereo), to keep its first 30 s.
    path = tmp_path / "long.wav"
    noise = np.random.default_rng(rate).standard_normal((rate * 20, channels)) * 0.2
    sf.write(path, noise.astype(np.float32), rate)
    whole = load_audio(path)
    wanted = 3 * 22050
    first = load_audio(path, max_samples=wanted)
    assert wanted <= first.numel() < wanted + 22050 < whole.numel()
    torch.testing.assert_close(first[:wanted], whole[:wanted], atol=1e-5, rtol=0)
    assert load_audio(path, max_samples=whole.numel() * 2).numel() == whole.numel()


def test_a_rate_sharing_no_factor_with_the_target_is_read_at_the_nearest_workable_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # 7919 Hz to 22050 Hz exactly: 22050 filters of 7919 taps (1.4 GB); 7920 Hz: 245 of 88.
    assert [workable_rate(r, 22050) for r in (7919, 44099, 48000, 44100)] == [
        7920,
        44100,
        48000,
        44100,
    ]
    # 7907 Hz (also a prime): a rate no other test warns of, as each pair is warned of once.
    path = tmp_path / "odd.wav"
    seconds = np.arange(7907) / 7907
    sf.write(path, (0.5 * np.sin(2 * np.pi * 440 * seconds)).astype(np.float32), 7907)
    with caplog.at_level("WARNING", logger="genre_lightning.resampling"):
        wave = load_audio(path)
    assert abs(wave.numel() - 22050) <= 6  # one second, 0.025 % long
    spectrum = np.abs(np.fft.rfft(wave.numpy()))
    assert abs(np.argmax(spectrum) * 22050 / wave.numel() - 440) < 1.5  # the same tone
    assert "audio at 7907 Hz is resampled to 22050 Hz as if it were 7905 Hz" in caplog.text


def test_resampler_fed_in_pieces_equals_one_call() -> None:
    signal = torch.randn(10_007, generator=torch.Generator().manual_seed(0))
    resampler = StreamingResampler(44100, 22050)
    pieces = [resampler.feed(part.numpy()) for part in signal.split(1000)]
    got = np.concatenate([*pieces, resampler.flush()])
    expected = AF.resample(signal, 44100, 22050).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_short_recording_is_one_padded_window(tmp_path: Path) -> None:
    write_tone(tmp_path / "short.wav", seconds=0.25)
    windows = list(WindowReader(tmp_path / "short.wav", 22050, 22050))
    assert len(windows) == 1 and windows[0][1] == 5512
    assert windows[0][0][5512:].eq(0).all() and windows[0][0][:5512].abs().max() > 0.4


def test_window_reader_says_why_a_file_is_unusable(tmp_path: Path) -> None:
    (tmp_path / "text.wav").write_text("not audio")
    with pytest.raises(AudioDecodeError, match="cannot decode audio") as err:
        list(WindowReader(tmp_path / "text.wav", 22050, 22050))
    assert "Error opening" not in err.value.reason  # libsndfile's words, not soundfile's prefix
    sf.write(tmp_path / "empty.wav", np.zeros((0, 1), np.float32), 22050)
    with pytest.raises(AudioDecodeError, match="holds no samples"):
        list(WindowReader(tmp_path / "empty.wav", 22050, 22050))
    with pytest.raises(AudioDecodeError, match=r"cannot read the file \(No such file"):
        list(WindowReader(tmp_path / "gone.wav", 22050, 22050))


@pytest.mark.parametrize("container", ["WAV", "RF64", "W64", "AIFF", "AU"])
def test_a_copy_cut_short_is_refused_in_every_container_that_states_its_size(
    tmp_path: Path, container: str
) -> None:
    # RF64 and Wave64 keep their sizes elsewhere (a ds64 chunk, 64-bit GUID chunks): cut
    # copies of them were classified as shorter recordings.
    whole = tmp_path / f"whole.{container.lower()}"
    write_tone(whole, seconds=2.0, format=container, subtype="PCM_16")
    assert load_audio(whole).numel() == 44100
    cut = tmp_path / f"cut.{container.lower()}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    for decode in (load_audio, lambda p: list(WindowReader(p, 22050, 22050))):
        with pytest.raises(AudioDecodeError, match=r"file is truncated \(\d+ bytes of audio"):
            decode(cut)


#: An ID3v2.3 tag of 1 KiB (its size a "synchsafe" integer: 7 bits a byte), as a tag editor
#: puts before an MP3's first frame.
ID3_TAG = b"ID3\x03\x00\x00" + bytes([0, 0, 0x08, 0]) + bytes(1024)


@pytest.mark.parametrize(
    ("rate", "channels", "tag"),
    # MPEG-1, MPEG-2 and MPEG-2.5 (by rate), mono and stereo: each puts the Xing header at
    # another offset.
    [
        (44100, 2, b"Xing"),
        (44100, 1, b"Xing"),
        (22050, 2, b"Info"),
        (22050, 1, b"Xing"),
        (8000, 2, b"Xing"),
        (8000, 1, b"Info"),
    ],
)
def test_an_mp3_cut_short_is_refused_where_its_xing_header_states_its_size(
    tmp_path: Path, rate: int, channels: int, tag: bytes
) -> None:
    # libsndfile decoded such a copy as a shorter recording, without a word.
    whole = tmp_path / "whole.mp3"
    write_tone(whole, seconds=2.0, sr=rate, channels=channels, format="MP3")
    stream = whole.read_bytes()
    assert stream.count(b"Xing") == 1  # LAME writes Info instead for constant bit rates
    stream = stream.replace(b"Xing", tag)
    whole.write_bytes(stream)
    assert load_audio(whole).numel() == 44100
    tagged = tmp_path / "tagged.mp3"
    tagged.write_bytes(ID3_TAG + stream)  # a tag before the stream: not a missing part
    assert load_audio(tagged).numel() == 44100
    # (With a tag, the cut must be longer than the tag: the count may include one.)
    for cut in (stream[: len(stream) // 2], ID3_TAG + stream[: len(stream) // 3]):
        path = tmp_path / "cut.mp3"
        path.write_bytes(cut)
        for decode in (load_audio, lambda p: list(WindowReader(p, 22050, 22050))):
            with pytest.raises(AudioDecodeError, match=r"file is truncated \(\d+ bytes of audio"):
                decode(path)


@pytest.mark.parametrize("name", ["text.mp3", "text.wav", "empty.mp3", "empty.flac"])
def test_a_file_that_is_not_audio_is_said_so_not_missing(tmp_path: Path, name: str) -> None:
    """libsndfile's MPEG reader says of a text file named ``.mp3`` that it "does not exist or
    is not a regular file"; an empty file is named empty, whatever its extension."""
    path = tmp_path / name
    path.write_text("not audio" if name.startswith("text") else "")
    for decode in (load_audio, lambda p: list(WindowReader(p, 22050, 22050))):
        with pytest.raises(AudioDecodeError) as err:
            decode(path)
        reason = err.value.reason
        assert "not a regular file" not in reason and "Error opening" not in reason
        if name.startswith("empty"):
            assert reason == "cannot decode audio (the file is empty)"
        elif name.endswith(".mp3"):
            assert reason == "cannot decode audio (format not recognised: not audio, or damaged)"
        else:
            assert reason == "cannot decode audio (Format not recognised.)"
    with pytest.raises(AudioDecodeError, match=r"cannot decode audio \(no such file\)"):
        load_audio(tmp_path / "gone.mp3")


#: Decodes a real clip, written as MP3, in small blocks: libmpg123 prints a line to standard
#: error at block boundaries unless silenced; Python's own stderr lines around it must stay.
_MP3_IN_BLOCKS = """
import sys
from genre_lightning.audio import WindowReader, load_audio
path, bad = sys.argv[1], sys.argv[2]
print("before", file=sys.stderr, flush=True)
windows = list(WindowReader(path, 22050, 22050, block_frames=4096))
whole = load_audio(path)
try:
    load_audio(bad)
except Exception as exc:
    print(exc.reason, file=sys.stderr)
print("after", len(windows), whole.numel(), file=sys.stderr)
"""


@pytest.mark.skipif("MP3" not in sf.available_formats(), reason="libsndfile without MP3")
def test_an_mp3_decodes_without_the_decoders_own_chatter(
    tmp_path: Path, gtzan_sample: Path
) -> None:
    real, rate = sf.read(gtzan_sample / "genres_original" / "metal" / "metal.00000.wav")
    sf.write(tmp_path / "metal.mp3", real, rate)
    # The same bytes under another name: libsndfile decodes by content, as MP3.
    (tmp_path / "metal.wav").write_bytes((tmp_path / "metal.mp3").read_bytes())
    (tmp_path / "text.mp3").write_text("not audio")
    for name in ("metal.mp3", "metal.wav"):
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                _MP3_IN_BLOCKS,
                str(tmp_path / name),
                str(tmp_path / "text.mp3"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        lines = proc.stderr.splitlines()
        assert lines[0] == "before" and lines[1].startswith("cannot decode audio (format not")
        # The clip's 30 s are all there: 30 whole windows of 1 s, and its samples in one piece.
        (after,) = [line for line in lines if line.startswith("after")]
        assert after.split()[1] == "30" and int(after.split()[2]) >= 30 * 22050
        assert len(lines) == 3, proc.stderr[-2000:]  # nothing of libmpg123's


def test_an_opus_file_decodes_and_an_m4a_names_the_conversion(
    tmp_path: Path, gtzan_sample: Path
) -> None:
    """Opus (in Ogg) is read like any other format; AAC in an ``.m4a`` cannot be, and the
    reason says what to do rather than libsndfile's "Format not recognised"."""
    clip = load_audio(gtzan_sample / "genres_original" / "jazz" / "jazz.00000.wav")[: 22050 * 3]
    path = tmp_path / "tune.opus"  # Opus codes 48 kHz (or 8, 12, 16, 24), not 22.05
    sf.write(path, AF.resample(clip, 22050, 48000).numpy(), 48000, format="OGG", subtype="OPUS")
    wave = load_audio(path)
    assert wave.shape[0] == pytest.approx(clip.shape[0], abs=300)  # Opus's pre-skip padding
    spectra = [
        torch.stft(w[:60000], 2048, window=torch.hann_window(2048), return_complex=True)
        .abs()
        .mean(-1)
        for w in (clip, wave)
    ]
    assert torch.corrcoef(torch.stack(spectra))[0, 1] > 0.95  # the same music, lossy
    m4a = tmp_path / "tune.m4a"
    m4a.write_bytes(b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00" * 8)
    with pytest.raises(AudioDecodeError) as err:
        load_audio(m4a)
    assert err.value.reason == (
        "cannot decode audio (.m4a is an audio format that cannot be decoded here: convert it to "
        "FLAC, e.g. `ffmpeg -i 'song.m4a' 'song.flac'`)"
    )
