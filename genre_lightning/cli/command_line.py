"""A tool's command line checked before Hydra starts: every mistake one ``error:`` line, exit 2.

An unknown key or group option, a malformed override, a mandatory key (``???``) left unset, a
sweep without ``-m``, a run folder that cannot be created or holds a run, the SLURM launcher off
a cluster: Hydra alone would exit 1 after its multi-line report or a traceback. Each value of a
sweep is checked, not only the first, and the tool's own checks run on the keys known then, so
a bad value leaves no run folder behind.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from hydra import compose, initialize_config_dir
from hydra._internal.utils import get_args_parser
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import (
    InterpolationKeyError,
    OmegaConfBaseException,
    UnsupportedInterpolationType,
)

from genre_lightning import runs
from genre_lightning.cli.console import fail
from genre_lightning.cli.hydra_messages import (
    misplaced,
    missing_keys,
    one_line,
    parse_error,
    quoted,
    unresolvable,
)
from genre_lightning.cli.run_folders import (
    check_launch,
    check_no_run_there,
    on_a_cluster,
    run_folder_key,
)
from genre_lightning.errors import UserError
from genre_lightning.files import check_writable
from genre_lightning.hydra_conf import CONFIG_DIR
from genre_lightning.validate import Check, text

#: Keys every tool's config has (conf/paths): a tool's ``checks`` need not repeat them.
RUN_CHECKS: dict[str, Check] = {
    "paths.data_dir": text("data"),
    "paths.log_dir": text("outputs"),
    "paths.output_dir": text("outputs/<tool>/run"),
}


def check_command_line(
    config_name: str, argv: list[str], checks: Mapping[str, Check] = RUN_CHECKS
) -> Launch | None:
    """Compose the config as the command line asks, and fail in one line if it cannot be.

    A sweep (``a=1,2``, ``choice(...)``, ``range(...)``, ``interval(...)``) is checked one value
    at a time (:func:`job_variants`): a bad value fails before any job runs, not when its job
    starts after the others have trained. ``checks`` run on the keys whose values are known
    before Hydra starts.

    Returns:
        When a job is to run, its :class:`Launch`. None for ``--help``, ``--cfg`` and the like.
    """
    args, unknown = get_args_parser().parse_known_args(argv)
    if unknown:  # argparse would print its usage text, Hydra a traceback or nothing useful
        fail(misplaced(unknown[0], argv))
    modes = [
        f for f, on in (("-m", args.multirun), ("--cfg", args.cfg), ("--info", args.info)) if on
    ]
    if len(modes) > 1:
        fail(f"{' and '.join(modes)} together: each is a way to run the tool; give one of them")
    if args.help or args.hydra_help or args.info or args.shell_completion:
        return None
    parser = OverridesParser.create()
    parsed = []
    for arg in args.overrides:
        try:
            parsed += parser.parse_overrides([arg])
        except HydraException as exc:
            fail(parse_error(arg, exc))
    if not args.multirun:
        sweeps = [o for o in parsed if o.is_sweep_override()]
        if sweeps:
            arg = str(sweeps[0].input_line)
            fail(
                f"{arg}: a value with commas (or choice/range) is a sweep; add -m to run one "
                f"job per value, write a list in brackets ({arg.partition('=')[0]}=[a,b]) where "
                f"the key takes one, or quote it to pass it as one text: {quoted(arg)}"
            )
    variants = job_variants(parsed)
    cfg = _compose(args, config_name, variants[0])
    if args.cfg:  # --cfg job shows the ??? keys: that is what it is for
        return None
    jobs = []
    for overrides in variants:
        job = cfg if overrides is variants[0] else _compose(args, config_name, overrides)
        _check_interpolations(job, parsed)
        _check_known_now(job, checks)
        if overrides is variants[0]:  # Hydra's own keys: the same for every job of a sweep
            folder = check_launch(cfg.hydra, multirun=bool(args.multirun))
            resuming = config_name == "train" and bool(cfg.get("resume") or cfg.get("ckpt_path"))
            if folder is not None and not resuming:
                check_no_run_there(folder, multirun=bool(args.multirun), tool=config_name)
        _check_job_values(job)
        jobs.append(OmegaConf.masked_copy(job, [str(key) for key in job if key != "hydra"]))
    keys = [str(o.key_or_group).lstrip("+~") for o in parsed]
    if "paths.output_dir" in keys:  # its results there, Hydra's record and log elsewhere
        given = next(str(o.input_line) for o in parsed if "paths.output_dir" in str(o.key_or_group))
        folder_key = run_folder_key(bool(args.multirun))
        fail(
            f"{given}: paths.output_dir names the run folder, which Hydra makes; set that "
            f"instead, {folder_key}=<folder>, so the run's results, record and log stay together"
            f"{' (one folder per job under it)' if args.multirun else ''}"
        )
    if args.multirun:
        _check_outputs_apart(parsed)
    here = not (args.multirun and on_a_cluster(cfg.hydra))
    return Launch(jobs, keys, here, cfg)


def _check_outputs_apart(parsed: Sequence[Override]) -> None:
    """Refuse a sweep whose jobs share an ``output=`` place: each would write over the one
    before (a tool's default output lies in each job's own folder)."""
    given = [o for o in parsed if str(o.key_or_group).lstrip("+") == "output"]
    if not given or "${" in str(given[0].input_line):  # an interpolation may tell jobs apart
        return
    count = math.prod(len(_values(o)) for o in parsed)  # the basic sweeper's every combination
    places = len(set(_values(given[0])))
    if count > places:
        value = str(given[0].input_line).partition("=")[2]
        fail(
            f"output={value} gives {places} place{'s' if places > 1 else ''} to the {count} "
            f"jobs of this sweep, so jobs would write over each other's results; leave output "
            f"out (each job writes into its own folder)"
        )


class Launch(NamedTuple):
    """What the command line asks for, checked before Hydra starts."""

    #: Each job's config (Hydra's own section left out): the first job of a sweep, then one
    #: per further value of each swept key (:func:`job_variants`).
    jobs: list[DictConfig]
    #: The keys the command line sets (``+``/``~`` left out).
    given: list[str]
    #: Whether the jobs run on this machine (false for ``hydra/launcher=slurm``).
    here: bool
    #: The first job's config with Hydra's section, as far as it is known before the launch.
    with_hydra: DictConfig


@contextmanager
def hydra_config_of(launch: Launch) -> Iterator[None]:
    """Within: ``HydraConfig`` as the jobs will see it, less its run-time values, so that a
    check that asks it (which sweeper runs) gives its answer before the launch too."""
    holder = HydraConfig.instance()
    before = holder.cfg
    holder.set_config(launch.with_hydra)
    try:
        yield
    finally:
        holder.cfg = before


def job_variants(parsed: Sequence[Override]) -> list[list[str]]:
    """The overrides of a sweep's first job, then one variant per further value of each sweep.

    Each value of each swept key is checked once (with the other keys at their first value),
    not every combination: a bad value (``data.fold=0,7`` of 5 folds) fails alone. A search
    range (``interval(...)``, Optuna's) is checked at both ends.
    """
    values = [_values(o) for o in parsed]
    first = [v[0] for v in values]
    variants = [first]
    for i, swept in enumerate(values):
        variants += [[*first[:i], value, *first[i + 1 :]] for value in swept[1:]]
    return variants


def _values(override: Override) -> list[str]:
    """An override as the overrides of its jobs: one per value of a sweep."""
    if not override.is_sweep_override():
        return [str(override.input_line)]
    key = override.get_key_element()
    value = override.value()
    if isinstance(value, IntervalSweep):
        return [f"{key}={value.start}", f"{key}={value.end}"]
    return [f"{key}={v}" for v in override.sweep_string_iterator()]


def _compose(args: Any, config_name: str, overrides: list[str]) -> DictConfig:
    """One job's config with Hydra's section, as the parsed command line ``args`` asks."""
    try:
        with initialize_config_dir(config_dir=args.config_dir or CONFIG_DIR, version_base="1.3"):
            return compose(
                args.config_name or config_name, overrides=overrides, return_hydra_config=True
            )
    except (HydraException, OmegaConfBaseException) as exc:
        fail(one_line(exc))


def _check_job_values(cfg: DictConfig) -> None:
    """Fail in one line on a run folder to resume that is not there, or a ``???`` left."""
    job = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(job, dict)
    job.pop("hydra")
    resume = job.get("resume")
    if resume not in (None, "") and not Path(str(resume)).is_dir():
        # Checked here: Hydra would create the folder as the run directory first.
        fail(
            f"resume={resume}: no such run directory; give the folder of an earlier training "
            f"run (outputs/<date>/<time>), or leave resume out to start afresh"
        )
    missing = missing_keys(job)
    if missing:
        fail(
            f"missing {' '.join(f'{key}=...' for key in missing)}: no default; give "
            f"{'it' if len(missing) == 1 else 'them'} on the command line (--help has examples)"
        )


def _check_interpolations(cfg: DictConfig, parsed: Sequence[Any]) -> None:
    """Fail in one line on a ``${...}`` of the command line that names no key or resolver
    (Hydra would stop with a traceback, in the job or before it). One that needs Hydra's
    run-time values (``${hydra:...}``) is left to the job."""
    for override in parsed:
        if "${" not in str(override.input_line) or override.is_delete():
            continue
        key = str(override.key_or_group).lstrip("+")
        try:
            OmegaConf.select(cfg, key)
        except (InterpolationKeyError, UnsupportedInterpolationType) as exc:
            if "interpolation type hydra" not in str(exc.msg):
                fail(unresolvable(str(override.input_line), exc))
        except OmegaConfBaseException:  # known only once the job runs: checked then
            continue


def _check_known_now(cfg: DictConfig, checks: Mapping[str, Check]) -> None:
    """``checks`` of the keys known before the job starts: Hydra makes the run folder (from
    ``paths.log_dir``: ``null`` would leave a ``None/``) before the job's checks run."""
    absent = object()
    for key, check in checks.items():
        try:
            value = OmegaConf.select(cfg, key, default=absent)
        except OmegaConfBaseException:  # paths.output_dir: Hydra's, set once the job starts
            continue
        if value is not absent:
            try:
                check(key, value)
            except UserError as exc:
                fail(str(exc))


def home_expanded(argv: Sequence[str]) -> list[str]:
    """The command line with a value that starts with ``~`` (``data.root=~/music``, quoted or
    not) made the home folder's path. The shell expands ``~`` at the start of a word, not after
    ``key=``: Hydra would take it literally, and make a folder named ``~`` in the working one."""
    expanded = []
    for arg in argv:
        key, eq, value = arg.partition("=")
        home = re.fullmatch(r"(['\"]?)(~[\w.-]*(?:/.*)?)\1", value) if eq else None
        if home and not arg.startswith("-"):
            arg = f"{key}={home[1]}{os.path.expanduser(home[2])}{home[1]}"
        expanded.append(arg)
    return expanded


def check_tool_files(cfg: DictConfig, here: bool, output: Mapping[str, Any]) -> Path | None:
    """A tool's file checks before Hydra writes its run folder, where its jobs run ``here``:
    the ``output`` key's place (``check_writable`` with these arguments; not where it lies in
    the run folder, known only once the job starts) and the ``ckpt_path`` file.

    Returns:
        The output path checked (None: the default, in the run folder, or not checked here).

    Raises:
        UserError: As the tool itself would, in the job.
    """
    if not here:  # a cluster's nodes see their own files
        return None
    try:
        where = cfg.output
    except OmegaConfBaseException:  # the default: inside the run folder
        where = None
    checked = None
    if where is not None:
        reads = {key: cfg.get(key) for key in ("ckpt_path", "input") if key in cfg}
        checked = check_writable(where, "output", **output, reads=reads)
    runs.checkpoint_file(cfg.ckpt_path)
    return checked
