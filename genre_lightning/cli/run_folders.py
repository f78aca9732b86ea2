"""Where a command's jobs run and write, checked before Hydra makes anything: the launcher (SLURM
only where ``srun`` exists), an Optuna search's trials, and a run folder that can be made and
holds no training run to write over."""

from __future__ import annotations

import shutil
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from genre_lightning import runs
from genre_lightning.cli.console import fail
from genre_lightning.errors import UserError
from genre_lightning.files import check_writable
from genre_lightning.validate import is_number, shown


def on_a_cluster(hydra_cfg: DictConfig) -> bool:
    """Whether the launcher submits the jobs to other machines (SLURM's nodes)."""
    return str(OmegaConf.select(hydra_cfg, "launcher._target_", default="")).endswith(
        "SlurmLauncher"
    )


def check_launch(hydra_cfg: DictConfig, multirun: bool) -> Path | None:
    """Fail in one line where Hydra would fail with a traceback: no SLURM, no run folder.

    Returns:
        The run folder (a multirun's sweep folder), or None where it is known only once the
        job starts.
    """
    if multirun and on_a_cluster(hydra_cfg) and shutil.which("srun") is None:
        fail(
            "hydra/launcher=slurm: srun is not on this machine's PATH, so there is no SLURM "
            "cluster to submit to; run it on the cluster's login node, or leave the launcher "
            "out to run the jobs here one after another"
        )
    trials = OmegaConf.select(hydra_cfg, "sweeper.n_trials", default=None)
    if multirun and trials is not None and not (is_number(trials, whole=True) and trials >= 1):
        # Optuna would run none and then fail with a traceback (no completed trial).
        fail(
            f"hydra.sweeper.n_trials={shown(trials)} must be a whole number of at least 1; "
            f"e.g. hydra.sweeper.n_trials=20"
        )
    key = run_folder_key(multirun)
    try:
        folder = OmegaConf.select(hydra_cfg, key.removeprefix("hydra."))
    except OmegaConfBaseException:  # it names run values known only once the job starts
        return None
    try:
        return check_writable(folder, key, folder=True)
    except UserError as exc:
        fail(str(exc))


def run_folder_key(multirun: bool) -> str:
    return "hydra.sweep.dir" if multirun else "hydra.run.dir"


def check_no_run_there(folder: Path, multirun: bool, tool: str) -> None:
    """Refuse to start in a folder that holds a training run (its ``last.ckpt`` or
    ``metrics.json``): Hydra would write its record over the run's, and a new run its files.
    (Training that continues the run, with ``resume=`` or ``ckpt_path=``, goes there on
    purpose: not checked.)"""
    key = run_folder_key(multirun)
    # A multirun's jobs are folders of the sweep folder.
    candidates = sorted(p for p in folder.glob("*") if p.is_dir()) if multirun else [folder]
    for place in candidates:
        run = runs.Run(place)
        held = [p for p in (run.checkpoint(runs.LAST), run.file("metrics")) if p.is_file()]
        if held:
            resume = f"resume it with resume={place}, " if tool == "train" else ""
            fail(
                f"{key}={folder}: {place} holds a training run ({held[0].relative_to(place)}), "
                f"which {'a new run' if tool == 'train' else tool} would write over; {resume}"
                f"give another folder, or leave {key} out for a new one"
            )
