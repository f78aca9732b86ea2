"""data/dataset.py: which window of a cached clip a batch sees, whole or in chunks."""

from __future__ import annotations

import numpy as np
import torch

from genre_lightning.data.dataset import WaveformDataset

WAVES = np.arange(2 * 20, dtype=np.int16).reshape(2, 20)  # two stored clips of 20 samples


def _ds(crop: str, lengths: list[int], **kwargs: object) -> WaveformDataset:
    return WaveformDataset(WAVES, [0, 1], [3, 4], lengths, window=8, crop=crop, **kwargs)  # type: ignore[arg-type]


def test_start_and_centre_windows() -> None:
    wave, label, valid, track, item, row, offset, _ = _ds("start", [20, 20])[1]
    assert wave.tolist() == list(range(20, 28)) and label == 4 and valid == 8 and track == 1
    assert (item, row, offset) == (1, 1, 0)
    wave, _, valid, *_ = _ds("centre", [20, 20])[0]
    assert wave.tolist() == list(range(6, 14)) and valid == 8  # (20 - 8) // 2 = 6


def test_short_clip_keeps_its_valid_length() -> None:
    wave, _, valid, *_ = _ds("centre", [5, 20])[0]
    assert wave.tolist()[:5] == list(range(5)) and valid == 5  # no spare samples: offset 0


def test_random_windows_vary_by_epoch_and_follow_the_seed() -> None:
    ds = _ds("random", [20, 20], seed=7)
    torch.manual_seed(0)
    first = [ds[0, epoch][0][0].item() for epoch in range(30)]
    torch.manual_seed(1)  # the global RNG plays no part: a resumed run draws the same windows
    again = [ds[0, epoch][0][0].item() for epoch in range(30)]
    other = [_ds("random", [20, 20], seed=8)[0, epoch][0][0].item() for epoch in range(30)]
    assert first == again and first != other
    assert len(set(first)) > 5 and min(first) >= 0 and max(first) <= 12
    wave, _, valid, *_ = ds[0, 3]
    assert valid == 8 and wave.tolist() == list(range(int(wave[0]), int(wave[0]) + 8))


def test_evaluation_chunks_cover_each_track_in_order() -> None:
    ds = _ds("start", [20, 13], chunks="all")
    items = [ds[i] for i in range(len(ds))]
    assert [it[3] for it in items] == [0, 0, 1]  # 20 // 8 = 2 chunks, 13 // 8 = 1 chunk
    assert items[1][0].tolist() == list(range(8, 16)) and items[2][0].tolist()[0] == 20


def test_overlapping_chunks_start_a_hop_apart_and_end_inside_the_track() -> None:
    ds = WaveformDataset(WAVES, [0, 1, 0], [3, 4, 5], [20, 13, 5], window=8, chunks="all", hop=3)
    starts = [(it.track, it.offset, it.length) for it in (ds[i] for i in range(len(ds)))]
    # (20 - 8) // 3 + 1 = 5 windows, (13 - 8) // 3 + 1 = 2, and one padded window of 5 samples
    track_0 = [(0, 0, 8), (0, 3, 8), (0, 6, 8), (0, 9, 8), (0, 12, 8)]
    assert starts == [*track_0, (1, 0, 8), (1, 3, 8), (2, 0, 5)]
    assert ds[3].wave.tolist() == list(range(9, 17))
    same = _ds("start", [20, 13], chunks="all", hop=8)  # a hop of one window: no overlap
    plain = _ds("start", [20, 13], chunks="all")
    assert [same[i].offset for i in range(len(same))] == [plain[i].offset for i in range(3)]


def test_training_chunks_draw_each_track_several_times() -> None:
    ds = _ds("start", [20, 20], chunks="random", draws=3)
    assert len(ds) == 6 and sorted(ds[i][3] for i in range(6)) == [0, 0, 0, 1, 1, 1]
    starts = {ds[0, epoch][0][0].item() for epoch in range(20)}
    draws = {ds[i, 0][0][0].item() for i in (0, 2, 4)}  # track 0's three draws in epoch 0
    assert len(starts) > 3 and len(draws) > 1  # a new random chunk every epoch and every draw


def test_located_windows_carry_no_samples_but_find_the_same_ones() -> None:
    located = _ds("centre", [20, 20], chunks="all", locate_only=True, part=2)
    loaded = _ds("centre", [20, 20], chunks="all")
    assert located.fixed_windows and not _ds("random", [20, 20]).fixed_windows
    for i in range(len(located)):
        spot, full = located[i], loaded[i]
        assert spot.wave.numel() == 0 and spot.part == 2
        assert WAVES[spot.row, spot.offset : spot.offset + 8].tolist() == full.wave.tolist()
        assert spot[1:6] == full[1:6]  # label, length, track, item, row
