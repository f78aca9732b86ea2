"""``gpu`` (``make bench-gpu``): training throughput on one CUDA GPU, and mel of all of GTZAN.

On a GTZAN-sized synthetic set (1000 clips x 30 s, generated once under the scratch folder),
the paper's ResNet and AlexNet train at batch 256 for a few epochs in each configuration:

* precision ``32-true`` or ``bf16-mixed`` (with channels-last and cuDNN autotuning);
* samples through the DataLoader (pinned, non-blocking) with mel per batch, the whole int16
  set on the GPU (``data.on_device``) with mel per batch, or on the GPU with the mel table.

The first epoch (cuDNN autotuning, table build) is left out. ``100 epochs`` projects the
paper's schedule (validation excluded). Without CUDA the benchmark reports itself skipped;
``--quick`` (20 clips, 2 timed epochs) also runs on CPU, to check the code path.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import pytorch_lightning as pl
import torch

from benchmarks.common import CLIP_SAMPLES, SYNTHETIC_SECONDS, Row, synthetic_gtzan_root
from benchmarks.loop import StepTimes
from genre_lightning.audio import from_int16
from genre_lightning.data.synthetic import SyntheticDataModule
from genre_lightning.features.mel import MelFeatures
from genre_lightning.models.alexnet import AlexNet
from genre_lightning.models.resnet import ResNet
from genre_lightning.training.module import GenreClassifier

SOURCES: dict[str, dict[str, Any]] = {
    "loader": {"on_device": False, "cache_features": False},
    "on_device": {"on_device": True, "cache_features": False},
    "on_device+table": {"on_device": True, "cache_features": "auto"},
}


def _datamodule(per_class: int, batch: int, **source: Any) -> SyntheticDataModule:
    dm = SyntheticDataModule(
        root=str(synthetic_gtzan_root()),
        clips_per_class=per_class,
        seconds=SYNTHETIC_SECONDS,
        clip_samples=CLIP_SAMPLES,
        features={"num_frames": 668},
        batch_size=batch,
        **source,
    )
    dm.prepare_data()
    dm.setup("fit")
    return dm


def _epochs_per_second(
    dm: SyntheticDataModule, net: torch.nn.Module, precision: str, epochs: int, accelerator: str
) -> float:
    model = GenreClassifier(net, partial(torch.optim.Adam, lr=5e-4), dm.class_names)
    times = StepTimes()
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=1,
        precision=precision,  # type: ignore[arg-type]
        benchmark=accelerator == "gpu",
        max_epochs=epochs + 1,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[times],
    )
    trainer.fit(model, datamodule=dm)
    # Step ends are synchronised: every step reads its loss (the non-finite check).
    first, _ = times.epochs[1]
    seconds = times.ends[-1] - times.starts[first]
    return epochs / seconds


def _mel_all(dm: SyntheticDataModule, device: torch.device) -> float:
    """Seconds to turn every clip of the set into paper mel images on ``device``."""
    waves = dm.batch_features.device_waves(device) if dm.batch_features else None
    assert waves is not None
    mel = MelFeatures().to(device)
    with torch.no_grad():
        for _ in range(2):  # the first round warms up cuFFT plans
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            for chunk in waves.split(250):
                mel(from_int16(chunk))
            if device.type == "cuda":
                torch.cuda.synchronize()
    return time.perf_counter() - start


def run(quick: bool = False) -> list[Row]:
    """Rows: epochs/s per model, precision and data source; projected 100-epoch minutes."""
    cuda = torch.cuda.is_available()
    if not cuda and not quick:
        return [Row("gpu", "skipped: no CUDA device (bench-gpu needs one)", 0, "")]
    accelerator = "gpu" if cuda else "cpu"
    per_class, batch, epochs = (2, 8, 2) if quick else (100, 256, 3)
    device = torch.device("cuda" if cuda else "cpu")
    name = torch.cuda.get_device_name(0) if cuda else "CPU (code-path check)"
    rows: list[Row] = []
    dm = _datamodule(per_class, batch, **SOURCES["on_device"])
    seconds = _mel_all(dm, device)
    clips = per_class * 10
    rows.append(Row("gpu", f"mel of all {clips} clips", seconds, "s", f"{name}; target <= 0.1"))
    precisions = ("32-true", "bf16-mixed") if cuda else ("32-true",)
    for model_name, net_class in (("ResNet", ResNet), ("AlexNet", AlexNet)):
        for precision in precisions:
            for source, kwargs in SOURCES.items():
                dm = _datamodule(per_class, batch, **kwargs)
                torch.manual_seed(0)
                net = net_class(num_classes=10)
                rate = _epochs_per_second(dm, net, precision, epochs, accelerator)
                note = f"100 epochs: {100 / rate / 60:.1f} min; batch {batch}"
                rows.append(
                    Row("gpu", f"{model_name} {precision} {source}", rate, "epochs/s", note)
                )
    return rows
