"""``features_cache``: a training epoch with mel per batch against mel images computed once.

The paper's ResNet on the real GTZAN sample, trained by Lightning for two epochs at a time, in
rounds that alternate ``data.cache_features=false`` (mel of every batch, every epoch) and the
default ``auto`` (fixed windows, so each clip's mel is computed once, on the device, then looked
up). The first epoch of each fit is left out (warm-up). An epoch's time runs from its first
step's start to its last step's end, so it includes the waits for data.
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
    rounds = 1 if quick else 4
    epochs: dict[str, list[float]] = {"false": [], "auto": []}
    waits: dict[str, list[float]] = {"false": [], "auto": []}
    passes: dict[str, list[float]] = {"false": [], "auto": []}
    with tempfile.TemporaryDirectory(prefix="gl-bench-features-") as tmp:
        dms = {
            mode: sample_datamodule(root, Path(tmp) / "cache", cache_features=mode == "auto")
            for mode in epochs
        }
        # Rounds alternate the modes, so load on this shared machine hits both alike.
        for _ in range(rounds):
            for mode, dm in dms.items():
                start = time.perf_counter()
                model = paper_resnet(dm)  # a mel pass over the training set (the table: once)
                passes[mode].append(time.perf_counter() - start)
                times = lightning_steps(dm, 0, Path(tmp), epochs=2, model=model)
                per_epoch, wait = _epoch_times(times)
                epochs[mode] += per_epoch
                waits[mode].append(wait)
    per_batch, table = median(epochs["false"]), median(epochs["auto"])
    mel_pass = median(passes["false"])  # what the table saves each epoch
    dm = dms["auto"]
    note = f"ResNet, {len(dm.datasets['train'])} clips, batch {dm.hparams['batch_size']}"
    note += f", {len(epochs['auto'])} timed epochs each"
    return [
        Row("features_cache", "epoch, mel per batch", per_batch, "s", note),
        Row("features_cache", "epoch, mel table (auto)", table, "s", note),
        Row("features_cache", "speed-up of the table", per_batch / table, "x", ""),
        Row("features_cache", "mel pass over the training set", mel_pass, "s", "saved per epoch"),
        Row("features_cache", "its share of a per-batch epoch", mel_pass / per_batch * 100, "%"),
        Row("features_cache", "data wait, mel per batch", median(waits["false"]) * 100, "%", ""),
        Row("features_cache", "data wait, mel table", median(waits["auto"]) * 100, "%", "<= 5"),
        Row("features_cache", "table build (first pass)", passes["auto"][0], "s", ""),
    ]
