"""module.py: both paper networks fit end to end on real GTZAN clips; checkpoints carry all."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from genre_lightning.data.index import GTZAN_GENRES
from genre_lightning.module import GenreClassifier
from genre_lightning.train import train


@pytest.mark.slow
@pytest.mark.parametrize("model", ["resnet", "alexnet"])
def test_debug_fit_on_real_clips(
    model: str, gtzan_sample: Path, tmp_path: Path, make_cfg: Callable[..., DictConfig]
) -> None:
    cfg = make_cfg(
        [
            f"model={model}",
            "trainer=debug",
            f"data.root={gtzan_sample}",
            f"data.cache_dir={tmp_path / 'cache'}",
            "data.batch_size=4",
            "callbacks.rich_progress_bar=null",
            "trainer.enable_progress_bar=false",
        ]
    )
    metrics = train(cfg)
    assert 0.0 <= metrics["test/acc"] <= 1.0 and metrics["epochs"] == 1
    assert set(metrics["test/f1_per_class"]) == set(GTZAN_GENRES)

    ckpt = torch.load(metrics["best_ckpt"], map_location="cpu", weights_only=False)
    state = ckpt["state_dict"]
    assert bool(state["normalize.fitted"]) and state["normalize.mean"].shape == (1, 668, 64)
    assert state["normalize.std"].min() > 0
    hp = ckpt["hyper_parameters"]
    assert hp["class_names"] == list(GTZAN_GENRES)
    target = {"resnet": "resnet.ResNet", "alexnet": "alexnet.AlexNet"}[model]
    assert hp["net_config"]["_target_"] == f"genre_lightning.models.{target}"
    assert ckpt["datamodule_hyper_parameters"]["features"]["num_frames"] == 668


def test_statistics_survive_a_checkpoint_round_trip(tmp_path: Path) -> None:
    from genre_lightning.models import ResNet

    model = GenreClassifier(ResNet(num_classes=3), torch.optim.Adam, ["a", "b", "c"], (1, 20, 8))
    model.normalize.set_statistics(torch.full((1, 20, 8), 2.0), torch.full((1, 20, 8), 4.0))
    torch.save({"state_dict": model.state_dict()}, tmp_path / "m.ckpt")
    fresh = GenreClassifier(ResNet(num_classes=3), torch.optim.Adam, ["a", "b", "c"], (1, 20, 8))
    assert not bool(fresh.normalize.fitted)
    fresh.load_state_dict(torch.load(tmp_path / "m.ckpt")["state_dict"])
    assert bool(fresh.normalize.fitted) and fresh.normalize.mean.eq(2.0).all()
    x = torch.randn(2, 1, 20, 8)
    fresh.eval(), model.eval()
    torch.testing.assert_close(fresh(x), model(x))
