"""Training entry point: ``python -m genre_lightning`` / ``genre-lightning``.

Builds everything from the Hydra config, fits, tests the best-``val/acc`` checkpoint and writes
``metrics.json`` into the run directory.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict
from pytorch_lightning.callbacks import LearningRateMonitor
from pytorch_lightning.utilities import rank_zero_only

from genre_lightning import runs
from genre_lightning.app import hydra_app
from genre_lightning.data.datamodule import GenreDataModule
from genre_lightning.errors import Interrupted, UserError
from genre_lightning.training.callbacks import EpochSeed, GracefulStop
from genre_lightning.training.checkpoint import AtomicCheckpointIO, check_resumable
from genre_lightning.training.distributed import sweep_job_ranks
from genre_lightning.training.module import GenreClassifier
from genre_lightning.training.speed import compile_network

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit and test one configuration.

    Args:
        cfg: The composed config (``conf/train.yaml``).

    Returns:
        The metrics also written to ``<paths.output_dir>/metrics.json``.
    """
    out_dir = Path(cfg.paths.output_dir)
    run = runs.Run(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    resume_from = _resume_path(cfg, out_dir)
    _check_accelerator(cfg)  # before the data: decoding GTZAN takes minutes
    pl.seed_everything(cfg.seed, workers=True)

    datamodule: GenreDataModule = instantiate(cfg.data)
    datamodule.prepare_data()  # stops here, before any model is built, when data is missing
    datamodule.setup("fit")
    if cfg.data.get("num_classes") is None:  # data=folder: the folders decide, the model follows
        with open_dict(cfg):
            cfg.data.num_classes = datamodule.num_classes
    _check_batch_size(cfg, len(datamodule.datasets["train"]))

    model = GenreClassifier(
        net=instantiate(cfg.model),
        optimizer=_optimizer_factory(cfg),
        class_names=datamodule.class_names,
        feature_shape=datamodule.feature_shape(),
        scheduler=instantiate(cfg.scheduler.scheduler) if cfg.scheduler.scheduler else None,
        scheduler_interval=cfg.scheduler.interval,
        **OmegaConf.to_container(cfg.module, resolve=True),  # type: ignore[arg-type]
        net_config=OmegaConf.to_container(cfg.model, resolve=True),  # type: ignore[arg-type]
        data_config=OmegaConf.to_container(cfg.data, resolve=True),  # type: ignore[arg-type]
    )
    if cfg.get("compile"):
        compile_network(model.net)
    loggers = [instantiate(c) for c in cfg.get("logger", {}).values() if c is not None]
    callbacks = [instantiate(c) for c in cfg.get("callbacks", {}).values() if c is not None]
    if not loggers:  # logger=none: the learning-rate monitor has nowhere to write and would refuse
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    callbacks += [EpochSeed(cfg.seed), GracefulStop()]
    trainer: pl.Trainer = instantiate(
        cfg.trainer, logger=loggers or False, callbacks=callbacks, plugins=[AtomicCheckpointIO()]
    )
    if _is_rank_zero():
        datamodule.write_split(run.file("split"))
    curves = f"  |  curves: tensorboard --logdir {run.file('tensorboard')}" if loggers else ""
    log.info("outputs: %s%s", out_dir, curves)

    skipped = datamodule.skipped
    if skipped:
        log.warning(
            "%d audio file(s) could not be decoded and were skipped: %s",
            len(skipped),
            ", ".join(Path(p).name for p, _ in skipped),
        )
    for lg in trainer.loggers:
        lg.log_metrics({"data/skipped_files": float(len(skipped))}, step=0)
        # The hparams tab: the run's whole config against the two numbers that matter.
        lg.log_hyperparams(_flat_config(cfg), {runs.VAL_ACC_BEST: 0.0, runs.TEST_ACC: 0.0})

    with sweep_job_ranks(trainer):  # DDP in a multirun: this job's ranks run this job only
        try:
            trainer.fit(model, datamodule=datamodule, ckpt_path=resume_from)
        except Interrupted as exc:
            raise Interrupted(
                f"{exc}. {run.checkpoint(runs.LAST)} holds the last completed "
                f"epoch; resume with the same command plus `resume={out_dir}`."
            ) from None
        checkpoint = trainer.checkpoint_callback
        best = getattr(checkpoint, "best_model_path", "") or None
        trainer.test(model, datamodule=datamodule, ckpt_path=best or None)

    score = getattr(checkpoint, "best_model_score", None)
    metrics = {
        **model.test_results(),
        runs.VAL_ACC_BEST: float(score) if score is not None else None,
        runs.BEST_CKPT: best,
        runs.EPOCHS: trainer.current_epoch,
        runs.SEED: cfg.seed,
        runs.NUM_CLIPS: {part: ds.num_tracks for part, ds in datamodule.datasets.items()},
        runs.SKIPPED_FILES: [p for p, _ in skipped],
    }
    if _is_rank_zero():  # with DDP every rank gets here: one file, one final line
        run.write_metrics(metrics)
        log.info(
            "test/acc %.4f  test/f1_macro %.4f  val/acc_best %s  -> %s",
            metrics[runs.TEST_ACC],
            metrics[runs.TEST_F1_MACRO],
            metrics[runs.VAL_ACC_BEST],
            run.file("metrics"),
        )
    return metrics


def _is_rank_zero() -> bool:
    """Whether this process writes the run's files: with DDP every rank runs :func:`train`.

    Lightning reads the rank from the launcher's environment at import, so this holds
    before the trainer has set up the process group, as well as after.
    """
    return rank_zero_only.rank == 0  # type: ignore[attr-defined]


def _resume_path(cfg: DictConfig, out_dir: Path) -> str | None:
    ckpt = cfg.get("ckpt_path")
    if ckpt is None and cfg.get("resume"):
        ckpt = "last"
    if ckpt is None:
        return None
    path = runs.Run(out_dir).checkpoint(runs.LAST) if ckpt == "last" else Path(ckpt)
    if not path.is_file():
        raise UserError(
            f"ckpt_path={ckpt}: no checkpoint at {path}. Resume with the run's own "
            f"directory (hydra.run.dir=<run dir>) or give the .ckpt path."
        )
    check_resumable(path)
    return str(path)


def _optimizer_factory(cfg: DictConfig) -> Any:
    """The partial optimizer, with its settings checked before any training starts."""
    lr = cfg.optimizer.get("lr")
    if lr is not None and not float(lr) > 0:
        raise UserError(f"optimizer.lr={lr} must be a positive number, e.g. optimizer.lr=5e-4")
    factory = instantiate(cfg.optimizer)
    try:  # build it once on a dummy parameter: torch validates the remaining arguments
        factory([torch.nn.Parameter(torch.zeros(1))])
    except (TypeError, ValueError) as exc:
        raise UserError(f"optimizer ({cfg.optimizer._target_}): {exc}; check optimizer.*") from exc
    return factory


def _check_accelerator(cfg: DictConfig) -> None:
    if cfg.trainer.get("accelerator") in ("gpu", "cuda") and not torch.cuda.is_available():
        raise UserError(
            f"trainer.accelerator={cfg.trainer.accelerator} (trainer=gpu and trainer=ddp ask for "
            f"CUDA) but no CUDA GPU is visible. Use trainer=default (picks the device) or "
            f"trainer=cpu; or add trainer.accelerator=cpu to keep the other settings."
        )


def _check_batch_size(cfg: DictConfig, train_size: int) -> None:
    if cfg.data.batch_size > train_size:
        raise UserError(
            f"data.batch_size={cfg.data.batch_size} is larger than the training set "
            f"({train_size} clips): every epoch would be a single, smaller batch. Use "
            f"data.batch_size={min(train_size, 32)} or less, or more data."
        )


def _flat_config(cfg: DictConfig) -> dict[str, Any]:
    """The run config as flat ``a.b.c: value`` pairs (lists as text), for the hparams tab."""
    flat: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}." if key != "_target_" else prefix)
                if key == "_target_":
                    flat[prefix.rstrip(".") or "target"] = value
        else:
            flat[prefix.rstrip(".")] = (
                node if isinstance(node, int | float | str | bool) else str(node)
            )

    container = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(container, dict)
    for group in ("model", "optimizer", "scheduler", "module", "data", "trainer"):
        walk(container.get(group, {}), f"{group}.")
    flat["seed"] = cfg.seed
    return flat


def _job(cfg: DictConfig) -> float | None:
    """One training job; returns ``val/acc_best`` for sweepers that optimise it."""
    return train(cfg)[runs.VAL_ACC_BEST]


#: ``python -m genre_lightning`` / ``genre-lightning``.
main = hydra_app("train", _job)


if __name__ == "__main__":
    main()
