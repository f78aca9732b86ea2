"""tracks.py: track-level logits depend neither on batching nor on the number of processes."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from genre_lightning.training.tracks import TrackLogits

LABELS = torch.tensor([1, 1, 1, 0, 0, 3, 3, 3, 3, 2, 1, 1])
TRACKS = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 4, 4])


def _collect(logits: torch.Tensor, items: torch.Tensor, cuts: list[int]) -> TrackLogits:
    agg = TrackLogits()
    for lg, it in zip(logits.split(cuts), items.split(cuts), strict=True):
        agg.update(lg, LABELS[it], TRACKS[it], it)
    return agg


def test_track_logits_are_chunk_means_in_any_batching() -> None:
    torch.manual_seed(0)
    logits = torch.randn(12, 4)
    items = torch.arange(12)
    results = [
        _collect(logits, items, cuts).compute() for cuts in ([12], [5, 7], [1] * 12, [3, 3, 3, 3])
    ]
    for result in results:
        torch.testing.assert_close(result.logits, results[0].logits)
        assert result.labels.tolist() == [1, 0, 3, 2, 1] and len(result.chunk_labels) == 12
    torch.testing.assert_close(results[0].logits[2], logits[5:9].mean(0))


def test_gathered_ranks_count_the_padded_repeat_once() -> None:
    """Two ranks as a DistributedSampler cuts 12 chunks (7 + 7: items 0 and 1 repeated)."""
    torch.manual_seed(1)
    logits = torch.randn(12, 4)
    order = torch.tensor([*range(12), 0, 1])
    ranks = [order[0::2], order[1::2]]  # what each rank evaluates
    local = [_collect(logits[r], r, [4, 3]) for r in ranks]
    other = local[1].compute()  # the fields rank 1 would contribute, in the order gathered
    fields: Iterator[torch.Tensor] = iter(
        (
            other.chunk_logits,
            other.chunk_labels,
            torch.cat([p[2] for p in local[1].parts]),
            ranks[1],
        )
    )

    def gather(x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x, next(fields)])

    merged = local[0].compute(gather)
    single = _collect(logits, torch.arange(12), [12]).compute()
    torch.testing.assert_close(merged.logits, single.logits)
    assert torch.equal(merged.labels, single.labels) and len(merged.chunk_labels) == 12
