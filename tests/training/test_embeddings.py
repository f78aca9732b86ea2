"""training/embeddings.py: a frozen encoder's features are computed once per item."""

from __future__ import annotations

import torch

from genre_lightning.training.embeddings import EmbeddingCache


def test_each_item_is_encoded_once_per_part() -> None:
    encoded: list[list[int]] = []

    def encode(x: torch.Tensor) -> torch.Tensor:
        encoded.append(x[:, 0].long().tolist())  # the inputs carry their item number
        return torch.stack([x[:, 0], 2 * x[:, 0]], dim=1)

    cache = EmbeddingCache()
    inputs = torch.arange(10.0)[:, None].repeat(1, 3)
    first = cache("train", torch.tensor([3, 1]), inputs[[3, 1]], encode)
    again = cache("train", torch.tensor([1, 7, 3]), inputs[[1, 7, 3]], encode)
    other = cache("val", torch.tensor([1]), inputs[[1]], encode)
    assert encoded == [[3, 1], [7], [1]]  # item 1 again only for another part
    torch.testing.assert_close(first, torch.tensor([[3.0, 6.0], [1.0, 2.0]]))
    torch.testing.assert_close(again, torch.tensor([[1.0, 2.0], [7.0, 14.0], [3.0, 6.0]]))
    torch.testing.assert_close(other, torch.tensor([[1.0, 2.0]]))
    assert not again.requires_grad  # features of a frozen encoder: no graph through it
