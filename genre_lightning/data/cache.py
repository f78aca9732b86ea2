"""The decoded-waveform cache: one memory-mapped int16 array per dataset and decode settings.

Decoding 1000 GTZAN clips takes a while; reading a memory-mapped ``.npy`` takes nothing, and
DataLoader workers share its pages instead of copying the array. The cache is keyed on the file
list (paths, sizes, modification times) and the decode parameters, written to a temporary file
and renamed into place, and checked on load, so an interrupted or stale cache is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genre_lightning.audio import (
    SILENCE_PEAK,
    SILENT,
    AudioDecodeError,
    fix_length,
    from_int16,
    load_audio,
    to_int16,
)
from genre_lightning.data.cache_dir import mark_used, prune
from genre_lightning.data.index import Clip
from genre_lightning.errors import UserError
from genre_lightning.files import commit, write_text_atomic
from genre_lightning.temp_files import remove_stale_temps, temp_path

log = logging.getLogger(__name__)

#: Bump when the decode path changes in a way that changes the cached samples (3: silent clips
#: are skipped; 4: so are MP3s cut short, where their Xing/Info header states their size).
CACHE_VERSION = 4


@dataclass
class WaveformCache:
    """Decoded clips: ``waves[i]`` is the int16 waveform of ``clips[kept[i]]``."""

    waves: np.ndarray  # (num_kept, num_samples) int16, memory-mapped
    lengths: list[int]  # samples of each kept clip before padding (a longer one: >= num_samples)
    kept: list[int]
    skipped: list[tuple[str, str]]  # (path, reason) of files undecodable or silent
    path: Path
    hit: bool  # True when read from disk, False when decoded in this call


def cache_key(clips: Sequence[Clip], sample_rate: int, num_samples: int) -> str:
    """Hash of everything the cached samples depend on."""
    h = hashlib.sha256()
    h.update(json.dumps([CACHE_VERSION, sample_rate, num_samples]).encode())
    for clip in clips:
        h.update(f"{clip.path.resolve()}|{_file_state(clip.path)}|{clip.label}\n".encode())
    return h.hexdigest()[:20]


def _file_state(path: Path) -> str:
    """What a file's decode depends on besides its path: its size and last change, and (when
    not) that it cannot be read, which chmod changes without touching either: a file skipped
    as unreadable is decoded again once it can be read."""
    try:
        st = path.stat()
    except OSError as exc:  # a link to nothing: skipped when decoded, until it leads somewhere
        return f"unreachable {exc.errno}"
    state = f"{st.st_size}|{st.st_mtime_ns}"
    return state if os.access(path, os.R_OK) else f"{state}|unreadable"


def load_or_build(
    clips: Sequence[Clip],
    cache_dir: str | Path,
    sample_rate: int,
    num_samples: int,
    *,
    root: str | Path | None = None,
    keep: int | None = None,
) -> WaveformCache:
    """Return the waveforms of ``clips``, decoding them only if no valid cache exists.

    Files that fail to decode, and those silent in the part stored, are skipped, each with a
    warning naming it and the reason; the list is stored with the cache so a cache hit reports
    them again.

    Args:
        clips: The files, in row order.
        cache_dir: The folder of the caches.
        sample_rate: Decode rate.
        num_samples: Samples stored per clip (cropped or zero-padded).
        root: The data root the clips come from, recorded with the cache so that old caches
            of the same root can be pruned.
        keep: After building, keep this many caches of ``root`` in ``cache_dir`` (the most
            recently used); ``None`` keeps them all.

    Raises:
        UserError: The cache folder cannot be written, or no clip could be used.
    """
    cache_dir = Path(cache_dir)
    key = cache_key(clips, sample_rate, num_samples)
    npy, meta = cache_dir / f"waves-{key}.npy", cache_dir / f"waves-{key}.json"
    reason = _check(npy, meta, key, num_samples)
    if reason is None:
        info = json.loads(meta.read_text())
        skipped = [tuple(s) for s in info["skipped"]]
        for path, why in skipped:
            log.warning("skipped file %s (%s) [from cache]", path, why)
        waves = np.load(npy, mmap_mode="r")
        mark_used(meta)
        return WaveformCache(
            waves,
            info["lengths"],
            info["kept"],
            skipped,
            npy,
            hit=True,
        )
    log.info("building waveform cache %s (%s)", npy, reason)
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot create the waveform cache folder {cache_dir} ({exc}); "
            f"set data.cache_dir to a writable folder."
        ) from exc
    if not os.access(cache_dir, os.W_OK | os.X_OK):  # else the error names a temporary file
        raise UserError(
            f"cannot write into the waveform cache folder {cache_dir} (permission denied), and "
            f"it holds no cache of these clips; set data.cache_dir to a writable folder."
        )
    remove_stale_temps(cache_dir)  # half-written arrays of builds that were killed
    owner = str(Path(root).resolve()) if root is not None else None
    built = _build(clips, npy, meta, key, sample_rate, num_samples, owner)
    if owner is not None and keep is not None:
        prune(cache_dir, owner, keep)
    return built


def _check(npy: Path, meta: Path, key: str, num_samples: int) -> str | None:
    """Why the cache at ``npy`` cannot be used, or None when it can."""
    if not npy.exists() or not meta.exists():
        return "no cache yet"
    try:
        info = json.loads(meta.read_text())
        waves = np.load(npy, mmap_mode="r")
    except Exception as exc:  # damage of any kind: numpy raises several types (EOFError, ...)
        return f"unreadable cache, rebuilding: {type(exc).__name__}: {exc}"
    if not isinstance(info, dict):
        return "cache manifest is not a record, rebuilding"
    if info.get("key") != key:
        return "cache key mismatch, rebuilding"
    if not isinstance(info.get("skipped"), list):
        return "cache manifest is incomplete, rebuilding"
    if len(info.get("lengths", [])) != len(info.get("kept", [])):
        return "cache manifest is incomplete, rebuilding"
    expected = (len(info.get("kept", [])), num_samples)
    if waves.dtype != np.int16 or waves.shape != expected:
        return f"cache holds {waves.dtype}{waves.shape}, expected int16{expected}; rebuilding"
    return None


def _build(
    clips: Sequence[Clip],
    npy: Path,
    meta: Path,
    key: str,
    sample_rate: int,
    num_samples: int,
    root: str | None,
) -> WaveformCache:
    kept: list[int] = []
    lengths: list[int] = []
    skipped: list[tuple[str, str]] = []
    # Per-process temporary names: two runs building the same cache at once never write into
    # the same file, and the rename makes whichever finishes last the (identical) winner.
    tmp_npy, tmp_full = temp_path(npy), temp_path(npy.with_name(npy.name + "-full"))
    try:
        # Rows go straight into a memory-mapped file: building GTZAN's 1.3 GB cache holds one
        # decoded clip in memory at a time, not the whole array (twice, as stacking would).
        rows = np.lib.format.open_memmap(
            tmp_npy, mode="w+", dtype=np.int16, shape=(len(clips), num_samples)
        )
        for i, clip in enumerate(clips):
            try:
                # Only what is stored: a long recording is not decoded (nor held) whole.
                wave = load_audio(clip.path, sample_rate, max_samples=num_samples)
            except AudioDecodeError as exc:
                log.warning("skipped file %s (%s)", clip.path, exc.reason)
                skipped.append((str(clip.path), exc.reason))
                continue
            row = to_int16(fix_length(wave, num_samples))
            # Judged on what is stored (the part trained on), as predict judges the whole file:
            # a silent clip would teach its genre to mean silence.
            if float(from_int16(row).abs().max()) <= SILENCE_PEAK:
                seconds = min(wave.shape[0], num_samples) / sample_rate
                reason = f"{SILENT} in the {seconds:.1f} s used"
                log.warning("skipped file %s (%s)", clip.path, reason)
                skipped.append((str(clip.path), reason))
                continue
            rows[len(kept)] = row.numpy()
            lengths.append(int(wave.shape[0]))
            kept.append(i)
        if not kept:
            first, reason = skipped[0]
            raise UserError(
                f"none of the {len(clips)} audio files could be used (the first, {first}: "
                f"{reason}; the warnings above list each); point data.root at a folder of "
                f"music that soundfile can read (wav, flac, ogg, mp3, au)"
            )
        if len(kept) < len(clips):  # drop the rows of skipped files (file to file, not via RAM)
            full = rows
            os.replace(tmp_npy, tmp_full)
            rows = np.lib.format.open_memmap(
                tmp_npy, mode="w+", dtype=np.int16, shape=(len(kept), num_samples)
            )
            rows[:] = full[: len(kept)]
            del full
        rows.flush()
        del rows
        commit(tmp_npy, npy)
    finally:  # any failure (a crash in a decoder, Ctrl-C) leaves no half-written array
        tmp_npy.unlink(missing_ok=True)
        tmp_full.unlink(missing_ok=True)
    write_text_atomic(
        meta,
        json.dumps(
            {
                "key": key,
                "root": root,
                "kept": kept,
                "lengths": lengths,
                "skipped": skipped,
                "files": [str(c.path) for c in clips],
            }
        ),
    )
    return WaveformCache(np.load(npy, mmap_mode="r"), lengths, kept, skipped, npy, hit=False)
