"""data/windows.py: samples per network input, per cached clip and chunk draws per track."""

from __future__ import annotations

from genre_lightning.data.windows import draws_per_track, stored_samples, window_samples


def test_window_is_the_clip_or_a_chunk_of_it() -> None:
    assert window_samples(662_688, None, 22050) == 662_688
    assert window_samples(662_688, 3.0, 22050) == 66_150
    assert window_samples(44_100, 3.0, 22050) == 44_100  # a chunk never exceeds the clip


def test_stored_samples_keep_room_to_choose_a_window() -> None:
    assert stored_samples("start", 88_200, 120.0, 22050) == 88_200
    assert stored_samples("centre", 88_200, 10.0, 22050) == 220_500
    assert stored_samples("random", 662_688, 10.0, 22050) == 662_688


def test_draws_follow_how_many_chunks_a_clip_holds() -> None:
    assert draws_per_track(662_688, 66_150) == 10
    assert draws_per_track(1000, 5000) == 1
