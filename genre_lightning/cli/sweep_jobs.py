"""The failed jobs of a sweep: each says its ``error:`` line, the others still run, and the
sweep's last line names every failed one, wherever its jobs ran (here, a parallel launcher's
workers, a cluster's nodes)."""

from __future__ import annotations

import os
import sys
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.errors import CompactHydraException
from hydra.types import RunMode

from genre_lightning.cli.console import fail, log_to_files


class SweepRecord:
    """The jobs of this process's sweep that started, and the folders of those that failed."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.started = 0
        self.failed: list[str] = []
        #: The launching process (set by the entry point): a job run in another one (a
        #: parallel launcher's worker, a cluster's node) reports its failure back to it.
        self.pid: int | None = None

    def launched_here(self) -> bool:
        """Whether this process launched the sweep (its jobs' failures are recorded here)."""
        return self.pid == os.getpid()

    def summary(self) -> str:
        # Jobs another process ran (a parallel launcher's workers) started there, not here.
        of = f" of the {self.started} jobs run" if self.started else " of the sweep's jobs"
        return (
            f"{len(self.failed)}{of} failed: {', '.join(self.failed)} "
            f"(each one's error line is above, and in the log in its folder); the other jobs' "
            f"results are in theirs; run the failed ones again once their error is fixed"
        )


SWEEP = SweepRecord()


class SweepJobFailed(CompactHydraException):
    """A job of a sweep that ended with an ``error:`` line, for a sweeper with a policy of its
    own (Optuna's ``max_failure_rate``) or a launcher that runs the jobs elsewhere (joblib's
    workers, a cluster's nodes): raised for them to handle, where Hydra's basic sweep just
    goes on. Sent back from another process, it is recreated in the launching one, which
    then records the failure too (its exit status says bad input, as a single run's)."""

    def __init__(self, line: str, folder: str) -> None:
        super().__init__(line)
        self.folder = folder

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return _failed_elsewhere, (str(self), self.folder)


def _failed_elsewhere(line: str, folder: str) -> SweepJobFailed:
    """:class:`SweepJobFailed` unpickled where its job was launched: recorded there."""
    SWEEP.failed.append(folder)
    return SweepJobFailed(line, folder)


class FailedJob:
    """What a job of Hydra's basic sweep that ended with an ``error:`` line returns when
    another process ran it (a parallel launcher's worker, a cluster's node): sent back to the
    launching process, which then says the line and records the failure, so the sweep's other
    jobs are kept and its last line names every failed one. (Raised instead, the first
    failure's exception ended the sweep there, and the others went unsaid.)"""

    def __init__(self, line: str, folder: str) -> None:
        self.line, self.folder = line, folder

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return _job_failed_elsewhere, (self.line, self.folder)


def _job_failed_elsewhere(line: str, folder: str) -> FailedJob:
    """:class:`FailedJob` unpickled where its job was launched: said and recorded there."""
    print(line, file=sys.stderr)
    SWEEP.failed.append(folder)
    return FailedJob(line, folder)


def end_job(message: str) -> FailedJob | None:
    """End a job that cannot go on with ``error: <message>``, in its log file too.

    A single run exits (:func:`fail`). A job of a sweep lets the sweep's other jobs run: one
    bad fold must not throw away the folds trained after it. :func:`hydra_app` names the
    failed jobs at the end, wherever they ran.

    Returns:
        For a job of the basic sweep run by another process, the :class:`FailedJob` that
        reports it where it was launched; else None (the line is said here).

    Raises:
        SweepJobFailed: For a sweeper other than Hydra's basic one. Optuna's stops the search
            unless ``hydra.sweeper.max_failure_rate`` allows failed trials.
    """
    log_to_files(f"error: {message}")
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        fail(message)
    folder = hydra_cfg.runtime.output_dir
    line = f"error: job {hydra_cfg.job.num} ({folder}): {' '.join(message.split(chr(10)))}"
    # Not the launcher's name: joblib runs a single worker's jobs in the launching process.
    here = SWEEP.launched_here()
    if here:
        SWEEP.failed.append(str(folder))
    if here and _no_trial_left(hydra_cfg.sweeper):
        # Every trial of an Optuna search failed: its end would ask the study for a best
        # trial that does not exist (a traceback). Said as a basic sweep says it.
        print(line, file=sys.stderr)
        fail(SWEEP.summary())
    if not str(hydra_cfg.sweeper.get("_target_", "")).endswith(".BasicSweeper"):
        raise SweepJobFailed(line, str(folder))  # Hydra prints it where the sweep stops
    if not here:
        return FailedJob(line, str(folder))
    print(line, file=sys.stderr)
    return None


def _no_trial_left(sweeper: Any) -> bool:
    """Whether this was the last trial of an Optuna search (in memory: no trials of earlier
    processes) and every one of its trials failed."""
    if "optuna" not in str(sweeper.get("_target_", "")).lower() or sweeper.get("storage"):
        return False
    trials = sweeper.get("n_trials")
    return isinstance(trials, int) and len(SWEEP.failed) == SWEEP.started >= trials
