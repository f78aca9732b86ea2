"""Test a trained checkpoint on its data's test part, or on other data, and write the metrics.

Usage (a Hydra app: ``--help``, ``--cfg job`` and ``-m`` sweeps work as for training)::

    python -m genre_lightning.evaluate ckpt_path=RUN/checkpoints/best.ckpt [data.<key>=...]
    python -m genre_lightning.evaluate ckpt_path=... data.root=/my/music  # same settings
    python -m genre_lightning.evaluate ckpt_path=... data.root=/other/music data.split=test
    python -m genre_lightning.evaluate ckpt_path=... data=folder data.root=/my/music
    python -m genre_lightning.evaluate -m ckpt_path=A.ckpt,B.ckpt

The config is ``conf/evaluate.yaml``. Which data is tested:

* ``data=checkpoint`` (the default): the data config saved in the checkpoint, with any
  ``data.<key>=...`` given on the command line merged on top (e.g. ``data.root=...`` where the
  data moved, ``data.batch_size=64``; ``data.split=test`` tests every track of the folder, for
  recordings the run never saw). It is an open mapping (:data:`CHECKPOINT_DATA`), so any
  key of the checkpoint's data module can be changed; a key that module does not take is an
  error. A test part holding tracks the run trained or validated on (another ``data.fold``, a
  changed folder) is refused (:mod:`~genre_lightning.data.split_record`).
* ``data=gtzan|folder|synthetic``: that option of ``conf/data/``, composed exactly as training
  composes it.

The checkpoint's class names must equal the data's, in order: when the config names the
classes this is checked before anything is read, otherwise the folders are listed (nothing is
decoded) and then checked. The data's features must be the ones the network was trained on:
the same shape, and the same decode rate and mel settings (features of the right shape computed
otherwise would be inputs unlike its training ones); the message lists every setting that
differs from the checkpoint's and, for ``data=...``, offers the checkpoint's own data config
with only ``data.root`` given. Writes
``metrics.json`` and ``confusion_matrix.png`` into ``output`` (default: the tool's run
directory, ``outputs/evaluate/<date>/<time>``), whose writability is checked first of all;
then the ``data.*`` values given (:func:`~genre_lightning.data.config.check_data_config`), before
the checkpoint is read. A bad data setting found only when the data module is built (with the
checkpoint's settings) is its own one-line error, not Hydra's instantiation report.

torch and Lightning take seconds to import, so they are imported by the functions that use
them: ``--help``, ``--cfg job`` and a bad command line or output path answer at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from genre_lightning import runs
from genre_lightning.cli.app import hydra_app
from genre_lightning.cli.command_line import check_tool_files
from genre_lightning.cli.console import say
from genre_lightning.data import GENRE_DATA_MODULE
from genre_lightning.data.config import CHECKS as DATA_CHECKS
from genre_lightning.evaluation.checkpoint_data import (
    build_datamodule,
    checkpoint_data_config,
    module_arguments,
    say_which_part,
)
from genre_lightning.files import check_writable
from genre_lightning.validate import Check, device_name, text, typed, whole

if TYPE_CHECKING:
    import torch

#: The cuBLAS setting Lightning's deterministic mode exports (kept by ``_torch_flags_kept``).
CUBLAS_WORKSPACE = "CUBLAS_WORKSPACE_CONFIG"

log = logging.getLogger(__name__)

#: ``data=checkpoint``: an empty mapping that accepts any key (Hydra's yaml configs are closed
#: to new keys), meaning "the checkpoint's data config, with these keys changed". Registered
#: here rather than as conf/data/checkpoint.yaml so that training does not offer it.
CHECKPOINT_DATA = "checkpoint"


def _open_mapping() -> DictConfig:
    node = OmegaConf.create({})
    OmegaConf.set_struct(node, False)
    return node


ConfigStore.instance().store(group="data", name=CHECKPOINT_DATA, node=_open_mapping())


def _lightning_device(device: torch.device) -> dict[str, Any]:
    if device.type == "cpu":
        return {"accelerator": "cpu", "devices": 1}
    return {"accelerator": "gpu", "devices": [device.index or 0]}


def evaluate(
    ckpt_path: str | Path,
    output: str | Path,
    data_overrides: Mapping[str, Any] | None = None,
    data_config: Mapping[str, Any] | None = None,
    device: str = "auto",
    class_names_given: bool | None = None,
) -> dict[str, Any]:
    """Test a checkpoint and write ``metrics.json`` and ``confusion_matrix.png``.

    Args:
        ckpt_path: The checkpoint.
        output: The folder the results are written into (created).
        data_overrides: Nested ``data`` entries changed in the checkpoint's data config (e.g.
            ``{"root": ...}``).
        data_config: A whole data config (``_target_`` and its arguments) to test on instead of
            the checkpoint's; excludes ``data_overrides``.
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        class_names_given: Whether the user chose ``data.class_names`` (a genre folder left
            out of them is then not scored); ``None``: whether the arguments name them.

    Returns:
        The metrics written to ``metrics.json``.
    """
    if data_overrides and data_config is not None:
        raise ValueError("give data_overrides or data_config, not both")
    out = runs.Run(check_writable(output, "output", folder=True))
    import pytorch_lightning as pl  # after the quick checks
    import torch

    from genre_lightning.data.config import check_data_config
    from genre_lightning.inference import load_classifier, resolve_device
    from genre_lightning.provenance import provenance
    from genre_lightning.training.figures import confusion_image, save_png

    # The data settings given are checked before the checkpoint is read (only the keys present:
    # the checkpoint's own are checked with them when the data module is built).
    given = data_config if data_config is not None else data_overrides or {}
    check_data_config(given)
    if given.get("_target_") is not None:
        module_arguments(given["_target_"])  # an importable data module class

    target = resolve_device(device)
    classifier = load_classifier(ckpt_path)
    if data_config is None:
        config = checkpoint_data_config(classifier, data_overrides or {})
    else:
        config = dict(data_config)
    if class_names_given is None:  # what was given, as far as the arguments tell
        class_names_given = given.get("class_names") is not None
    datamodule = build_datamodule(
        classifier, config, composed=data_config is not None, names_given=class_names_given
    )
    say_which_part(datamodule, config)
    out.path.mkdir(parents=True, exist_ok=True)
    model = classifier.model
    with _torch_flags_kept():
        trainer = pl.Trainer(
            **_lightning_device(target),
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            enable_progress_bar=False,
            deterministic=True,
        )
        trainer.test(model, datamodule=datamodule, verbose=False)
    metrics = {
        **model.test_results(),
        runs.CKPT_PATH: str(classifier.path.resolve()),
        # Per part, as training writes it: one reader serves both metrics.json files.
        runs.NUM_CLIPS: {"test": datamodule.datasets["test"].num_tracks},
        runs.SKIPPED_FILES: [p for p, _ in datamodule.skipped],
        runs.DATA_CONFIG: config,
        runs.PROVENANCE: provenance(target),
        runs.TRAINED_WITH: classifier.trained_with,
    }
    out.write_metrics(metrics)
    _say_other_code(metrics[runs.TRAINED_WITH], metrics[runs.PROVENANCE])
    confusion = torch.tensor(metrics[runs.CONFUSION_MATRIX])
    save_png(confusion_image(confusion, classifier.class_names), out.file("confusion_matrix"))
    return metrics


def _say_other_code(trained: Mapping[str, Any] | None, evaluating: Mapping[str, Any]) -> None:
    """Warn where the checkpoint was trained by other code or libraries than those evaluating
    it: decoding and the mel are computed anew here, so a change in them can move the numbers
    away from training's (the device alone is no news)."""
    if trained is None:
        return
    differ = [
        f"{key} {trained.get(key)} -> {evaluating.get(key)}"
        for key in evaluating
        if key != "device" and trained.get(key) != evaluating.get(key)
    ]
    if differ:
        log.warning(
            "the checkpoint was trained with other code or libraries than these (%s): its "
            "numbers here may differ from training's",
            ", ".join(differ),
        )


@contextlib.contextmanager
def _torch_flags_kept() -> Iterator[None]:
    """Restore the global flags a deterministic Trainer sets (torch's deterministic mode,
    cuDNN's, ``CUBLAS_WORKSPACE_CONFIG``): called from a notebook, evaluate leaves the
    caller's torch as it found it."""
    import torch

    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    kept = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic)
    benchmark = torch.backends.cudnn.benchmark
    workspace = os.environ.get(CUBLAS_WORKSPACE)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(kept[0], warn_only=warn_only)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = kept[1], benchmark
        if workspace is None:
            os.environ.pop(CUBLAS_WORKSPACE, None)
        else:
            os.environ[CUBLAS_WORKSPACE] = workspace


def _job(cfg: DictConfig) -> None:
    from genre_lightning.training.metrics import accuracy_summary, per_genre_table

    data = cast(dict[str, Any], OmegaConf.to_container(cfg.data, resolve=True))
    from_checkpoint = HydraConfig.get().runtime.choices.get("data") == CHECKPOINT_DATA
    metrics = evaluate(
        cfg.ckpt_path,
        cfg.output,
        data_overrides=data if from_checkpoint else None,
        data_config=None if from_checkpoint else data,
        device=cfg.device,
        # Typed, not a data option's own list (data=gtzan's ten genres choose nothing).
        class_names_given=typed("data.class_names"),
    )
    say(per_genre_table(metrics))
    tracks = metrics[runs.NUM_CLIPS]["test"]
    say(
        f"{accuracy_summary(metrics)}  test/f1_macro {metrics[runs.TEST_F1_MACRO]:.4f}"
        f"  ({tracks} tracks) -> {runs.Run(Path(cfg.output)).file('metrics')}"
    )


#: The keys of conf/evaluate.yaml outside ``data``, then the ``data.*`` values given that take
#: numbers, flags and texts, which need no checkpoint read (:func:`evaluate` checks the rest).
CHECKS: dict[str, Check] = {
    "ckpt_path": text(runs.EXAMPLE_CKPT),
    "device": device_name,
    "seed": whole(0, "42"),  # as training: a data option's shuffle_seed is ${seed}
    "output": text("results/eval"),
    "data._target_": text(GENRE_DATA_MODULE),
    **{f"data.{key}": check for key, check in DATA_CHECKS.items()},
}


def _before_launch(cfg: DictConfig, given: list[str], here: bool) -> None:
    """:func:`evaluate`'s quick checks before the run folder is written (the data's need the
    checkpoint read: the job's)."""
    check_tool_files(cfg, here, {"folder": True})


#: ``python -m genre_lightning.evaluate`` / ``genre-lightning-evaluate``.
main = hydra_app("evaluate", _job, CHECKS, before_launch=_before_launch)


if __name__ == "__main__":
    main()
