"""Training entry point: ``python -m genre_lightning`` / ``genre-lightning``.

Builds everything from the Hydra config, fits, tests the best-``val/acc`` checkpoint and writes
``metrics.json`` into the run directory.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

from genre_lightning import runs
from genre_lightning.cli.app import hydra_app
from genre_lightning.errors import Interrupted, UserError
from genre_lightning.files import check_writable
from genre_lightning.train_checks import check_training, quick_training_checks

# Lightning and the parts built on it are imported where they are used: importing them takes
# about ten seconds, which a command refused by the config's checks, or --help, need not wait.
if TYPE_CHECKING:
    import pytorch_lightning as pl

    from genre_lightning.data.datamodule import GenreDataModule

log = logging.getLogger(__name__)


@contextmanager
def _stops_said(trainer: pl.Trainer, run: runs.Run, testing: bool = False) -> Iterator[None]:
    """Turn a stop (SIGTERM, Ctrl-C) into :class:`Interrupted`, with what resumes the run.

    :class:`GracefulStop` raises it from a training step; Lightning ends the other stops itself
    (a SIGTERM during validation as exit status 0, Ctrl-C as 1), which the callback records.
    """
    from genre_lightning.training.callbacks import GracefulStop

    callbacks = trainer.callbacks  # type: ignore[attr-defined]  # set by Lightning at init
    graceful = next(c for c in callbacks if isinstance(c, GracefulStop))
    try:
        yield
    except (Interrupted, SystemExit) as exc:
        stop = exc if isinstance(exc, Interrupted) else graceful.stopped
        if stop is None:
            raise
        last = graceful.last
        if testing or (last is not None and last.is_file()):  # resume= of a finished run tests
            hint = f"Resume with the same command plus `resume={run.path}`."
        else:
            hint = "Nothing was saved to resume: run the command again."
        raise Interrupted(f"{stop}. {hint}", stop.status) from None


def train(cfg: DictConfig) -> dict[str, Any]:
    """Fit and test one configuration.

    Args:
        cfg: The composed config (``conf/train.yaml``).

    Returns:
        The metrics also written to ``<paths.output_dir>/metrics.json``.
    """
    import pytorch_lightning as pl

    from genre_lightning.provenance import provenance
    from genre_lightning.training.builders import build_module, build_trainer, check_optimization
    from genre_lightning.training.distributed import sweep_job_ranks
    from genre_lightning.training.metrics import accuracy_summary, per_genre_table
    from genre_lightning.training.resume import check_resumed_split, check_resumed_weights
    from genre_lightning.training.speed import compile_network

    run = runs.Run(Path(_output_dir(cfg)))
    check_training(cfg)  # every value, before any work
    check_optimization(cfg)
    run.path.mkdir(parents=True, exist_ok=True)
    # Before the Trainer (its device lines) and before decoding (GTZAN takes minutes).
    resume_from, datamodule = _check_machine(cfg, run)
    trainer = build_trainer(cfg)
    pl.seed_everything(cfg.seed, workers=True)
    datamodule.prepare_data()
    datamodule.setup("fit")
    if resume_from is not None:  # before split.csv is written: the run's own stays as it was
        check_resumed_split(resume_from, datamodule)
    datamodule.check_batch_size()
    model = build_module(cfg, datamodule)
    # A resume continues this run's record (its best epoch, its hparams entry); a checkpoint
    # from outside this run's folder (ckpt_path= of another run) starts the record afresh.
    continuing = resume_from is not None and run.holds(resume_from)
    if resume_from is not None:
        check_resumed_weights(resume_from, model)
        model.restore_val_history = continuing
    if resume_from is None and model.normalize.per != "none":  # a resumed run keeps its own
        stats = datamodule.feature_statistics(trainer.strategy.root_device)
        model.normalize.set_statistics(*(s.to(model.device) for s in stats))
    if cfg.get("compile"):
        compile_network(model.net)
    _log_start(cfg, run, trainer, datamodule, resumed=continuing)

    with sweep_job_ranks(trainer):  # DDP in a multirun: this job's ranks run this job only
        with _stops_said(trainer, run):
            trainer.fit(model, datamodule=datamodule, ckpt_path=resume_from)
        checkpoint = trainer.checkpoint_callback
        best = getattr(checkpoint, "best_model_path", "") or None
        tested = bool(datamodule.datasets["test"].num_tracks)  # data.split=all: nothing to test
        if tested:
            # Not verbose: Lightning's table shows float32 copies; the exact one is logged below.
            with _stops_said(trainer, run, testing=True):
                trainer.test(model, datamodule=datamodule, ckpt_path=best or None, verbose=False)

    history = model.val_history
    untested = {runs.TEST_ACC: None, runs.TEST_F1_MACRO: None, runs.CLASS_NAMES: model.class_names}
    metrics = {
        **(model.test_results() if tested else untested),
        runs.VAL_ACC_BEST: max(history) if history else None,
        runs.VAL_ACC: model.tested_val_acc,
        runs.BEST_CKPT: best,
        runs.EPOCHS: trainer.current_epoch,
        runs.SEED: cfg.seed,
        runs.NUM_CLIPS: {part: ds.num_tracks for part, ds in datamodule.datasets.items()},
        runs.SKIPPED_FILES: [p for p, _ in datamodule.skipped],
        runs.PROVENANCE: provenance(trainer.strategy.root_device),
    }
    if not _is_rank_zero():  # with DDP every rank gets here: one file, one final line
        return metrics
    run.write_metrics(metrics)
    if not tested:
        log.info(
            "trained on all %d tracks (data.split=all): nothing validated or tested; the last "
            "epoch's checkpoint, for predict: %s",
            datamodule.datasets["train"].num_tracks,
            best,
        )
    else:
        log.info("test, per genre:\n%s", per_genre_table(metrics))
        # None where nothing was validated (data.train_on_val=true): said as such.
        val, best_val = (
            "none" if metrics[k] is None else f"{metrics[k]:.4f}"
            for k in (runs.VAL_ACC, runs.VAL_ACC_BEST)
        )
        log.info(
            # val/acc is the tested checkpoint's; the best epoch's differs where the recipe
            # tests its last epoch.
            "%s  test/f1_macro %.4f  val/acc %s  val/acc_best %s  -> %s",
            accuracy_summary(metrics),
            metrics[runs.TEST_F1_MACRO],
            val,
            best_val,
            run.file("metrics"),
        )
    return metrics


def _output_dir(cfg: DictConfig) -> str:
    """``paths.output_dir``, which Hydra's run directory gives; a config composed in Python
    (``compose("train", ...)``, then ``train(cfg)``) must give it itself."""
    try:
        return str(cfg.paths.output_dir)
    except OmegaConfBaseException:
        if HydraConfig.initialized():
            raise
        raise UserError(
            "paths.output_dir: a config composed outside a Hydra app has no run directory; "
            "give one, e.g. compose('train', overrides=['paths.output_dir=/a/new/folder', ...])"
        ) from None


def _log_start(
    cfg: DictConfig, run: runs.Run, trainer: pl.Trainer, datamodule: GenreDataModule, resumed: bool
) -> None:
    """split.csv, where the outputs go, skipped files, and the hparams tab's record (logged
    at step 0 by the run's start, not again by a resume)."""
    from pytorch_lightning.loggers import TensorBoardLogger
    from torch.utils.tensorboard.summary import hparams

    from genre_lightning.training.builders import flat_config

    if _is_rank_zero():
        datamodule.write_split(run.file("split"))
    curves = (
        f"  |  curves: tensorboard --logdir {run.file('tensorboard')}" if trainer.loggers else ""
    )
    log.info("outputs: %s%s", run.path, curves if trainer.loggers else "")
    skipped = datamodule.skipped
    if skipped:
        log.warning(
            "%d audio file(s) were skipped (each warning above says why): %s",
            len(skipped),
            ", ".join(Path(p).name for p, _ in skipped),
        )
    # The hparams tab: the run's whole config, as a session with no experiment record of its
    # own. TensorBoard then builds the tab from every session under the folder it shows: the
    # keys of all of a sweep's jobs (one job's record would be taken for all, hiding the keys of
    # a model or optimizer the others chose), and as metrics the scalars the runs logged, so no
    # placeholder points are needed (Lightning's log a 0 at step 0 of each metric's curve).
    params = flat_config(cfg)
    for lg in trainer.loggers if not resumed else []:
        lg.log_metrics({"data/skipped_files": float(len(skipped))}, step=0)
        lg.log_hyperparams(params)  # hparams.yaml (no metrics given: no scalars logged)
        # On rank 0 only: other DDP ranks hold a stand-in experiment, which has no writer.
        if isinstance(lg, TensorBoardLogger) and _is_rank_zero():
            _experiment, session_start, session_end = hparams(params, {})
            for summary in (session_start, session_end):
                lg.experiment.file_writer.add_summary(summary, 0)


def _is_rank_zero() -> bool:
    """Whether this process writes the run's files: with DDP every rank runs :func:`train`.

    Lightning reads the rank from the launcher's environment at import, so this holds
    before the trainer has set up the process group, as well as after.
    """
    from pytorch_lightning.utilities import rank_zero_only

    return rank_zero_only.rank == 0  # type: ignore[attr-defined]


def _job(cfg: DictConfig) -> float | None:
    """One training job; returns ``val/acc`` of the checkpoint it tested, for sweepers that
    optimise it (``val/acc_best`` may be an epoch that was not kept: a recipe testing its last
    epoch, or the epochs of another run trained on from)."""
    return train(cfg)[runs.VAL_ACC]


def _before_launch(cfg: DictConfig, given: list[str], here: bool) -> None:
    """The checks :func:`train` starts with, before Hydra writes a run folder (or, resuming,
    into the run's folder): a refused command leaves nothing behind. Also a ``data.*`` key
    given (``given``) that the run's split does not read.

    Where the jobs run ``here`` (not on a cluster's nodes, whose files and GPUs this machine
    does not see): the accelerator, the run to resume, and the data folder (listed, not
    decoded).
    """
    if here:
        _check_data_listed(cfg)
    try:
        check_training(cfg, given)
        from genre_lightning.training.builders import check_optimization  # after the quick checks

        check_optimization(cfg)
    except OmegaConfBaseException:  # a value Hydra sets only once the job runs: checked then
        return
    if not here:
        return
    try:
        if cfg.get("resume"):
            run = runs.Run(Path(str(cfg.resume)))
        elif cfg.get("ckpt_path") not in (None, runs.LAST):
            run = runs.Run(Path.cwd())  # a file named in full: checked as the job would
        else:  # ckpt_path=last: the run folder's, known only once the job starts
            run = None
        _check_machine(cfg, run)
    except UserError:
        raise
    except Exception:  # a value known only in the job (Hydra's paths): the job says what
        return


def _check_data_listed(cfg: DictConfig) -> None:
    """Refuse a folder of genre folders that holds no audio, before torch is imported.

    A wrong ``data.root`` is most users' first mistake, and the checks below import torch and
    Lightning first (~10 s on 2 cores); listing the folder takes a second. Only the plain case is
    checked here: GTZAN or a folder, not to be downloaded, its root and genres plain texts.
    Anything else is left to the full checks, which say everything this one says.
    """
    from genre_lightning.data import GENRE_DATA_MODULE
    from genre_lightning.data.index import index_clips

    try:
        data = cfg.data
        target, root, names = data.get("_target_"), data.get("root"), data.get("class_names")
        download = data.get("download")
    except OmegaConfBaseException:  # a value Hydra sets only once the job runs
        return
    if target != GENRE_DATA_MODULE or download is not False or not isinstance(root, str):
        return
    if not root.strip() or root == "???":  # data=folder without data.root: the check says so
        return
    if names is not None:
        names = list(names) if isinstance(names, Sequence) and not isinstance(names, str) else []
        if len(names) < 2 or not all(isinstance(n, str) and n for n in names):
            return  # the data checks say what is wrong with them
    index_clips(Path(root), names)


def _check_machine(cfg: DictConfig, run: runs.Run | None) -> tuple[str | None, GenreDataModule]:
    """What this machine must have for the run: a GPU where one is asked for, the checkpoint
    to resume from (``run``'s; none checked without a run), data to train on (listed, not
    decoded), and the network's pretrained weights (fetched once, into the cache).

    Returns:
        The checkpoint to resume from, and the (not yet prepared) data module.
    """
    from genre_lightning.models.build import prepare_network
    from genre_lightning.training.builders import (
        check_accelerator,
        check_spec_augment,
        check_trainer,
    )
    from genre_lightning.training.resume import resume_path

    check_accelerator(cfg)
    check_trainer(cfg)
    resume_from = resume_path(cfg, run) if run is not None else None
    datamodule: GenreDataModule = instantiate(cfg.data)
    check_spec_augment(cfg, datamodule.feature_shape())
    store = cfg.module.get("embedding_cache_dir")
    if store is not None and cfg.module.get("cache_embeddings"):
        # Named on purpose: a folder it cannot write is an error (the default cache folder
        # that cannot be written only costs the reuse, and is warned of).
        check_writable(store, "module.embedding_cache_dir", folder=True)
    cache_dir = cfg.data.get("cache_dir")
    if cache_dir is not None and not Path(str(cache_dir)).is_dir():
        # One to be made: where it cannot be, say so before decoding (a folder that is there
        # may hold the cache even if it cannot be written: the build says, if it must write).
        check_writable(cache_dir, "data.cache_dir", folder=True)
    datamodule.check_data_found()
    prepare_network(cfg.model)  # last: the one check that may download
    return resume_from, datamodule


#: ``python -m genre_lightning`` / ``genre-lightning``.
main = hydra_app("train", _job, quick_training_checks(), before_launch=_before_launch)


if __name__ == "__main__":
    main()
