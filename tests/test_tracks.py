"""tracks.py: track-level logits do not depend on how the evaluation was batched."""

from __future__ import annotations

import torch

from genre_lightning.tracks import TrackLogits


def test_track_logits_are_chunk_means_in_any_batching() -> None:
    torch.manual_seed(0)
    logits = torch.randn(12, 4)
    tracks = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 4, 4])
    labels = torch.tensor([1, 1, 1, 0, 0, 3, 3, 3, 3, 2, 1, 1])
    results = []
    for cuts in ([12], [5, 7], [1] * 12, [3, 3, 3, 3]):
        agg = TrackLogits()
        for lg, lb, tr in zip(
            logits.split(cuts), labels.split(cuts), tracks.split(cuts), strict=True
        ):
            agg.update(lg, lb, tr)
        results.append(agg.compute())
    for track_logits, track_labels, chunks in results:
        torch.testing.assert_close(track_logits, results[0][0])
        assert track_labels.tolist() == [1, 0, 3, 2, 1] and chunks == 12
    torch.testing.assert_close(results[0][0][2], logits[5:9].mean(0))
