"""DDP inside a Hydra multirun: every sweep job starts its own ranks, which run that job only.

Lightning starts the ranks > 0 of ``strategy=ddp`` by running the command line again:
``sys.argv`` plus ``hydra.run.dir=<HydraConfig's run.dir>``. In a multirun that command line is
the whole sweep (``-m optimizer.lr=1e-4,5e-4``). Left alone, the extra rank replays every job
of the sweep on its own, and from the second job on Lightning starts no ranks at all: the
environment variables it set for the first job tell it that the ranks exist. That holds together
only while every process walks the sweep in the same order (an unseeded Optuna sampler breaks
it); a sweep mixing ``trainer=ddp`` with single-process jobs runs a stray rank beside the
single-process job, and the stray rank writes ``sweep_summary.csv`` too.

Re-running the program only works from the process Hydra itself runs the jobs in (the default
basic launcher). A joblib or submitit worker would re-run the worker's own program, so there
DDP ranks must come from outside (SLURM tasks), and a sweep that would start them is an error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, read_write
from pytorch_lightning.strategies.launchers import _SubprocessScriptLauncher

from genre_lightning.errors import UserError

#: What Lightning's launcher sets in its own process for the ranks it starts (and the thread
#: count it lowers for them).
LAUNCHER_ENV = (
    "MASTER_ADDR",
    "MASTER_PORT",
    "NODE_RANK",
    "LOCAL_RANK",
    "WORLD_SIZE",
    "OMP_NUM_THREADS",
)

#: The launcher that runs sweep jobs in Hydra's own process (``hydra/launcher=basic``).
BASIC_LAUNCHER = "hydra._internal.core_plugins.basic_launcher.BasicLauncher"


@contextmanager
def sweep_job_ranks(trainer: pl.Trainer) -> Iterator[None]:
    """Within this block, DDP ranks that Lightning starts run the current sweep job only.

    Outside a multirun this does nothing. Inside one it points the command line Lightning
    re-runs at this job and its directory, and afterwards it closes the job's process group and
    clears the launcher's variables, so the next job starts fresh ranks on a fresh port. Where
    the ranks come from outside (``torchrun``, SLURM) the variables were set before the job and
    are kept.

    Args:
        trainer: The job's trainer (its strategy says whether it will start ranks).

    Raises:
        UserError: The trainer would start ranks from a worker of a parallel launcher.
    """
    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        yield
        return
    # Typed as the HydraConf dataclass, but at run time it is a (read-only) DictConfig.
    hydra_cfg = cast(DictConfig, HydraConfig.get())
    launcher = trainer.strategy.launcher
    starts_ranks = isinstance(launcher, _SubprocessScriptLauncher) and not (
        launcher.cluster_environment.creates_processes_externally
    )
    if starts_ranks and hydra_cfg.launcher._target_ != BASIC_LAUNCHER:
        raise UserError(
            f"DDP (trainer=ddp, trainer.strategy=ddp) starts its ranks by re-running the "
            f"program, which a worker of {hydra_cfg.launcher._target_} cannot do. Sweep DDP "
            f"jobs with the default launcher (drop hydra/launcher=...), or on SLURM with one "
            f"task per GPU (hydra.launcher.tasks_per_node=<GPUs>)."
        )
    saved_argv = sys.argv
    saved_env = {key: os.environ.get(key) for key in LAUNCHER_ENV}
    saved_threads = torch.get_num_threads()
    # The command line's hydra.* overrides (logging, job.chdir, ...), then the job's own values;
    # hydra.mode=RUN last, because a config may ask for a multirun itself (hparams_search).
    sys.argv = [
        saved_argv[0],
        *hydra_cfg.overrides.hydra,
        *hydra_cfg.overrides.task,
        "hydra.mode=RUN",
    ]
    # Lightning hands the ranks HydraConfig's run.dir; Hydra sets a fresh HydraConfig for each
    # job, so this lasts for this job only.
    with read_write(hydra_cfg):
        hydra_cfg.run.dir = hydra_cfg.runtime.output_dir
    try:
        yield
    finally:
        sys.argv = saved_argv
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        torch.set_num_threads(saved_threads)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
