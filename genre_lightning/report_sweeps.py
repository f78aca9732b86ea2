"""The report's training: a recipe's runs as one training multirun in a subprocess, and the
same command again finishing only the jobs that left no results."""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser

from genre_lightning import runs
from genre_lightning.errors import EXIT_CTRL_C, Interrupted, UserError
from genre_lightning.report_rows import (
    TRAIN,
    collect,
    recorded_overrides,
)
from genre_lightning.training.sweep import summarize_sweep


def run_recipe(
    recipe: str, sweep: str, overrides: Sequence[str], sweep_dir: Path, unwritten: str
) -> None:
    """Train one recipe's multirun into ``sweep_dir``, or finish it there.

    A folder that holds job folders of this very command (an interrupted report, a failed
    job) is continued: only the jobs without results are trained (see :func:`continue_sweep`).

    Args:
        recipe: The experiment config.
        sweep: What varies between its runs (training sweep overrides).
        overrides: Training overrides every run gets.
        sweep_dir: The multirun's folder.
        unwritten: What the report lacks if this training fails (for the message).

    Raises:
        UserError: The training exited with an error (its message is printed above), or
            ``sweep_dir`` holds jobs of another command.
    """
    task = training_task(recipe, sweep, overrides)
    if job_folders(sweep_dir):
        if recorded_overrides(sweep_dir) != task:
            raise UserError(
                f"{sweep_dir} holds runs of {recipe} but not of this command; to train afresh "
                f"remove that folder or give another out=..."
            )
        continue_sweep(recipe, task, sweep_dir, unwritten)
        return
    print(f"[report] {TRAIN} {shlex.join(task)}", flush=True)
    cmd = ["-m", *task, f"hydra.sweep.dir={sweep_dir}"]
    _train(recipe, cmd, sweep_dir, unwritten)


def continue_sweep(recipe: str, task: Sequence[str], sweep_dir: Path, unwritten: str) -> None:
    """Train the jobs of ``task``'s multirun in ``sweep_dir`` that left no results, each as a
    run of its own in its job's folder (Hydra's job number).

    A job stopped part-way resumes from its ``last.ckpt``; one that failed before saving any
    is trained afresh, its folder (its log: why it failed) moved to ``.failed/`` first; one
    never started is trained. Finished jobs are left as they are.

    Raises:
        UserError: A job's training exited with an error (its message is printed above).
    """
    jobs = sweep_jobs(task)
    done = {int(p.name) for p in job_folders(sweep_dir) if runs.Run(p).file("metrics").is_file()}
    left = [n for n in range(len(jobs)) if n not in done]
    print(
        f"[report] {recipe}: continuing the multirun in {sweep_dir}: {len(left)} of its "
        f"{len(jobs)} jobs left no results",
        flush=True,
    )
    for num in left:
        folder = sweep_dir / str(num)
        if runs.Run(folder).checkpoint(runs.LAST).is_file():
            where = f"resume={folder}"
        else:
            if folder.exists():
                aside = sweep_dir / FAILED / f"{num}-{time.strftime('%Y-%m-%d_%H-%M-%S')}"
                aside.parent.mkdir(exist_ok=True)
                folder.rename(aside)
                print(
                    f"[report] {recipe}: job {num} failed before; its folder is {aside}", flush=True
                )
            where = f"hydra.run.dir={folder}"
        print(f"[report] {TRAIN} {shlex.join([*jobs[num], where])}", flush=True)
        _train(recipe, [*jobs[num], where], sweep_dir, unwritten)
    summarize_sweep(sweep_dir)  # the multirun's summary, as its end would have written it


#: Where :func:`continue_sweep` moves the folder of a job that failed before it trains it again.
FAILED = ".failed"


def sweep_jobs(task: Sequence[str]) -> list[list[str]]:
    """The overrides of each job of ``task``'s multirun, in Hydra's job order (the basic
    sweeper's: every combination of the swept values, in the order given)."""
    parsed = OverridesParser.create().parse_overrides(list(task))
    return [job for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def job_folders(sweep_dir: Path) -> list[Path]:
    """The job folders (numbered) a multirun left in ``sweep_dir``."""
    return [p for p in sweep_dir.glob("*") if p.name.isdigit() and p.is_dir()]


def _train(recipe: str, args: Sequence[str], sweep_dir: Path, unwritten: str) -> None:
    """Run training with ``args`` in a subprocess.

    Raises:
        Interrupted: Ctrl-C (which reached the training too).
        UserError: The training exited with an error (its message is printed above).
    """
    try:
        status = subprocess.run([sys.executable, "-m", "genre_lightning", *args]).returncode
    except KeyboardInterrupt:  # Ctrl-C reached the training too, which stopped
        raise Interrupted(
            f"the report stopped while training {recipe}, whose runs so far are in "
            f"{sweep_dir}; {unwritten}; run the same command again: it trains only the jobs "
            f"that left no results (rows already written stay)",
            EXIT_CTRL_C,
        ) from None
    if status:
        raise UserError(
            f"recipe {recipe}: training exited with status {status} (its error is above); "
            f"{unwritten}"
        )


def training_task(recipe: str, sweep: str, overrides: Sequence[str]) -> list[str]:
    """The overrides of a recipe's multirun, as Hydra records them in ``multirun.yaml``."""
    return [f"experiment={recipe}", *shlex.split(sweep), *overrides]


def refit_sweep(sweep: str, chosen: dict[str, Any] | None) -> str:
    """``sweep`` with the key chosen on validation fixed at the chosen value."""
    if not chosen:
        return sweep
    key, words, prefix = chosen["key"], [], ""
    for word in shlex.split(sweep):
        name = word.split("=", 1)[0]
        if name.lstrip("+") == key:  # a swept +key= adds the key: its fixed value must too
            prefix = name[: len(name) - len(key)]
        else:
            words.append(word)
    return shlex.join([*words, f"{prefix}{key}={chosen['value']}"])


def unfinished_jobs(sweep_dir: Path) -> str:
    """``N of its M jobs did not finish: ...`` where jobs of the sweep in ``sweep_dir`` started
    but left no metrics (failed, or stopped), else ``""``."""
    started = job_folders(sweep_dir)
    missing = len(started) - len(collect(sweep_dir))
    if missing <= 0:
        return ""
    return (
        f"{missing} of its {len(started)} jobs did not finish: the log in each job's folder says "
        f"why"
    )


def all_finished(sweep_dir: Path) -> bool:
    """Whether ``sweep_dir`` holds finished runs and none is left to train: every job of its
    recorded multirun (without a record: any finished run counts as all)."""
    finished = collect(sweep_dir)
    recorded = recorded_overrides(sweep_dir)
    return bool(finished) and (recorded is None or len(finished) >= len(sweep_jobs(recorded)))
