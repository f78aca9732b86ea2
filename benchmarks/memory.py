"""``memory``: peak memory of a training run on a GTZAN-sized synthetic set (1000 x 30 s).

Runs ``python -m genre_lightning`` in a subprocess, twice: the first run generates the set and
decodes it into the waveform cache, the second finds the cache. Each run trains a few steps
with two DataLoader workers that load samples from the memory-mapped int16 array. The process
tree is sampled from ``/proc`` (Linux) every 0.2 s:

* RSS counts the pages of the memory-mapped cache a process has touched (shared, file-backed);
* anonymous memory (``RssAnon``) is what a process allocated itself;
* a worker's private dirty memory is what it wrote for itself, on top of the main process it
  was forked from: a worker holding its own copy of the 1.3 GB array would show it here
  (its clean private pages are page cache of the memory map, reclaimable and not counted);
* PSS splits shared pages between the processes that map them: the tree's real footprint.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import (
    CLIP_SAMPLES,
    REPO,
    SYNTHETIC_SECONDS,
    Row,
    scratch_dir,
    synthetic_gtzan_root,
)
from genre_lightning.data.synthesis import STYLES

CLIPS_PER_CLASS = 100


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found + [g for c in found for g in _children(c)]


def _kib(pid: int, field: str, name: str = "status") -> int:
    try:
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _peaks(args: list[str], cwd: Path) -> dict[str, float]:
    """Run ``python -m genre_lightning ARGS``; peak memory figures of its tree in MiB."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "genre_lightning", *args],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = {"rss": 0, "anon": 0, "pss": 0, "worker_dirty": 0, "workers": 0}
    while proc.poll() is None:
        workers = _children(proc.pid)
        peak["rss"] = max(peak["rss"], _kib(proc.pid, "VmRSS"))
        peak["anon"] = max(peak["anon"], _kib(proc.pid, "RssAnon"))
        pss = sum(_kib(p, "Pss", "smaps_rollup") for p in [proc.pid, *workers])
        peak["pss"] = max(peak["pss"], pss)
        dirty = (_kib(w, "Private_Dirty", "smaps_rollup") for w in workers)
        peak["worker_dirty"] = max([peak["worker_dirty"], *dirty])
        peak["workers"] = max(peak["workers"], len(workers))
        time.sleep(0.2)
    stderr = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"training run failed ({proc.returncode}):\n{stderr[-3000:]}")
    return {k: v / 1024 if k != "workers" else v for k, v in peak.items()}


def run(quick: bool = False) -> list[Row]:
    """Rows: peak RSS, anonymous memory and PSS of both runs, against the array's size."""
    if not Path("/proc/self/smaps_rollup").exists():
        return [Row("memory", "skipped: needs Linux /proc", 0, "")]
    per_class = 10 if quick else CLIPS_PER_CLASS
    array_mib = per_class * len(STYLES) * CLIP_SAMPLES * 2 / 2**20
    data = synthetic_gtzan_root()
    cache = scratch_dir() / "waves"  # kept across runs, like the set itself
    with tempfile.TemporaryDirectory(prefix="gl-bench-memory-") as tmp:
        args = [
            "data=synthetic",
            f"data.root={data}",
            f"data.cache_dir={cache}",
            f"data.clips_per_class={per_class}",
            f"data.seconds={SYNTHETIC_SECONDS}",
            f"data.clip_samples={CLIP_SAMPLES}",
            "data.features.num_frames=668",
            "data.batch_size=8",
            "data.num_workers=2",
            "data.cache_features=false",  # the workers load the samples
            "trainer.max_epochs=1",
            "+trainer.limit_train_batches=4",
            "+trainer.limit_val_batches=1",
            "+trainer.limit_test_batches=1",
            "trainer.enable_progress_bar=false",
            "callbacks.rich_progress_bar=null",
            f"hydra.run.dir={tmp}/run",
        ]
        before = set(cache.glob("waves-*.npy"))
        first = _peaks(args, REPO)
        built = set(cache.glob("waves-*.npy")) != before  # this set's cache is new
        again = _peaks([*args[:-1], f"hydra.run.dir={tmp}/run2"], REPO)
    clips = f"{per_class * 10} clips x {SYNTHETIC_SECONDS:.0f} s, int16 cache {array_mib:.0f} MiB"
    label = "first run: generate+decode" if built else "first run (cache existed already)"
    rows = [Row("memory", f"{label}: peak PSS of the tree", first["pss"], "MiB", clips)]
    share = again["worker_dirty"] / array_mib * 100
    for name, value, unit, note in (
        ("cache hit: peak RSS, main process", again["rss"], "MiB", "with touched cache pages"),
        ("cache hit: peak anonymous, main process", again["anon"], "MiB", "own allocations"),
        ("cache hit: peak PSS, main + workers", again["pss"], "MiB", "the tree's footprint"),
        ("cache hit: peak private dirty, per worker", again["worker_dirty"], "MiB", ""),
        ("worker private dirty vs the array", share, "%", "100 = a private copy"),
        ("DataLoader workers seen", again["workers"], "", "2 each for train and val"),
    ):
        rows.append(Row("memory", name, value, unit, note))
    return rows
