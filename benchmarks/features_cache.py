"""``features_cache``: a training epoch with mel per batch against mel images computed once.

The paper's ResNet on the real GTZAN sample, trained by Lightning for a few epochs, once with
``data.cache_features=false`` (mel of every batch, every epoch) and once with the default
``auto`` (fixed windows, so each clip's mel is computed once, on the device, then looked up).
The first epoch of each is left out (warm-up). An epoch's time runs from its first step's start
to its last step's end, so it includes the waits for data.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from benchmarks.common import Row, median, sample_root
from benchmarks.loop import StepTimes, lightning_steps, paper_resnet, sample_datamodule


def _epoch_times(times: StepTimes) -> tuple[list[float], float]:
    """Seconds of each epoch after the first, and the share of them spent between steps."""
    epochs, waits, total = [], 0.0, 0.0
    for first, end in times.epochs[1:]:
        starts, ends = times.starts[first:end], times.ends[first:end]
        epochs.append(ends[-1] - starts[0])
        waits += sum(s - e for e, s in zip(ends, starts[1:], strict=False))
        total += ends[-1] - starts[0]
    return epochs, waits / total


def run(quick: bool = False) -> list[Row]:
    """Rows: epoch time per mode, the speed-up, the data-wait share with the table."""
    root = sample_root()
    if root is None:
        return [Row("features_cache", "skipped: no GTZAN sample", 0, "")]
    epochs = 2 if quick else 4
    measured: dict[str, tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="gl-bench-features-") as tmp:
        for mode in ("false", "auto"):
            dm = sample_datamodule(root, Path(tmp) / "cache", cache_features=mode == "auto")
            start = time.perf_counter()
            model = paper_resnet(dm)  # one mel pass over the training set (builds the table)
            first_pass = time.perf_counter() - start
            times = lightning_steps(dm, 0, Path(tmp), epochs=epochs, model=model)
            per_epoch, wait = _epoch_times(times)
            measured[mode] = (median(per_epoch), wait, first_pass)
    (per_batch, wait_batch, stats_batch), (table, wait_table, build) = (
        measured["false"],
        measured["auto"],
    )
    clips = len(dm.datasets["train"])
    note = f"ResNet, {clips} clips, batch {dm.hparams['batch_size']}, {epochs - 1} timed epochs"
    return [
        Row("features_cache", "epoch, mel per batch", per_batch, "s", note),
        Row("features_cache", "epoch, mel table (auto)", table, "s", note),
        Row("features_cache", "speed-up of the table", per_batch / table, "x", ""),
        Row("features_cache", "data wait, mel per batch", wait_batch * 100, "%", ""),
        Row("features_cache", "data wait, mel table", wait_table * 100, "%", "target <= 5"),
        Row(
            "features_cache", "statistics pass + table build", build, "s", f"vs {stats_batch:.2f} s"
        ),
    ]
