"""Decoding audio files into mono waveforms at one sample rate.

The data pipeline (the GTZAN index, the synthetic set) decodes whole clips with
:func:`load_audio`. ``predict`` reads recordings of any length with :class:`WindowReader`,
which decodes block by block and yields the same samples as :func:`load_audio` cut into
fixed-length windows, so its memory stays bounded whatever the file's length.
"""

from __future__ import annotations

import os
import stat
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from genre_lightning.audio_files import SAMPLE_RATE, flac_advice, is_undecodable_audio_name
from genre_lightning.quiet import CHATTY_DECODERS, native_stderr_silenced
from genre_lightning.resampling import StreamingResampler, workable_rate

#: The loudest sample (mono) of a recording with no music in it: one step of 16-bit PCM
#: (-90 dBFS), which is what channels in opposite phase leave after a float-to-PCM conversion's
#: rounding. A network names a genre for anything, silence included, so such files are neither
#: classified nor trained on.
SILENCE_PEAK = 1 / 32768
#: Why such a file is skipped.
SILENT = "silent: no sample above -90 dBFS (its channels mixed to mono)"


#: Frames decoded at a time by :class:`WindowReader` (1.5 s at 44.1 kHz; 0.5 MB as float32
#: stereo): the memory of a decode does not grow with the file.
BLOCK_FRAMES = 1 << 16


class AudioDecodeError(RuntimeError):
    """A file could not be decoded as audio; the message names the file and the reason.

    Args:
        path: The file.
        reason: Why it could not be used, without the path.
    """

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


#: Frames decoded past what ``max_samples`` needs, for the resampling filter's right-hand
#: context (a few dozen frames at any rate this package reads): the samples kept are those of
#: the whole file's decode.
_RESAMPLING_MARGIN = 4096


def load_audio(
    path: str | Path, sample_rate: int = SAMPLE_RATE, max_samples: int | None = None
) -> torch.Tensor:
    """Decode a file to a mono float32 waveform at ``sample_rate``.

    Args:
        path: Any file libsndfile can read (wav, au, flac, ogg, mp3 where supported).
        sample_rate: Target rate; other rates are resampled with torchaudio.
        max_samples: Decode only what the first ``max_samples`` samples need (a little more),
            so an hour-long recording costs the memory of those; ``None``: the whole file.

    Returns:
        A 1-D float32 tensor in [-1, 1]: the whole file, or (with ``max_samples``) at least its
        first ``max_samples`` samples where it has them, each as the whole file's decode gives
        it.

    Raises:
        AudioDecodeError: The file is missing, empty, truncated or not audio.
    """
    path = Path(path)
    try:
        # Bytes, not str: soundfile encodes names strictly and would refuse a non-UTF-8 one.
        with native_stderr_silenced(_chatty(path)), sf.SoundFile(os.fsencode(path)) as f:
            file_rate = f.samplerate
            frames = -1
            if max_samples is not None:
                frames = -(-max_samples * file_rate // sample_rate) + _RESAMPLING_MARGIN
            data = f.read(frames, dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types (LibsndfileError, RuntimeError)
        raise AudioDecodeError(path, f"cannot decode audio ({_reason(exc, path)})") from exc
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
        wave = AF.resample(
            wave, orig_freq=workable_rate(int(file_rate), sample_rate), new_freq=sample_rate
        )
    return wave


#: Container headers that state the size of their sample data: the form's magics and type, the
#: byte order of its chunk sizes, and the chunk of the samples. (AU's and W64's are read apart.)
_SIZED_CONTAINERS = (
    # WAV, and RF64/BW64 (WAV past 4 GiB: sizes of 0xFFFFFFFF are given in a ds64 chunk)
    ((b"RIFF", b"RF64", b"BW64"), (b"WAVE",), "<", b"data"),
    ((b"FORM",), (b"AIFF", b"AIFC"), ">", b"SSND"),  # AIFF; chunk sizes big-endian
)
#: Sony Wave64: 16-byte GUIDs whose first four bytes read as WAV's ids, 64-bit sizes that count
#: the 24-byte chunk header, chunks aligned to 8 bytes.
_W64_RIFF = b"riff\x2e\x91\xcf\x11\xa5\xd6\x28\xdb\x04\xc1\x00\x00"
_W64_SUFFIX = b"\xf3\xac\xd3\x11\x8c\xd1\x00\xc0\x4f\x8e\xdb\x8a"


def _truncated_bytes(path: Path) -> int:
    """Bytes of sample data a WAV (RIFF, RF64, BW64, Wave64), AIFF or AU header, or an MP3's
    Xing or Info frame, promises beyond the end of the file.

    libsndfile quietly decodes what is there, so a half-copied file would otherwise train as a
    short clip. Only these headers state the data size; other formats (and MP3s without such a
    frame) return 0.
    """
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(40)
        for magics, kinds, order, samples in _SIZED_CONTAINERS:
            if head[:4] not in magics or head[8:12] not in kinds:
                continue
            offset, data_64 = 12, None
            while offset + 8 <= size:
                f.seek(offset)
                chunk, length = struct.unpack(f"{order}4sI", f.read(8))
                if chunk == b"ds64" and length >= 16:  # RF64: riff size, then data size
                    data_64 = struct.unpack("<Q", f.read(16)[8:])[0]
                if chunk == samples:
                    if length == 0xFFFFFFFF:  # "size given elsewhere": the ds64 chunk's
                        length = data_64 if data_64 is not None else 0
                    return max(0, length - (size - offset - 8))
                offset += 8 + length + (length & 1)  # chunks are padded to even sizes
        if head[:16] == _W64_RIFF and head[24:40] == b"wave" + _W64_SUFFIX:
            offset = 40
            while offset + 24 <= size:
                f.seek(offset)
                guid, length = struct.unpack("<16sQ", f.read(24))
                if length < 24:  # a damaged header: nothing to measure by
                    return 0
                if guid == b"data" + _W64_SUFFIX:
                    return max(0, length - (size - offset))
                offset += length + (-length & 7)
        if head[:4] == b".snd":
            data_offset, length = struct.unpack(">II", head[4:12])
            return max(0, length - (size - data_offset)) if length != 0xFFFFFFFF else 0
        start = _id3v2_size(head)
        f.seek(start)
        promised = _mpeg_stream_bytes(f.read(_VBR_FRAME_BYTES))
        # Compared with the whole file: encoders differ on whether the count includes a leading
        # ID3v2 tag (libsndfile's does), so only what is missing beyond that is certain.
        return max(0, promised - size)
    return 0


#: Bytes of an MP3's first frame read for its Xing/Info header (the fields needed end by
#: byte 52: MPEG-1 stereo's 32 bytes of side information put the header furthest in).
_VBR_FRAME_BYTES = 64


def _id3v2_size(head: bytes) -> int:
    """Bytes of the ID3v2 tag at the start of an MP3 (0: none): a 10-byte header whose size
    is a 28-bit "synchsafe" integer (7 bits a byte), plus a 10-byte footer where flagged."""
    if head[:3] != b"ID3" or len(head) < 10:
        return 0
    size = 0
    for byte in head[6:10]:
        size = (size << 7) | (byte & 0x7F)
    return 10 + size + (10 if head[5] & 0x10 else 0)


def _mpeg_stream_bytes(frame: bytes) -> int:
    """The stream size an MPEG layer III frame's Xing/Info header (LAME's, libsndfile's)
    states, in bytes; 0 where ``frame`` is not such a frame or states none (Fraunhofer's rarer
    VBRI header is not read)."""
    if len(frame) < 4 or frame[0] != 0xFF or frame[1] & 0xE0 != 0xE0:
        return 0  # no frame sync
    version, layer, mono = (frame[1] >> 3) & 3, (frame[1] >> 1) & 3, frame[3] >> 6 == 3
    if layer != 1 or version == 1:  # layer III only; version 1 is reserved
        return 0
    # The Xing header follows the frame's 4-byte header and its side information, whose size
    # depends on the MPEG version (3: MPEG-1; 2 and 0: MPEG-2 and 2.5) and the channels.
    side = (17 if mono else 32) if version == 3 else (9 if mono else 17)
    at = 4 + side
    if frame[at : at + 4] not in (b"Xing", b"Info") or len(frame) < at + 16:
        return 0
    flags = struct.unpack(">I", frame[at + 4 : at + 8])[0]
    if not flags & 2:  # no stream size
        return 0
    field = at + 8 + (4 if flags & 1 else 0)  # after the frame count, where that is given
    return int(struct.unpack(">I", frame[field : field + 4])[0])


class WindowReader:
    """A recording of any length as mono float32 windows at ``sample_rate``, decoded in blocks.

    Iterating yields ``(window, length)``: every whole window of ``window_samples`` in order
    from the start, each with ``length == window_samples``; the tail shorter than a window is
    left out. A recording shorter than one window is one zero-padded window with its true
    length. The samples are those of :func:`load_audio` (same decode, channel mean and sinc
    resampling, computed block by block), but only about one block and one window are held at
    a time. After iterating, :attr:`samples` is the recording's length at ``sample_rate``,
    :attr:`windows` the number of windows yielded and :attr:`peak` the largest magnitude of its
    mono samples as decoded (0: digital silence).

    Args:
        path: Any file libsndfile can read; names that are not valid UTF-8 work too.
        sample_rate: The rate to decode at.
        window_samples: Samples per window.
        block_frames: Frames decoded at a time.

    Raises:
        AudioDecodeError: (while iterating) the file cannot be read (the reason says why, e.g.
            ``Permission denied``), is not audio, is truncated, holds no samples or decodes to
            non-finite values.
    """

    def __init__(
        self,
        path: str | Path,
        sample_rate: int,
        window_samples: int,
        block_frames: int = BLOCK_FRAMES,
    ) -> None:
        self.path = Path(path)
        self.sample_rate, self.window_samples = sample_rate, window_samples
        self.block_frames = block_frames
        self.samples = 0
        self.windows = 0
        self.peak = 0.0

    def __iter__(self) -> Iterator[tuple[torch.Tensor, int]]:
        path = self.path
        try:
            missing = _truncated_bytes(path)
        except OSError as exc:  # read here first: libsndfile would only say "System error"
            raise AudioDecodeError(path, f"cannot read the file ({exc.strerror or exc})") from None
        try:
            # Bytes, not str: soundfile encodes names strictly and would refuse a non-UTF-8 one.
            with native_stderr_silenced(_chatty(path)):
                sound = sf.SoundFile(os.fsencode(path))
        except Exception as exc:  # soundfile raises several types (LibsndfileError, RuntimeError)
            raise AudioDecodeError(path, f"cannot decode audio ({_reason(exc, path)})") from exc
        if missing:  # (after the decoder's verdict: a header of garbage promises anything)
            sound.close()
            raise AudioDecodeError(path, f"file is truncated ({missing} bytes of audio missing)")
        window = np.zeros(self.window_samples, np.float32)
        filled = 0
        self.samples = self.windows = 0
        self.peak = 0.0
        with sound:
            for out in self._resampled(sound):
                self.samples += out.size
                while out.size:
                    take = min(out.size, self.window_samples - filled)
                    window[filled : filled + take] = out[:take]
                    filled, out = filled + take, out[take:]
                    if filled == self.window_samples:
                        self.windows += 1
                        yield torch.from_numpy(window.copy()), self.window_samples
                        filled = 0
        if self.samples == 0:
            raise AudioDecodeError(path, "file holds no samples")
        if self.windows == 0:  # shorter than one window: zero-padded, as in training
            window[filled:] = 0.0
            self.windows = 1
            yield torch.from_numpy(window), filled

    def _resampled(self, sound: sf.SoundFile) -> Iterator[np.ndarray]:
        """Mono blocks at the target rate, as they are decoded."""
        rate = int(sound.samplerate)
        resampler = StreamingResampler(rate, self.sample_rate) if rate != self.sample_rate else None
        chatty = sound.format == "MPEG" or _chatty(self.path)
        while True:
            try:
                with native_stderr_silenced(chatty):
                    data = sound.read(self.block_frames, dtype="float32", always_2d=True)
            except Exception as exc:
                raise AudioDecodeError(
                    self.path, f"cannot decode audio ({_reason(exc, self.path)})"
                ) from exc
            if data.shape[0] == 0:
                break
            # Averaging channels keeps the level of a centred mono source (as load_audio does).
            mono = data.mean(axis=1)
            if not np.isfinite(mono).all():
                raise AudioDecodeError(self.path, "decoded samples are not finite")
            self.peak = max(self.peak, float(np.abs(mono).max()))
            yield resampler.feed(mono) if resampler else mono
        if resampler:
            yield resampler.flush()


def _chatty(path: Path) -> bool:
    """Whether the file's decoder prints its own diagnostics (see ``quiet.CHATTY_DECODERS``):
    by its name, or by its first bytes, since libsndfile picks the decoder by content (an MP3
    saved as ``.wav`` is decoded as MP3)."""
    if path.suffix.lower() in CHATTY_DECODERS:
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(3)
    except OSError:  # said by the decode itself
        return False
    # An ID3 tag, or an MPEG audio frame's 11-bit sync word.
    return head == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)


#: What libsndfile's MPEG reader says of any file it cannot open (a text file named ``.mp3``,
#: an empty one), though the file exists and is regular.
_MPEG_MISREPORT = "File does not exist or is not a regular file"


def _reason(exc: Exception, path: Path) -> str:
    """libsndfile's own words, without soundfile's "Error opening <name>:" prefix, except
    where they mislead: a missing file ("System error."), an empty one, or one whose format
    libsndfile's MPEG reader does not recognise."""
    words = str(getattr(exc, "error_string", "") or exc)
    try:
        info = path.stat()
    except FileNotFoundError:
        return "no such file"
    except OSError:
        return words
    if not stat.S_ISREG(info.st_mode):
        return words
    if not os.access(path, os.R_OK):  # libsndfile says only "System error."
        return "permission denied: make the file readable, e.g. chmod a+r"
    if info.st_size == 0:
        return "the file is empty"
    if is_undecodable_audio_name(path):
        return f"{path.suffix.lower()} is an audio format that cannot be decoded here: " + (
            flac_advice(path, "it")
        )
    if words.startswith(_MPEG_MISREPORT):
        return "format not recognised: not audio, or damaged"
    return words


def fix_length(wave: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Crop (from the start) or zero-pad (at the end) a 1-D waveform to ``num_samples``."""
    if wave.shape[-1] >= num_samples:
        return wave[..., :num_samples]
    return torch.nn.functional.pad(wave, (0, num_samples - wave.shape[-1]))


def clip_to_int16_range(wave: torch.Tensor) -> torch.Tensor:
    """Clip a float waveform to what int16 holds, as the training cache stores every clip: a
    float file whose peaks pass full scale is heard by predict as training heard such files."""
    return wave.clamp(-1.0, 32767 / 32768)


def to_int16(wave: torch.Tensor) -> torch.Tensor:
    """Quantise a float waveform in [-1, 1] to int16 (lossless for 16-bit sources like GTZAN)."""
    return torch.round(clip_to_int16_range(wave) * 32768.0).to(torch.int16)


def from_int16(wave: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_int16`: the scaling soundfile uses for 16-bit PCM."""
    return wave.to(torch.float32) / 32768.0


def check_float_wave(wave: torch.Tensor) -> None:
    """Refuse integer samples where float waveforms in [-1, 1] are expected.

    int16 samples cast to float are 32768 times too loud: clipped, they score as a square wave
    (a confident, meaningless genre), so the caller is told to scale them.

    Raises:
        TypeError: ``wave`` is not a floating-point tensor.
    """
    if not wave.is_floating_point():
        raise TypeError(
            f"wave: expected float samples in [-1, 1], got {wave.dtype}; scale integer PCM "
            f"first (int16: genre_lightning.audio.from_int16, which divides by 32768)"
        )
