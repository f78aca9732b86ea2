"""training/builders.py: what torch and Lightning refuse is said in one line, before training."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from omegaconf import DictConfig

from genre_lightning.errors import UserError
from genre_lightning.training.builders import (
    build_trainer,
    check_trainer,
    scheduler_factory,
)

from ..conftest import TINY


def test_a_schedule_is_tried_before_training(make_cfg: Callable[..., DictConfig]) -> None:
    # CosineAnnealingLR takes T_max=0 and divides by it at its first step, an epoch in.
    cfg = make_cfg([*TINY, "scheduler=cosine", "scheduler.scheduler.T_max=0"])
    with pytest.raises(UserError, match=r"^scheduler \(torch\.optim\.lr_scheduler\.Cosine"):
        scheduler_factory(cfg)
    assert scheduler_factory(make_cfg([*TINY, "scheduler=cosine"])) is not None
    assert scheduler_factory(make_cfg(TINY)) is None  # scheduler=none


def test_a_callback_lightning_refuses_names_its_entry(make_cfg: Callable[..., DictConfig]) -> None:
    cfg = make_cfg([*TINY, "callbacks.model_checkpoint.mode=avg"])
    with pytest.raises(UserError) as info:
        build_trainer(cfg)
    assert str(info.value).startswith(
        "callbacks.model_checkpoint (genre_lightning.training.callbacks.RunCheckpoint): `mode` can "
        "be min, max but got avg; check callbacks.model_checkpoint.*"
    )


def test_the_bare_trainer_check_prints_nothing(make_cfg: Callable[..., DictConfig]) -> None:
    # Lightning logs its "GPU available: ..." lines through this logger when a Trainer is built.
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    collect = Collect()
    logger = logging.getLogger("pytorch_lightning.utilities.rank_zero")
    logger.addHandler(collect)
    try:
        check_trainer(make_cfg(TINY))
        # A value validate.py lets through (devices=0 it refuses itself, before this check).
        with pytest.raises(UserError, match=r"^trainer\.devices=abc: `devices` selected with"):
            check_trainer(make_cfg([*TINY, "trainer.devices=abc"]))
        assert records == []
        build_trainer(make_cfg(TINY))  # the run's own trainer still says what it found
        assert any("GPU available" in str(r.msg) for r in records)
    finally:
        logger.removeHandler(collect)


def test_a_refused_trainer_value_is_named_where_lightning_s_message_names_none(
    make_cfg: Callable[..., DictConfig],
) -> None:
    # Lightning's refusal of the TPU accelerator is about a package (torch_xla), not a key.
    with pytest.raises(UserError) as info:
        check_trainer(make_cfg([*TINY, "trainer.accelerator=tpu"]))
    assert str(info.value).startswith("trainer.accelerator=tpu: ")
    assert "torch_xla" in str(info.value)
