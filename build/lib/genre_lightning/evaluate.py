"""Test a trained checkpoint on its data's test part (or other data) and write the metrics.

Usage::

    python -m genre_lightning.evaluate ckpt_path=RUN/checkpoints/best.ckpt \\
        [data.root=DIR data.cache_dir=DIR data.batch_size=N ...] [output_dir=DIR] \\
        [accelerator=auto|cpu|gpu]

The data module is rebuilt from the data config saved in the checkpoint, with any ``data.*``
overrides on top; its test part is classified clip by clip as in training. Writes
``metrics.json`` (test/acc, test/f1_macro, test/f1_per_class, confusion matrix) and
``confusion_matrix.png`` into ``output_dir`` (default: ``<run dir>/evaluate``).
"""

from __future__ import annotations

import inspect
import logging
import sys
from pathlib import Path
from typing import Any, cast

import pytorch_lightning as pl
import torch
from hydra.utils import get_class, instantiate
from omegaconf import OmegaConf

from genre_lightning.cli import run_main
from genre_lightning.data.datamodule import GenreDataModule
from genre_lightning.errors import UserError
from genre_lightning.files import write_json_atomic
from genre_lightning.inference import Classifier, load_classifier
from genre_lightning.training.figures import confusion_image, save_png

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {"ckpt_path": None, "output_dir": None, "accelerator": "auto"}


def run_dir(ckpt_path: Path) -> Path:
    """The training run a checkpoint belongs to (``<run>/checkpoints/x.ckpt`` -> ``<run>``)."""
    parent = ckpt_path.resolve().parent
    return parent.parent if parent.name == "checkpoints" else parent


def data_config(classifier: Classifier, overrides: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's data config with ``data.*`` overrides merged in.

    When the override switches ``_target_`` to another data module, keys the new one does not
    accept (e.g. the synthetic set's ``clips_per_class``) are dropped.
    """
    merged = cast(
        dict[str, Any], OmegaConf.to_container(OmegaConf.merge(classifier.data_config, overrides))
    )
    if "_target_" in overrides and overrides["_target_"] != classifier.data_config["_target_"]:
        try:
            params = inspect.signature(get_class(merged["_target_"])).parameters
        except Exception as exc:  # hydra raises ImportError or ValueError
            raise UserError(f"data._target_={merged['_target_']}: {exc}") from exc
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            for key in [k for k in merged if not k.startswith("_") and k not in params]:
                log.warning("data.%s dropped: %s does not take it", key, merged["_target_"])
                del merged[key]
    return merged


def _check_classes(trained: list[str], data: list[str]) -> None:
    if list(data) != list(trained):
        raise UserError(
            f"the checkpoint was trained on the classes [{', '.join(trained)}], but the data "
            f"has the classes [{', '.join(data)}]. Evaluate on data with the same genres in "
            f"the same order (data.class_names=[{','.join(trained)}])."
        )


def build_datamodule(classifier: Classifier, overrides: dict[str, Any]) -> GenreDataModule:
    """Instantiate, prepare and set up the data module; check it fits the checkpoint.

    Raises:
        UserError: Its classes or its feature shape differ from the checkpoint's.
    """
    config = data_config(classifier, overrides)
    if config.get("class_names") is not None:  # fail before decoding anything
        _check_classes(classifier.class_names, config["class_names"])
    datamodule: GenreDataModule = instantiate(config)
    datamodule.prepare_data()
    datamodule.setup("test")
    _check_classes(classifier.class_names, datamodule.class_names)
    trained_shape = tuple(classifier.model.hparams["feature_shape"])
    if datamodule.feature_shape() != trained_shape:
        raise UserError(
            f"these data settings give features of shape {datamodule.feature_shape()}, the "
            f"checkpoint was trained on {trained_shape}; keep data.clip_samples and "
            f"data.features.* as they were in training"
        )
    return datamodule


def evaluate(
    ckpt_path: str | Path,
    data_overrides: dict[str, Any] | None = None,
    output_dir: str | Path | None = None,
    accelerator: str = "auto",
) -> dict[str, Any]:
    """Test a checkpoint and write ``metrics.json`` and ``confusion_matrix.png``.

    Args:
        ckpt_path: The checkpoint.
        data_overrides: Nested ``data`` config entries to change (e.g. ``{"root": ...}``).
        output_dir: Where results go; default ``<run dir>/evaluate``.
        accelerator: Lightning accelerator (``auto``, ``cpu``, ``gpu``).

    Returns:
        The metrics written to ``metrics.json``.
    """
    classifier = load_classifier(ckpt_path)
    datamodule = build_datamodule(classifier, data_overrides or {})
    out = Path(output_dir) if output_dir else run_dir(classifier.path) / "evaluate"
    out.mkdir(parents=True, exist_ok=True)
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,
        deterministic=True,
    )
    model = classifier.model
    trainer.test(model, datamodule=datamodule, verbose=False)
    metrics = {
        **model.test_results(),
        "ckpt_path": str(classifier.path.resolve()),
        "num_clips": datamodule.datasets["test"].num_tracks,
    }
    write_json_atomic(out / "metrics.json", metrics)
    confusion = torch.tensor(metrics["confusion_matrix"])
    save_png(confusion_image(confusion, classifier.class_names), out / "confusion_matrix.png")
    return metrics


def _evaluate(args: dict[str, Any]) -> int:
    ckpt = Path(args["ckpt_path"])
    out = Path(args["output_dir"]) if args["output_dir"] else run_dir(ckpt) / "evaluate"
    metrics = evaluate(ckpt, args["data"], out, args["accelerator"])
    print(
        f"test/acc {metrics['test/acc']:.4f}  test/f1_macro {metrics['test/f1_macro']:.4f}  "
        f"({metrics['num_clips']} clips) -> {out / 'metrics.json'}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    return run_main(
        _evaluate, argv, defaults=DEFAULTS, required=("ckpt_path",), open_groups=("data",)
    )


if __name__ == "__main__":
    sys.exit(main())
