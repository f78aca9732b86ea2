"""data/cache.py: decode once, reuse, rebuild when stale or broken, skip bad files by name."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from omegaconf import DictConfig

from genre_lightning.audio import SILENT, load_audio, to_int16
from genre_lightning.data.cache import load_or_build
from genre_lightning.data.index import index_clips
from genre_lightning.train import train

from ..conftest import copy_sample, run_unprivileged

N = 22050  # 1 s keeps these tests fast


@pytest.fixture
def small_root(tmp_path: Path, gtzan_sample: Path) -> Path:
    return copy_sample(gtzan_sample, tmp_path / "gtzan", ("jazz", "metal"), per_genre=3)


def test_builds_then_hits(small_root: Path, tmp_path: Path) -> None:
    clips, _ = index_clips(small_root)
    first = load_or_build(clips, tmp_path / "cache", 22050, N)
    assert not first.hit and first.waves.dtype == np.int16 and first.waves.shape == (6, N)
    assert isinstance(first.waves, np.memmap)
    expected = to_int16(load_audio(clips[4].path)[:N]).numpy()
    np.testing.assert_array_equal(first.waves[4], expected)
    # A clip longer than what is stored is decoded only that far (plus the resampler's margin).
    assert N <= first.lengths[4] < load_audio(clips[4].path).shape[0]

    mtime = first.path.stat().st_mtime_ns
    second = load_or_build(clips, tmp_path / "cache", 22050, N)
    assert second.hit and second.path == first.path and second.path.stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(second.waves, first.waves)
    assert not list((tmp_path / "cache").glob(".*.tmp-*"))  # no temp files left


def test_key_changes_with_files_and_parameters(small_root: Path, tmp_path: Path) -> None:
    clips, _ = index_clips(small_root)
    a = load_or_build(clips, tmp_path / "cache", 22050, N)
    b = load_or_build(clips, tmp_path / "cache", 22050, N // 2)
    assert b.path != a.path and b.waves.shape == (6, N // 2)
    st = clips[0].path.stat()
    os.utime(clips[0].path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # file touched
    c = load_or_build(clips, tmp_path / "cache", 22050, N)
    assert not c.hit and c.path != a.path


def test_truncated_cache_is_rebuilt(
    small_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clips, _ = index_clips(small_root)
    first = load_or_build(clips, tmp_path / "cache", 22050, N)
    data = first.path.read_bytes()
    first.path.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.INFO):
        again = load_or_build(clips, tmp_path / "cache", 22050, N)
    assert not again.hit and again.waves.shape == (6, N)
    assert "rebuilding" in caplog.text


def test_corrupt_file_is_skipped_and_named(
    small_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (small_root / "jazz" / "jazz.00054.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    clips, _ = index_clips(small_root)
    with caplog.at_level(logging.WARNING):
        cache = load_or_build(clips, tmp_path / "cache", 22050, N)
    assert len(clips) == 7 and len(cache.kept) == 6 and cache.waves.shape[0] == 6
    assert [Path(p).name for p, _ in cache.skipped] == ["jazz.00054.wav"]
    assert "jazz.00054.wav" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        hit = load_or_build(clips, tmp_path / "cache", 22050, N)
    assert hit.hit and "jazz.00054.wav" in caplog.text  # reported again from the cache


def test_a_silent_clip_is_skipped_and_named(
    small_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A genre learnt from silence: an export gone wrong trained on without a word.
    sf.write(small_root / "jazz" / "blank.wav", np.zeros(2 * N, np.float32), 22050)
    # Silent where it is stored (the first second), music after it: judged on what is used.
    late = np.concatenate([np.zeros(N + 4096), 0.3 * np.sin(np.arange(N) * 0.05)])
    sf.write(small_root / "metal" / "late.wav", late.astype(np.float32), 22050)
    # One quantisation step of dither is silence; two steps (-84 dBFS) are kept.
    quiet = np.tile([2, -2], N).astype(np.int16)
    sf.write(small_root / "metal" / "quiet.wav", quiet, 22050, subtype="PCM_16")
    clips, _ = index_clips(small_root)
    with caplog.at_level(logging.WARNING):
        cache = load_or_build(clips, tmp_path / "cache", 22050, N)
    assert sorted(Path(p).name for p, _ in cache.skipped) == ["blank.wav", "late.wav"]
    assert all(why == f"{SILENT} in the 1.0 s used" for _, why in cache.skipped)
    assert len(cache.kept) == 7 and "quiet.wav" in [clips[i].path.name for i in cache.kept]
    assert "blank.wav" in caplog.text and "late.wav" in caplog.text
    # A clip with music in the part stored is kept, whatever follows it.
    longer = load_or_build(clips, tmp_path / "cache", 22050, 3 * N)
    assert [Path(p).name for p, _ in longer.skipped] == ["blank.wav"]


def test_unwritable_cache_dir_is_a_clear_error(small_root: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    clips, _ = index_clips(small_root)
    with pytest.raises(Exception, match=r"data\.cache_dir"):
        load_or_build(clips, blocker / "cache", 22050, N)


_BUILD = """
import sys
from genre_lightning.data.cache import load_or_build
from genre_lightning.data.index import index_clips
clips, _ = index_clips(sys.argv[1])
cache = load_or_build(clips, sys.argv[2], 22050, 44100)
print(cache.hit, cache.waves.shape)
"""


def test_two_processes_building_at_once_leave_a_valid_cache(
    small_root: Path, tmp_path: Path
) -> None:
    cache_dir = tmp_path / "shared-cache"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _BUILD, str(small_root), str(cache_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    clips, _ = index_clips(small_root)
    cache = load_or_build(clips, cache_dir, 22050, 44100)
    assert cache.hit and cache.waves.shape == (6, 44100)
    expected = to_int16(load_audio(clips[0].path)[:44100]).numpy()
    np.testing.assert_array_equal(cache.waves[0], expected)
    assert not list(cache_dir.glob(".*.tmp-*"))


@pytest.mark.slow
def test_corrupt_and_truncated_caches_are_rebuilt_then_training_runs(
    small_root: Path,
    tmp_path: Path,
    make_cfg: Callable[..., DictConfig],
    caplog: pytest.LogCaptureFixture,
) -> None:
    overrides = [
        "trainer=debug",
        f"data.root={small_root}",
        f"data.cache_dir={tmp_path / 'c'}",
        "data.class_names=[jazz,metal]",
        "data.batch_size=2",
        "data.split=kfold",
        "data.num_folds=3",
        "callbacks.rich_progress_bar=null",
        "trainer.enable_progress_bar=false",
    ]
    train(make_cfg(overrides))
    npy = next((tmp_path / "c").glob("waves-*.npy"))
    meta = npy.with_suffix(".json")
    meta.write_text("{ not json")  # corrupted manifest
    with caplog.at_level(logging.INFO):
        train(make_cfg(overrides))
    assert "unreadable cache, rebuilding" in caplog.text
    npy.write_bytes(npy.read_bytes()[:1000])  # truncated array
    caplog.clear()
    with caplog.at_level(logging.INFO):
        metrics = train(make_cfg(overrides))
    assert "rebuilding" in caplog.text and metrics["epochs"] == 1


@pytest.mark.parametrize(
    ("damage", "file"),
    [
        (b"", "npy"),  # numpy: EOFError
        (b"\x93NUMPY\x01\x00\x10\x00{'descr': '<i2', ", "npy"),  # a header cut short
        (b"[1, 2]", "json"),  # JSON, but not the manifest's record
        (b'{"key": "x"}', "json"),
    ],
)
def test_a_damaged_cache_of_any_kind_is_rebuilt(
    small_root: Path, tmp_path: Path, damage: bytes, file: str
) -> None:
    clips, _ = index_clips(small_root)
    first = load_or_build(clips, tmp_path / "cache", 22050, N)
    expected = np.array(first.waves)  # a copy: the memory map would fault once the file is cut
    del first.waves
    first.path.with_suffix(f".{file}").write_bytes(damage)
    again = load_or_build(clips, tmp_path / "cache", 22050, N)
    assert not again.hit and again.waves.shape == (6, N)
    np.testing.assert_array_equal(again.waves, expected)


_LOAD = """
import sys
from genre_lightning.data.cache import load_or_build
from genre_lightning.data.index import index_clips
clips, _ = index_clips(sys.argv[1])
try:
    cache = load_or_build(clips, sys.argv[2], 22050, 22050)
    print(len(cache.kept), *(why for _, why in cache.skipped))
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}")
"""


def test_a_file_skipped_as_unreadable_is_decoded_once_it_can_be_read(
    small_root: Path, tmp_path: Path
) -> None:
    """chmod changes neither a file's size nor its time, which key the cache: a skip for a
    permission would otherwise be served from the cache after the fix."""
    locked = small_root / "jazz" / "jazz.00001.wav"
    locked.chmod(0)
    first = run_unprivileged(_LOAD, str(small_root), str(tmp_path / "cache"))
    assert first.stdout.strip() == (
        "5 cannot decode audio (permission denied: make the file readable, e.g. chmod a+r)"
    ), first.stdout + first.stderr
    locked.chmod(0o644)
    fixed = run_unprivileged(_LOAD, str(small_root), str(tmp_path / "cache"))
    assert fixed.stdout.strip() == "6", fixed.stdout + fixed.stderr
    (tmp_path / "read-only").mkdir(mode=0o555)
    refused = run_unprivileged(_LOAD, str(small_root), str(tmp_path / "read-only"))
    assert refused.stdout.strip() == (
        f"UserError: cannot write into the waveform cache folder {tmp_path / 'read-only'} "
        f"(permission denied), and it holds no cache of these clips; set data.cache_dir to a "
        f"writable folder."
    ), refused.stdout + refused.stderr
