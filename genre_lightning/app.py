"""Every command-line tool is a Hydra app built here: one way to start, to fail and to exit.

``hydra_app("predict", task)`` gives the tool's console entry point. It

* composes ``conf/<name>.yaml`` (shipped inside the package, so a wheel works from any folder),
  with ``--help``, ``--cfg job``, ``-m`` sweeps and launchers as Hydra provides them;
* checks the command line before anything runs: an unknown key, group option, a malformed
  override, a mandatory key (``???``) left unset, a sweep without ``-m``, a run folder that
  cannot be created or the SLURM launcher off a cluster is one ``error:`` line and exit
  status 2 (Hydra alone would exit 1 after its multi-line report or a traceback); each value
  of a sweep is checked, not only the first;
* checks the tool's own keys (``checks``: types, ranges, names) on the composed config before
  the task starts;
* turns a :class:`~genre_lightning.errors.UserError` raised by the task into one ``error:``
  line on stderr and exit status 2, and an interrupted run into status 143; in a sweep, the
  failed job's line names it, the other jobs still run, and a last line names the failed ones;
* silences third-party messages a user cannot act on (:mod:`genre_lightning.quiet`).
"""

from __future__ import annotations

import logging
import math
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple, NoReturn

import hydra
from hydra import compose, initialize_config_dir
from hydra._internal.utils import get_args_parser
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import IntervalSweep, Override
from hydra.errors import CompactHydraException, HydraException
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import (
    InterpolationKeyError,
    InterpolationResolutionError,
    OmegaConfBaseException,
    UnsupportedInterpolationType,
)

from genre_lightning import quiet, runs
from genre_lightning.errors import EXIT_CTRL_C, Interrupted, UserError
from genre_lightning.files import check_writable
from genre_lightning.validate import Check, check_section, is_number, shown, text

#: The Hydra configs (the repository's top-level conf/ links here).
CONFIG_DIR = str(Path(__file__).resolve().parent / "conf")
#: Exit status of bad input (the command line, a config value, a file).
EXIT_USAGE = 2

# Configs name run-directory places as ${gl_run:<place>}; runs.py owns the names.
assert runs.LAYOUT
# `resume=RUN_DIR` reuses that run directory: conf/hydra/default.yaml picks the run dir with it.
OmegaConf.register_new_resolver(
    "gl_or", lambda value, default: default if value in (None, "") else value, replace=True
)
# `${gl_if:${resume},A,B}`: A when resume is set, else B (a resume keeps the run's own record).
OmegaConf.register_new_resolver(
    "gl_if", lambda value, then, otherwise: otherwise if value in (None, "") else then, replace=True
)


def gtzan_fact(name: str) -> Any:
    """GTZAN's ``genres`` (label order), archive ``url`` or its ``sha256``, or the paper's
    ``clip_samples``: the ``gl_gtzan`` resolver, so conf/data/gtzan.yaml and conf/download.yaml
    read them from the code that owns them (imported here, when a config is resolved: the
    tools' imports stay light)."""
    from genre_lightning.audio_files import CLIP_SAMPLES
    from genre_lightning.data.download import DEFAULT_SHA256, DEFAULT_URL
    from genre_lightning.data.index import GTZAN_GENRES

    # A list as a config node: OmegaConf.resolve (--cfg job --resolve) cannot store a plain one.
    genres = OmegaConf.create(list(GTZAN_GENRES))
    facts: dict[str, Any] = {"genres": genres, "url": DEFAULT_URL, "sha256": DEFAULT_SHA256}
    facts["clip_samples"] = CLIP_SAMPLES
    if name not in facts:
        raise ValueError(f"gl_gtzan knows {', '.join(facts)}, not {name!r}")
    return facts[name]


def synthetic_fact(name: str) -> Any:
    """The synthetic set's ``genres``: its styles' names in label order (the ``gl_synthetic``
    resolver; data/synthesis.py owns them)."""
    from genre_lightning.data.synthesis import STYLES

    if name != "genres":
        raise ValueError(f"gl_synthetic knows genres, not {name!r}")
    return OmegaConf.create([style.name for style in STYLES])


def clip_samples(seconds: Any, sample_rate: Any) -> int:
    """The ``gl_samples`` resolver: a clip of ``seconds`` at ``sample_rate``, in samples
    (data/config.py owns the rule; imported when a config is resolved, as above)."""
    from genre_lightning.data.config import seconds_to_samples

    return seconds_to_samples(seconds, sample_rate)


OmegaConf.register_new_resolver("gl_gtzan", gtzan_fact, replace=True)
OmegaConf.register_new_resolver("gl_samples", clip_samples, replace=True)
OmegaConf.register_new_resolver("gl_synthetic", synthetic_fact, replace=True)


#: Keys every tool's config has (conf/paths): a tool's ``checks`` need not repeat them.
RUN_CHECKS: dict[str, Check] = {
    "paths.data_dir": text("data"),
    "paths.log_dir": text("outputs"),
    "paths.output_dir": text("outputs/<tool>/run"),
}


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
        _SWEEP.started += 1
        try:
            check_section(cfg, all_checks)
            return task(cfg)
        except UserError as exc:
            return _end_job(str(exc))
        except InterpolationResolutionError as exc:  # a ${...} of the command line's values
            return _end_job(_unresolvable(str(exc.full_key), exc))
        except Interrupted as exc:  # in a sweep too: Ctrl-C or SIGTERM stops all of it
            _stop(str(exc), exc.status)
        except KeyboardInterrupt:  # Ctrl-C where the tool keeps nothing to say (decoding, ...)
            _stop("stopped by Ctrl-C; what was finished is kept", EXIT_CTRL_C)
        except OSError as exc:  # the file system refused a read or write the checks allowed
            where = exc.filename if exc.filename is not None else "a file"
            return _end_job(
                f"{where}: {exc.strerror or exc}; the result could not be read or written "
                f"there: check that path (a folder where a file is expected, permissions, space)"
            )

    def main() -> Any:
        quiet.silence_known_noise()
        _SWEEP.reset()  # a process may run several command lines (the tests' worker does)
        _SWEEP.pid = os.getpid()
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
            if exc.code == 1 and _SWEEP.failed:
                sys.exit(EXIT_USAGE)
            raise
        if _SWEEP.failed:
            fail(_SWEEP.summary())
        return result

    main.__doc__ = f"``{config_name}``: the Hydra app of conf/{config_name}.yaml."
    return main


def _stop(message: str, status: int) -> NoReturn:
    """End the process as a stop the user asked for: one ``interrupted:`` line, ``status``."""
    _log_to_files(f"interrupted: {message}")
    print(f"interrupted: {message}", file=sys.stderr)
    sys.exit(status)


class _SweepRecord:
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


_SWEEP = _SweepRecord()


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
    _SWEEP.failed.append(folder)
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
    _SWEEP.failed.append(folder)
    return FailedJob(line, folder)


def _end_job(message: str) -> FailedJob | None:
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
    _log_to_files(f"error: {message}")
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        fail(message)
    folder = hydra_cfg.runtime.output_dir
    line = f"error: job {hydra_cfg.job.num} ({folder}): {' '.join(message.split(chr(10)))}"
    # Not the launcher's name: joblib runs a single worker's jobs in the launching process.
    here = _SWEEP.launched_here()
    if here:
        _SWEEP.failed.append(str(folder))
    if here and _no_trial_left(hydra_cfg.sweeper):
        # Every trial of an Optuna search failed: its end would ask the study for a best
        # trial that does not exist (a traceback). Said as a basic sweep says it.
        print(line, file=sys.stderr)
        fail(_SWEEP.summary())
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
    return isinstance(trials, int) and len(_SWEEP.failed) == _SWEEP.started >= trials


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


def compose_config(config_name: str, overrides: Sequence[str] = ()) -> DictConfig:
    """A tool's config composed in Python, as the command line would compose it.

    Inside a running tool (Hydra initialised, e.g. the report checking its recipes) it composes
    with that tool's Hydra, whose configs are these.
    """
    if GlobalHydra.instance().is_initialized():
        return compose(config_name, overrides=list(overrides))
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name, overrides=list(overrides))


def fail(message: str) -> NoReturn:
    """Print ``error: <message>`` (one line) and exit with :data:`EXIT_USAGE`."""
    print(f"error: {' '.join(message.split(chr(10)))}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def say(message: str) -> None:
    """Print a tool's result (its summary) and write it into the run's log file too: the run
    folder keeps what the console showed, as training's log keeps its test table."""
    print(message)
    _log_to_files(message, logging.INFO)


def _log_to_files(message: str, level: int = logging.ERROR) -> None:
    """Write ``message`` into the run's log file (``<run dir>/<tool>.log``) only: the run
    folder then says why it ended, and the console shows the line once."""
    record = logging.LogRecord(__name__, level, __file__, 0, message, None, None)
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)


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
        fail(_misplaced(unknown[0], argv))
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
            fail(_parse_error(arg, exc))
    if not args.multirun:
        sweeps = [o for o in parsed if o.is_sweep_override()]
        if sweeps:
            arg = str(sweeps[0].input_line)
            fail(
                f"{arg}: a value with commas (or choice/range) is a sweep; add -m to run one "
                f"job per value, write a list in brackets ({arg.partition('=')[0]}=[a,b]) where "
                f"the key takes one, or quote it to pass it as one text: {_quoted(arg)}"
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
            folder = _check_launch(cfg.hydra, multirun=bool(args.multirun))
            resuming = config_name == "train" and bool(cfg.get("resume") or cfg.get("ckpt_path"))
            if folder is not None and not resuming:
                _check_no_run_there(folder, multirun=bool(args.multirun), tool=config_name)
        _check_job_values(job)
        jobs.append(OmegaConf.masked_copy(job, [str(key) for key in job if key != "hydra"]))
    keys = [str(o.key_or_group).lstrip("+~") for o in parsed]
    if "paths.output_dir" in keys:  # its results there, Hydra's record and log elsewhere
        given = next(str(o.input_line) for o in parsed if "paths.output_dir" in str(o.key_or_group))
        folder_key = _run_folder_key(bool(args.multirun))
        fail(
            f"{given}: paths.output_dir names the run folder, which Hydra makes; set that "
            f"instead, {folder_key}=<folder>, so the run's results, record and log stay together"
            f"{' (one folder per job under it)' if args.multirun else ''}"
        )
    if args.multirun:
        _check_outputs_apart(parsed)
    here = not (args.multirun and _on_a_cluster(cfg.hydra))
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
        fail(_one_line(exc))


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
    missing = _missing_keys(job)
    if missing:
        fail(
            f"missing {' '.join(f'{key}=...' for key in missing)}: no default; give "
            f"{'it' if len(missing) == 1 else 'them'} on the command line (--help has examples)"
        )


def _on_a_cluster(hydra_cfg: DictConfig) -> bool:
    """Whether the launcher submits the jobs to other machines (SLURM's nodes)."""
    return str(OmegaConf.select(hydra_cfg, "launcher._target_", default="")).endswith(
        "SlurmLauncher"
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
                fail(_unresolvable(str(override.input_line), exc))
        except OmegaConfBaseException:  # known only once the job runs: checked then
            continue


def _unresolvable(where: str, exc: OmegaConfBaseException) -> str:
    """The message of an interpolation that cannot be resolved (``where``: its key or
    override)."""
    reason = exc.msg.splitlines()[0] if exc.msg else type(exc).__name__
    if reason.split()[0][1:].islower():  # "Interpolation key ...", not "KeyError ..."
        reason = reason[:1].lower() + reason[1:]
    return (
        f"{where}: {reason}; a ${{...}} names a key of the config "
        f"(--cfg job lists them) or a resolver (oc.env, oc.select, ...), or give the value itself"
    )


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


def _check_launch(hydra_cfg: DictConfig, multirun: bool) -> Path | None:
    """Fail in one line where Hydra would fail with a traceback: no SLURM, no run folder.

    Returns:
        The run folder (a multirun's sweep folder), or None where it is known only once the
        job starts.
    """
    if multirun and _on_a_cluster(hydra_cfg) and shutil.which("srun") is None:
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
    key = _run_folder_key(multirun)
    try:
        folder = OmegaConf.select(hydra_cfg, key.removeprefix("hydra."))
    except OmegaConfBaseException:  # it names run values known only once the job starts
        return None
    try:
        return check_writable(folder, key, folder=True)
    except UserError as exc:
        fail(str(exc))


def _run_folder_key(multirun: bool) -> str:
    return "hydra.sweep.dir" if multirun else "hydra.run.dir"


def _check_no_run_there(folder: Path, multirun: bool, tool: str) -> None:
    """Refuse to start in a folder that holds a training run (its ``last.ckpt`` or
    ``metrics.json``): Hydra would write its record over the run's, and a new run its files.
    (Training that continues the run, with ``resume=`` or ``ckpt_path=``, goes there on
    purpose: not checked.)"""
    key = _run_folder_key(multirun)
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


def _misplaced(arg: str, argv: list[str]) -> str:
    """The message for an argument the command line's parser could not place."""
    if arg.startswith("-"):
        return f"{arg}: no such option; the options are listed by --help (-m runs a sweep)"
    options = [a for a in argv if a.startswith("-")]
    after = options[0] if options else "an option"
    message = f"{arg}: a key=value after an option ({after}); put the options first"
    if set(options) <= {"-m", "--multirun", "--resolve"}:  # options without a value
        return f"{message}, e.g. {' '.join([*options, *(a for a in argv if a not in options)])}"
    return f"{message} (with their values, e.g. --cfg job)"


def _missing_keys(node: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose value is still ``???`` (without resolving any interpolation)."""
    if not isinstance(node, dict):
        return []
    found = []
    for key, value in node.items():
        if value == "???":
            found.append(f"{prefix}{key}")
        found += _missing_keys(value, f"{prefix}{key}.")
    return found


def _parse_error(arg: str, exc: BaseException) -> str:
    if "=" not in arg:  # `key value`, or a value with spaces the shell split into words
        key_like = re.fullmatch(r"[+~]*[\w.]+", arg)
        return (
            f"{arg}: not key=value; write each setting as key=value"
            + (f" ({arg}=...)" if key_like else "")
            + ", and quote a value that holds spaces whole, e.g. 'input=/my music/a.wav'"
        )
    reason = str(exc).split("\n")[0]
    if reason.startswith("LexerNoViableAltException"):
        reason = "a character Hydra does not read unquoted"
    return (
        f"{arg}: cannot be read as key=value ({reason}); quote a value that holds '=', ',', "
        f"spaces, brackets or non-ASCII letters, e.g. {_quoted(arg)}"
    )


def _quoted(arg: str) -> str:
    """``key=value`` as the shell should pass it for Hydra to read the value as one text (a
    quote already at either end, as of an unclosed one, is not doubled)."""
    key, _, value = arg.partition("=")
    return f"'{key}=\"{value.strip(chr(34) + chr(39))}\"'"


def _one_line(exc: BaseException) -> str:
    """Hydra's multi-line composition error as one line that says what to do."""
    text = str(exc)
    unknown = re.match(r"Could not override '([^']+)'", text)
    if unknown:
        key = unknown.group(1)
        return (
            f"{key}: no such key (the keys are listed by --cfg job); to add a new key, "
            f"write +{key}=..."
        )
    missing = re.search(r"Could not find '([^']+)/([^']+)'", text)
    if missing:
        group, option = missing.groups()
        options = re.search(
            r"Available options in '[^']+':(.*?)(?:Config search path|$)", text, re.S
        )
        listed = ", ".join(options.group(1).split()) if options else "see --help"
        return f"{group}={option}: no such option (available: {listed})"
    merging = re.match(r"Error merging override (\S+)", text)
    if merging and exc.__cause__ is not None:  # a typed key of Hydra's (sweeper, launcher, job)
        return _typed_value(merging.group(1), str(exc.__cause__).splitlines()[0])
    lines = [line.strip() for line in text.split("Config search path")[0].splitlines()]
    return " ".join(line for line in lines if line and not line.startswith("full_key:"))


#: What OmegaConf's typed nodes take, by the type its refusal names: (in words, an example).
_TYPED_KINDS = {
    "Integer": ("a whole number", "1"),
    "Float": ("a number", "0.5"),
    "bool": ("true or false", "true"),
    "ListConfig": ("a list", "[a,b]"),
    "string": ("a text", "abc"),
}


def _typed_value(override: str, refusal: str) -> str:
    """The one line for ``override`` (``key=value``) refused by the type of its key in a
    structured config (``refusal``: the first line of OmegaConf's ``ValidationError``)."""
    key = override.partition("=")[0].lstrip("+")
    options = re.search(r"expected one of \[([^\]]*)\]", refusal)
    if options:
        return f"{override} is not known; use {key}={'|'.join(options.group(1).split(', '))}"
    # "Value '1.5' of type 'float' could not be converted to Integer", "... is not a valid
    # bool", "... is not a ListConfig": the quoted words are the value's, the other the key's.
    unquoted = re.sub(r"'[^']*'", "", refusal)
    wanted = [w for w in re.findall(r"\w+", unquoted) if w in _TYPED_KINDS]
    if wanted:
        kind, example = _TYPED_KINDS[wanted[0]]
        return f"{override} must be {kind} (Hydra's config types this key); e.g. {key}={example}"
    return f"{override}: {refusal}"
