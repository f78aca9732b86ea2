"""``musicnn``: musicnn's features per clip on the CPU, and the probe recipe end to end.

Extraction: real 30 s sample clips through the front end (resampling to 16 kHz, mel, log) and
the pretrained network, 10 patches of 3 s per clip in one batch, as the probe computes them.
End to end: ``python -m genre_lightning experiment=musicnn_probe`` on the 50 sample clips in a
subprocess (decode, features once, 60 epochs of the head, test), wall-clock; then the same
command again, which reads the features the first stored (and the decoded clips). The weights come
from the user cache (fetched with pip the first time) or ``GENRE_LIGHTNING_MUSICNN_WHEEL``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

from benchmarks.common import REPO, Row, median, sample_root
from genre_lightning.audio import load_audio
from genre_lightning.features.mel import MelFeatures
from genre_lightning.hydra_conf import compose_config
from genre_lightning.models.musicnn import Musicnn
from genre_lightning.models.musicnn_tf import pretrained_musicnn

CHUNK = 66_150  # 3 s at 22,050 Hz


def musicnn_source() -> str | None:
    """The musicnn wheel or unpacked model folder ``GENRE_LIGHTNING_MUSICNN_WHEEL`` names, or
    None: the user cache (fetched with pip the first time)."""
    return os.environ.get("GENRE_LIGHTNING_MUSICNN_WHEEL")


def musicnn_parts() -> tuple[MelFeatures, Musicnn]:
    """musicnn's front end, as ``experiment=musicnn_probe`` configures it, and MSD_musicnn."""
    recipe = compose_config("train", ["experiment=musicnn_probe"])
    front = MelFeatures(sample_rate=22050, **OmegaConf.to_container(recipe.data.features))  # type: ignore[arg-type]
    return front, pretrained_musicnn("MSD_musicnn", source=musicnn_source())


def extraction(root: Path, clips: int) -> list[Row]:
    """Seconds per 30 s clip: front end + network, features of every 3 s chunk."""
    front, net = musicnn_parts()
    files = sorted(root.glob("genres_original/*/*.wav"))[:: max(1, 50 // clips)][:clips]
    waves = [load_audio(f) for f in files]
    times = []
    with torch.no_grad():
        for i, wave in enumerate([waves[0], *waves]):  # the first, again: a warm-up
            count = wave.numel() // CHUNK
            start = time.perf_counter()
            net(front(wave[: count * CHUNK].view(count, CHUNK)))
            if i:
                times.append(time.perf_counter() - start)
    threads = torch.get_num_threads()
    note = f"{len(times)} clips, 10 patches each, {threads} threads"
    return [
        Row(
            "musicnn",
            "features of a 30 s clip (front end + network)",
            median(times),
            "s/clip",
            note,
        )
    ]


def end_to_end(root: Path, epochs: int) -> list[Row]:
    """Wall-clock seconds of the probe recipe on the sample, in a fresh process: first with
    nothing cached, then again, reading the stored features (module.embedding_cache_dir) and
    the decoded clips."""
    with tempfile.TemporaryDirectory(prefix="gl-bench-musicnn-") as tmp:
        args = [
            "experiment=musicnn_probe",
            "data=folder",
            f"data.root={root / 'genres_original'}",
            f"data.cache_dir={tmp}/cache",
            f"module.embedding_cache_dir={tmp}/embeddings",
            f"trainer.max_epochs={epochs}",
            "callbacks.rich_progress_bar=null",
            "trainer.enable_progress_bar=false",
        ]
        if musicnn_source():
            args.append(f"model.source={musicnn_source()}")
        times = []
        for run in ("first", "again"):
            start = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "genre_lightning", *args, f"hydra.run.dir={tmp}/{run}"],
                cwd=REPO,
                capture_output=True,
                text=True,
            )
            times.append(time.perf_counter() - start)
            if done.returncode != 0:
                return [Row("musicnn", f"probe failed: {done.stderr.strip()[-200:]}", 0, "")]
    cold, warm = times
    return [
        Row(
            "musicnn",
            "experiment=musicnn_probe end to end",
            cold,
            "s",
            f"50 clips, first decode and features included, {epochs} epochs",
        ),
        Row(
            "musicnn",
            "experiment=musicnn_probe again (stored features)",
            warm,
            "s",
            f"the same command: {cold / warm:.1f}x faster than the first",
        ),
    ]


def run(quick: bool = False) -> list[Row]:
    """Rows: extraction s/clip, and the probe's end-to-end time, cold and warm."""
    root = sample_root()
    if root is None:
        return [Row("musicnn", "skipped: no GTZAN sample (set GENRE_LIGHTNING_SAMPLE)", 0, "")]
    rows = extraction(root, clips=3 if quick else 10)
    return rows + end_to_end(root, epochs=5 if quick else 60)
