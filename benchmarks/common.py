"""Shared pieces of the benchmarks: result rows, timing, data locations, machine facts."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The paper's clip (668 frames of hop 992), the length of every benchmark's clips;
# audio_files.py owns it (re-exported for the benchmarks).
from genre_lightning.audio_files import CLIP_SAMPLES as CLIP_SAMPLES

#: The repository root (``benchmarks/`` sits in it).
REPO = Path(__file__).resolve().parents[1]

#: Length of the clips of the GTZAN-sized synthetic set (1000 clips, as many as GTZAN).
SYNTHETIC_SECONDS = 30.0


@dataclass
class Row:
    """One measured number.

    Attributes:
        bench: Benchmark name (``mel``, ``loop``, ...).
        metric: What was measured.
        value: The number.
        unit: Its unit (``ms/clip``, ``x``, ``%``, ``MiB``, ...).
        note: Context: target, spread, error, ...
    """

    bench: str
    metric: str
    value: float
    unit: str
    note: str = ""


def median(values: list[float]) -> float:
    """Median of a non-empty list."""
    return float(statistics.median(values))


def interleaved(
    fns: Mapping[str, Callable[[], Any]], rounds: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Time several callables round-robin, so background load hits them all alike.

    Each round starts one callable further on, so each follows every other equally often:
    on 2 cores, what runs right after librosa (its threads still winding down) was measured
    about 2x slower, which a fixed order charged to one variant alone.

    Args:
        fns: Name -> callable (no arguments).
        rounds: Timed calls of each callable.
        warmup: Untimed calls of each callable first.

    Returns:
        Name -> list of ``rounds`` wall-clock durations in seconds.
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    for turn in range(rounds):
        shift = turn % len(names) if names else 0
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return times


def sample_root() -> Path | None:
    """The real GTZAN sample (``genres_original/<genre>/*.wav``), or None when absent.

    ``GENRE_LIGHTNING_SAMPLE`` wins; otherwise ``../shared/gtzan-sample`` beside the repository.
    """
    root = Path(os.environ.get("GENRE_LIGHTNING_SAMPLE", REPO.parent / "shared" / "gtzan-sample"))
    return root if (root / "genres_original").is_dir() else None


def scratch_dir() -> Path:
    """A folder kept across runs for generated inputs (the synthetic set), outside the repo."""
    path = Path(tempfile.gettempdir()) / "genre-lightning-bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def synthetic_gtzan_root() -> Path:
    """Where the GTZAN-sized synthetic set is generated (once) and cached."""
    return scratch_dir() / "synthetic-gtzan-size"


def _version(package: str) -> str | None:
    # librosa is a dev extra (the mel reference); a GPU machine may run bench-gpu without it.
    import importlib.metadata

    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str | None:
    """The CPU's model name from ``/proc/cpuinfo`` (``platform.processor()`` is empty on
    Linux), or None where there is no such file."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return None
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else None


def machine_info() -> dict[str, Any]:
    """CPU count, library versions, platform, CUDA and the date, for results.json."""
    import numpy as np
    import pytorch_lightning as pl
    import torch
    import torchaudio

    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "processor": _cpu_model() or platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torchaudio": torchaudio.__version__,
        "librosa": _version("librosa"),
        "numpy": np.__version__,
        "pytorch_lightning": pl.__version__,
        "cuda_available": torch.cuda.is_available(),
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
