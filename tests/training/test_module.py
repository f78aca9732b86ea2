"""module.py: both paper networks fit end to end on real GTZAN clips; checkpoints carry all."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from omegaconf import DictConfig

from genre_lightning.data.index import GTZAN_GENRES
from genre_lightning.train import train
from genre_lightning.training.module import GenreClassifier

from ..conftest import TINY


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
    assert metrics["epochs"] == 1
    confusion = torch.tensor(metrics["confusion_matrix"])
    assert metrics["test/acc"] == pytest.approx(float(confusion.trace() / confusion.sum()))
    assert set(metrics["test/f1_per_class"]) == set(GTZAN_GENRES)

    ckpt = torch.load(metrics["best_ckpt"], map_location="cpu", weights_only=True)
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
    fresh.load_state_dict(torch.load(tmp_path / "m.ckpt", weights_only=True)["state_dict"])
    assert bool(fresh.normalize.fitted) and fresh.normalize.mean.eq(2.0).all()
    x = torch.randn(2, 1, 20, 8)
    fresh.eval(), model.eval()
    torch.testing.assert_close(fresh(x), model(x))


@pytest.mark.slow
def test_chunked_recipe_is_track_level_and_batch_invariant(
    tmp_path: Path, make_cfg: Callable[..., DictConfig]
) -> None:
    """The improved recipe on tiny data: chunk training, track-level test metrics that are the
    same whether the test set is evaluated in one batch or in many."""
    import pytorch_lightning as pl
    from hydra.utils import instantiate

    cfg = make_cfg(
        [
            *TINY,
            "experiment=improved_resnet",
            "data=synthetic",
            "trainer=cpu",
            "data.chunk_seconds=0.5",
            "trainer.max_epochs=2",
        ]
    )
    metrics = train(cfg)
    assert metrics["epochs"] == 2
    model = GenreClassifier.load_from_checkpoint(
        metrics["best_ckpt"],
        net=instantiate(cfg.model, num_classes=len(metrics["class_names"])),
        optimizer=torch.optim.Adam,
        weights_only=True,
    )
    results = []
    for batch_size in (1, 7, 500):
        dm = instantiate(cfg.data, batch_size=batch_size)
        dm.setup("test")
        assert len(dm.datasets["test"]) == 4 * len(set(dm.datasets["test"].rows))  # 4 chunks
        trainer = pl.Trainer(
            accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False
        )
        results.append(trainer.test(model, datamodule=dm, verbose=False)[0])
    assert results[0]["test/acc"] == results[1]["test/acc"] == results[2]["test/acc"]
    assert results[0]["test/f1_macro"] == results[2]["test/f1_macro"]
    assert results[0]["test/acc"] == pytest.approx(metrics["test/acc"])
    assert "test/chunk_acc" in results[0]
    # metrics.json keeps it too (it was only in TensorBoard), as the exact fraction of chunks
    # (a float32 mean wrote 7/10 as 0.699999988).
    assert metrics["test/chunk_acc"] == pytest.approx(results[0]["test/chunk_acc"])
    chunks = len(dm.datasets["test"])
    right = round(metrics["test/chunk_acc"] * chunks)
    assert metrics["test/chunk_acc"] == right / chunks
