"""Every command-line tool is a Hydra app built here: one way to start, to fail and to exit.

``hydra_app("predict", task)`` gives the tool's console entry point. It

* composes ``conf/<name>.yaml`` (:mod:`~genre_lightning.hydra_conf`: shipped inside the
  package, so a wheel works from any folder), with ``--help``, ``--cfg job``, ``-m`` sweeps and
  launchers as Hydra provides them;
* checks the command line before anything runs (:mod:`~genre_lightning.cli.command_line`): a
  mistake is one ``error:`` line and exit status 2, each value of a sweep checked;
* checks the tool's own keys (``checks``: types, ranges, names) on the composed config before
  the task starts;
* turns a :class:`~genre_lightning.errors.UserError` raised by the task into one ``error:``
  line on stderr and exit status 2 (:mod:`~genre_lightning.cli.console`), and an interrupted run
  into status 143; in a sweep, the failed job's line names it, the other jobs still run, and a
  last line names the failed ones (:mod:`~genre_lightning.cli.sweep_jobs`);
* silences third-party messages a user cannot act on (:mod:`genre_lightning.quiet`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from typing import Any

import hydra
from omegaconf import DictConfig
from omegaconf.errors import InterpolationResolutionError

from genre_lightning import quiet
from genre_lightning.cli.command_line import (
    RUN_CHECKS,
    check_command_line,
    home_expanded,
    hydra_config_of,
)
from genre_lightning.cli.console import fail, stop
from genre_lightning.cli.hydra_messages import unresolvable
from genre_lightning.cli.sweep_jobs import SWEEP, end_job
from genre_lightning.errors import EXIT_CTRL_C, EXIT_USAGE, Interrupted, UserError
from genre_lightning.hydra_conf import CONFIG_DIR
from genre_lightning.validate import Check, check_section


def hydra_app(
    config_name: str,
    task: Callable[[DictConfig], Any],
    checks: Mapping[str, Check] | None = None,
    before_launch: Callable[[DictConfig, list[str], bool], None] | None = None,
) -> Callable[[], Any]:
    """The console entry point of a tool whose config is ``conf/<config_name>.yaml``.

    Args:
        config_name: The tool's primary config.
        task: Runs one job with the composed config; its return value goes to Hydra (a
            sweeper optimises it).
        checks: The tool's own keys and their checks (:mod:`genre_lightning.validate`), run on
            each job's config before ``task``, after :data:`RUN_CHECKS`; also before Hydra
            starts, on the keys known then (a bad value leaves no run folder behind).
        before_launch: More checks of the command line's config (each job of
            :attr:`Launch.jobs`, without Hydra's run-time values; ``HydraConfig`` is set as
            far as it is known), of the keys it names (``+``/``~`` left out) and
            whether the jobs run on this machine (not on a cluster's nodes: files and devices
            are theirs), run before Hydra writes anything; raises :class:`UserError`.
    """
    all_checks = {**RUN_CHECKS, **(checks or {})}

    @hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name=config_name)
    def run_job(cfg: DictConfig) -> Any:
        quiet.silence_known_noise()  # again: a launcher (joblib) may run this in a new process
        SWEEP.started += 1
        try:
            check_section(cfg, all_checks)
            return task(cfg)
        except UserError as exc:
            return end_job(str(exc))
        except InterpolationResolutionError as exc:  # a ${...} of the command line's values
            return end_job(unresolvable(str(exc.full_key), exc))
        except Interrupted as exc:  # in a sweep too: Ctrl-C or SIGTERM stops all of it
            stop(str(exc), exc.status)
        except KeyboardInterrupt:  # Ctrl-C where the tool keeps nothing to say (decoding, ...)
            stop("stopped by Ctrl-C; what was finished is kept", EXIT_CTRL_C)
        except OSError as exc:  # the file system refused a read or write the checks allowed
            where = exc.filename if exc.filename is not None else "a file"
            return end_job(
                f"{where}: {exc.strerror or exc}; the result could not be read or written "
                f"there: check that path (a folder where a file is expected, permissions, space)"
            )

    def main() -> Any:
        quiet.silence_known_noise()
        SWEEP.reset()  # a process may run several command lines (the tests' worker does)
        SWEEP.pid = os.getpid()
        sys.argv[1:] = home_expanded(sys.argv[1:])  # before Hydra reads (and records) them
        launch = check_command_line(config_name, sys.argv[1:], all_checks)
        if launch is not None and before_launch is not None:
            try:
                # The job runs these checks again, and logs.
                with quiet.own_logging_held(), hydra_config_of(launch):
                    for job in launch.jobs:
                        before_launch(job, launch.given, launch.here)
            except UserError as exc:
                fail(str(exc))
        try:
            result = run_job()
        except SystemExit as exc:
            # A sweeper that stopped at a failed job (SweepJobFailed): Hydra printed its line.
            if exc.code == 1 and SWEEP.failed:
                sys.exit(EXIT_USAGE)
            raise
        if SWEEP.failed:
            fail(SWEEP.summary())
        return result

    main.__doc__ = f"``{config_name}``: the Hydra app of conf/{config_name}.yaml."
    return main
