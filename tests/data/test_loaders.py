"""data/loaders.py: loaders follow their part's plan (workers, pinning, seeded order)."""

from __future__ import annotations

import numpy as np

from genre_lightning.data.dataset import WaveformDataset
from genre_lightning.data.loaders import make_loader, pin_memory_for
from genre_lightning.data.plan import PartPlan, Source

WAVES = np.arange(6 * 10, dtype=np.int16).reshape(6, 10)


def _dataset(locate_only: bool) -> WaveformDataset:
    rows = list(range(6))
    return WaveformDataset(WAVES, rows, rows, [10] * 6, window=10, locate_only=locate_only)


def test_parts_without_samples_load_in_process_unpinned() -> None:
    plan = PartPlan("start", None, Source.TABLE)
    loader = make_loader(_dataset(True), plan, batch_size=4, num_workers=2, pin_memory=True)
    assert loader.num_workers == 0 and not loader.pin_memory
    assert next(iter(loader)).wave.numel() == 0


def test_parts_with_samples_use_the_workers_and_the_seeded_order() -> None:
    plan = PartPlan("start", None, Source.LOADER)
    loader = make_loader(_dataset(False), plan, batch_size=6, num_workers=1, pin_memory=False)
    assert loader.num_workers == 1
    batch = next(iter(loader))
    assert batch.wave.shape == (6, 10) and batch.label.tolist() == list(range(6))
    orders = []
    for _ in range(2):
        shuffled = make_loader(
            _dataset(False), plan, batch_size=6, num_workers=0, pin_memory=False, shuffle_seed=3
        )
        orders.append(next(iter(shuffled)).label.tolist())
    assert orders[0] == orders[1] and sorted(orders[0]) == list(range(6))
    assert orders[0] != list(range(6))


def test_pin_memory_follows_the_setting_or_the_device() -> None:
    assert pin_memory_for(True, None) and not pin_memory_for(False, None)
    assert not pin_memory_for(None, None)  # no trainer, no GPU: nothing to pin for
