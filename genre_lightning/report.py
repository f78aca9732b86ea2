"""``python -m genre_lightning.report``: recipes over seeds or folds, as mean ± std tables.

A Hydra app (``conf/report.yaml``; ``--help``, ``--cfg job``). Each recipe (an experiment
config) is one training multirun in a subprocess::

    python -m genre_lightning -m experiment=RECIPE SWEEP OVERRIDES... hydra.sweep.dir=OUT/RECIPE

and the per-job ``metrics.json`` files are summarised into ``report.md`` and ``report.csv`` in
``out``, with ``report.json`` holding every row in full (the exact overrides and each run's
numbers). Keys:

* ``recipes``: the experiment configs, e.g. ``recipes=[seed_resnet,improved_resnet]``;
* ``sweep``: what varies between a recipe's runs, space-separated training sweep overrides
  (default ``seed=1,2,3``); quote it on the command line: ``'sweep="data.fold=0,1,2,3,4"'``;
* ``overrides``: training overrides every run gets, passed on verbatim, one list item each:
  ``'overrides=["data.split=kfold","data.num_folds=5","trainer=gpu"]'``;
* ``out``: the report's folder (default: the tool's run directory, outputs/report/<date>/<time>);
* ``collect_only=true``: summarise the runs already under ``out/<recipe>/`` instead of training;
* ``select``: a swept key chosen per recipe on validation (e.g. ``optimizer.weight_decay``):
  the row holds the test results of the value with the best mean ``val/acc`` only;
* ``refit=true``: afterwards, each recipe's runs (of the chosen value) are trained again with
  their validation tracks in the training part (``data.train_on_val=true``) into
  ``out/<recipe>/refit/``, and tested on the same test tracks: a second row, marked (refit).
  Where ``out/<recipe>/`` already holds the runs of this very command but no refit, only the
  refit is trained. A (refit) row is written only beside the row whose runs it trained again:
  its runs must be that row's runs (same settings) plus ``data.train_on_val=true``.

Before any training, every value is checked: the keys' types, each recipe named once and an
experiment config, its training config composed with the overrides and each value of each
swept key (and, with ``refit=true``, with ``data.train_on_val=true``) passing training's checks,
a ``select`` key swept over two or more values, and no earlier runs in the way. Runs of this
very command that did not all finish (an interrupted report, a failed job) are not in the way:
the same command again trains only the jobs that left no results (:func:`continue_sweep`).

A report folder accumulates: rows of recipes not named this time stay, a named recipe's row is
replaced, and its (refit) row with it (dropped unless ``refit=true`` brings a matching one). The
tables show only the overrides that differ between rows; the part of the command all rows share
is written once, under the table.

Examples::

    python -m genre_lightning.report 'recipes=[seed_resnet,improved_resnet]' out=reports/seeds
    python -m genre_lightning.report 'recipes=[seed_resnet,improved_resnet,mfcc_baseline]' \\
        'sweep="data.fold=0,1,2,3,4"' 'overrides=["data.split=kfold","data.num_folds=5"]' \\
        out=reports/cv
    python -m genre_lightning.report 'recipes=[mfcc_baseline]' out=reports/cv collect_only=true
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from genre_lightning import runs
from genre_lightning.cli.app import hydra_app
from genre_lightning.cli.command_line import job_variants
from genre_lightning.errors import EXIT_CTRL_C, Interrupted, UserError
from genre_lightning.files import check_writable
from genre_lightning.hydra_conf import CONFIG_DIR, compose_config
from genre_lightning.report_rows import (
    MARKDOWN,
    REFIT,
    TRAIN,
    TRAIN_ON_VAL,
    choose_on_validation,
    collect,
    load_rows,
    merge,
    recorded_overrides,
    summarise,
    write_report,
)
from genre_lightning.training.sweep import summarize_sweep
from genre_lightning.validate import Check, flag, shown, text, texts

#: An example of ``recipes``, for messages.
RECIPES_EXAMPLE = "[seed_resnet,improved_resnet]"


def _recipes(key: str, value: Any) -> None:
    """``recipes``: a list of experiment names, or one name alone (``recipes=seed_resnet``)."""
    if isinstance(value, str):
        text(RECIPES_EXAMPLE)(key, value)
    else:
        texts(RECIPES_EXAMPLE, at_least=1)(key, value)


#: The report's own keys (``conf/report.yaml``), checked before anything runs.
CHECKS: dict[str, Check] = {
    "recipes": _recipes,
    # The example as the shell must pass it: Hydra reads a bare comma list as a sweep.
    "sweep": text("""'"seed=1,2,3"'"""),
    "overrides": texts("""'["data.split=kfold","trainer=gpu"]'"""),
    "out": text("reports/seeds"),
    "collect_only": flag(),
    "select": text("optimizer.weight_decay", optional=True),
    "refit": flag(),
}


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
    if _job_folders(sweep_dir):
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
    done = {int(p.name) for p in _job_folders(sweep_dir) if runs.Run(p).file("metrics").is_file()}
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


def _job_folders(sweep_dir: Path) -> list[Path]:
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


def check_recipes(
    recipes: Sequence[str],
    out: Path,
    sweep: str,
    overrides: Sequence[str],
    collect_only: bool,
    select: str | None,
    refit: bool,
) -> set[str]:
    """Fail before any training on what can be known before it.

    Each recipe is named once; when training, the sweep and overrides read as training
    overrides, ``select`` is swept over two or more values, each recipe is an experiment
    config whose training config passes the training's checks (composed with each value of
    each swept key, the others at their first; with ``refit=true`` also with
    ``data.train_on_val=true``), and no earlier runs are in the way.

    Returns:
        The recipes whose runs are to be trained; the others (``refit=true`` only) hold the
        runs of this very command and need only their refit.

    Raises:
        UserError: The first problem found.
    """
    if not recipes:
        raise UserError(f"recipes=[]: name at least one experiment, e.g. recipes={RECIPES_EXAMPLE}")
    twice = [r for r, n in Counter(recipes).items() if n > 1]
    if twice:
        once = ",".join(dict.fromkeys(recipes))
        raise UserError(
            f"recipes={shown(list(recipes))} names {twice[0]} more than once; name each recipe "
            f"once, e.g. recipes=[{once}]"
        )
    if collect_only:
        return set()
    swept = _parse("sweep", sweep, shlex_words(sweep))
    given = _parse("overrides", shown(list(overrides)), overrides)
    if select:
        _check_select(select, sweep, [*swept, *given])
    known = sorted(p.stem for p in (Path(CONFIG_DIR) / "experiment").glob("*.yaml"))
    to_train = set()
    for recipe in recipes:  # the cheap checks first: no torch import before a typo is named
        if recipe not in known:
            raise UserError(
                f"recipes={shown(list(recipes))}: {recipe} is not an experiment config; "
                f"the experiments: {', '.join(known)}"
            )
        if _needs_training(recipe, out / recipe, training_task(recipe, sweep, overrides), refit):
            to_train.add(recipe)
    variants = job_variants([*swept, *given])
    for recipe in recipes:
        for job in variants:
            _check_training(recipe, job, refit)
    return to_train


def shlex_words(sweep: str) -> list[str]:
    """``sweep`` split as the shell would split it.

    Raises:
        UserError: It has an unclosed quote.
    """
    try:
        return shlex.split(sweep)
    except ValueError as exc:
        raise UserError(
            f"sweep={shown(sweep)}: {exc} (a quote is not closed); give space-separated training "
            f"sweeps, e.g. 'sweep=\"data.fold=0,1,2 seed=1\"'"
        ) from None


def _parse(key: str, value: str, words: Sequence[str]) -> list[Override]:
    """Each of ``words`` as a Hydra override; ``key=value`` is named if one is not."""
    parser = OverridesParser.create()
    parsed = []
    for word in words:
        try:
            parsed += parser.parse_overrides([word])
        except HydraException as exc:
            reason = str(exc).split("\n")[0]
            raise UserError(
                f"{key}={value}: {word} cannot be read as a training override ({reason}); "
                f"write each as key=value, e.g. "
                + (
                    "'sweep=\"data.fold=0,1,2 seed=1\"'"
                    if key == "sweep"
                    else """'overrides=["data.split=kfold","trainer=gpu"]'"""
                )
            ) from None
    return parsed


def _check_select(select: str, sweep: str, parsed: Sequence[Override]) -> None:
    """``select`` names a key the runs take two or more values of (the last override wins)."""
    values: list[str] = []
    for override in parsed:
        if override.key_or_group != select:
            continue
        if override.is_sweep_override() and not override.is_interval_sweep():
            values = list(override.sweep_string_iterator())
        else:  # one value, or an interval, which has no values to choose among
            values = [str(override.value())]
    if len(values) < 2:
        fixed = (
            f"the runs all have {select}={values[0]}"
            if values
            else f"the runs do not vary {select}"
        )
        raise UserError(
            f"select={select}: {fixed}, so there is nothing to choose on validation; sweep two "
            f"or more values of it, e.g. 'sweep=\"{sweep} {select}=A,B\"', or leave select out"
        )


def _needs_training(recipe: str, sweep_dir: Path, task: list[str], refit: bool) -> bool:
    """Whether the recipe's runs are to be trained; False: they are there, only the refit is not.

    Raises:
        UserError: ``sweep_dir`` holds runs that would mix with the new ones.
    """
    finished = collect(sweep_dir)
    if not _job_folders(sweep_dir):
        return True
    recorded = recorded_overrides(sweep_dir)
    if recorded == task and len(finished) < len(sweep_jobs(task)):
        return True  # a multirun of this very command, interrupted: run_recipe finishes it
    if not finished:
        raise UserError(
            f"{sweep_dir} holds runs of {recipe} that did not finish, of another command; to "
            f"train afresh remove that folder or give another out=..."
        )
    if not refit:
        unfinished = f" ({note})" if (note := _unfinished_jobs(sweep_dir)) else ""
        raise UserError(
            f"{sweep_dir} already holds runs of {recipe}{unfinished}; to summarise them add "
            f"collect_only=true, to train again remove that folder or give another out=..."
        )
    if _all_finished(sweep_dir / REFIT):
        raise UserError(
            f"{sweep_dir} already holds runs of {recipe} and their refit; to summarise them add "
            f"collect_only=true, to train again remove that folder or give another out=..."
        )
    if recorded != task:  # the refit must train these runs again, not other settings
        record = sweep_dir / "multirun.yaml"
        theirs = (
            f"they were trained with `{shlex.join(recorded)}`"
            if recorded is not None
            else f"their command is unknown (no {record})"
        )
        raise UserError(
            f"{sweep_dir} holds runs of {recipe} but not of this command ({theirs}); to refit "
            f"them give the sweep and overrides they were trained with, to train afresh remove "
            f"that folder or give another out=..."
        )
    return False


def _all_finished(sweep_dir: Path) -> bool:
    """Whether ``sweep_dir`` holds finished runs and none is left to train: every job of its
    recorded multirun (without a record: any finished run counts as all)."""
    finished = collect(sweep_dir)
    recorded = recorded_overrides(sweep_dir)
    return bool(finished) and (recorded is None or len(finished) >= len(sweep_jobs(recorded)))


def _check_training(recipe: str, job: Sequence[str], refit: bool) -> None:
    """The recipe's training config, as a job with overrides ``job`` composes it, passes
    training's checks (with ``refit``, also with ``data.train_on_val=true``)."""
    # Imported here: the checks import torch, which --help and the other checks do without.
    from genre_lightning.data.splits import TRAIN_ONLY
    from genre_lightning.train_checks import check_train_config, check_training

    task = [f"experiment={recipe}", *job]
    cfg = _compose(recipe, task)
    given = [w.split("=", 1)[0].lstrip("+~") for w in job]
    try:
        check_training(cfg, given, "its runs are split")
    except UserError as exc:
        raise UserError(f"recipe {recipe}: {exc}") from None
    if cfg.data.get("split") == TRAIN_ONLY:
        raise UserError(
            f"recipe {recipe}: data.split={TRAIN_ONLY} tests nothing, and the report compares "
            f"test scores: measure with a split that holds tracks out (data.split=kfold), then "
            f"train the final model with data.split={TRAIN_ONLY}"
        )
    if not refit:
        return
    try:
        check_train_config(_compose(recipe, [*task, TRAIN_ON_VAL]))
    except UserError as exc:
        # The check's own way out is data.train_on_val=false; here that means no refit=true.
        reason = str(exc).removesuffix(", or leave data.train_on_val=false")
        raise UserError(
            f"recipe {recipe} cannot be refitted (refit=true trains its runs again with "
            f"{TRAIN_ON_VAL}): {reason}; put that in overrides=[...], or leave refit out"
        ) from None


def _compose(recipe: str, task: Sequence[str]) -> DictConfig:
    """The training config of ``task``; a composition error names the recipe."""
    try:
        return compose_config("train", task)
    except (HydraException, OmegaConfBaseException) as exc:
        lines = str(exc).split("Config search path")[0].split()
        raise UserError(
            f"recipe {recipe}: its training config cannot be composed: {' '.join(lines)}"
        ) from None


def make_report(
    recipes: Sequence[str],
    out: str | Path,
    sweep: str = "seed=1,2,3",
    overrides: Sequence[str] = (),
    collect_only: bool = False,
    select: str | None = None,
    refit: bool = False,
) -> str:
    """Run (or only collect) the recipes, merge their rows into ``out``'s report and write it.

    Everything :func:`check_recipes` can know is checked before any training. The report is
    written after each recipe, so a recipe that fails late keeps the rows of those before it.

    Args:
        recipes: Experiment configs.
        out: The report's folder.
        sweep: What varies between a recipe's runs (training sweep overrides).
        overrides: Training overrides every run gets.
        collect_only: Summarise existing runs instead of training.
        select: A swept key chosen per recipe on validation (see
            :func:`~genre_lightning.report_rows.choose_on_validation`).
        refit: Train each recipe's (chosen) runs again on their training and validation
            tracks together (``data.train_on_val=true``), into ``out/<recipe>/refit``; their
            test results are a second row. A recipe whose runs of this command are there
            already has only its refit trained.

    Returns:
        The report's markdown.

    Raises:
        UserError: A bad value, ``out`` cannot be written, a recipe's training failed, or a
            recipe has no finished runs (or refit runs that match them) to summarise.
    """
    out = check_writable(out, "out", folder=True)
    select = select.lstrip("+") if select else select  # the key, however the sweep adds it
    to_train = check_recipes(recipes, out, sweep, overrides, collect_only, select, refit)
    out.mkdir(parents=True, exist_ok=True)
    rows = load_rows(out)
    failed: list[str] = []
    for recipe in recipes:
        train = recipe in to_train
        try:
            _report_recipe(recipe, out, rows, train, sweep, overrides, collect_only, select, refit)
        except UserError as exc:  # the other recipes still run: their rows are worth having
            if len(recipes) == 1:
                raise
            print(f"error: {exc}", file=sys.stderr, flush=True)
            failed.append(recipe)
    if failed:
        raise UserError(
            f"{len(failed)} of the {len(recipes)} recipes failed: {', '.join(failed)} (each "
            f"one's error is above); {out / MARKDOWN} holds the rows of the others"
        )
    return (out / MARKDOWN).read_text()


def _report_recipe(
    recipe: str,
    out: Path,
    rows: list[dict[str, Any]],
    train: bool,
    sweep: str,
    overrides: Sequence[str],
    collect_only: bool,
    select: str | None,
    refit: bool,
) -> None:
    """Train (where ``train``) and summarise one recipe into the report's ``rows`` (changed in
    place, as each is written: a refit that fails keeps its recipe's row), and write the report
    (:func:`make_report`'s arguments)."""
    sweep_dir, refit_dir = out / recipe, out / recipe / REFIT
    if train:
        run_recipe(recipe, sweep, overrides, sweep_dir, "no row was written for it")
    elif collect_only and (unfinished := _unfinished_jobs(sweep_dir)):
        print(f"[report] {recipe}: {unfinished}; its row is over the runs that did", flush=True)
    results = _finished(sweep_dir, recipe, collect_only, out)
    chosen = None
    if select:
        results, chosen = choose_on_validation(results, select, recipe)
    row = summarise(recipe, results, recorded_overrides(sweep_dir))
    new = [{**row, "chosen": chosen}]
    if refit and collect_only:  # before the report changes: a mismatch leaves it as it was
        new.append(_refit_row(recipe, results, chosen, refit_dir, collect_only, out))
    # A recipe's (refit) row goes with the row it refitted: never beside a newer one.
    old_refit = [r for r in rows if r["recipe"] == recipe and r.get("refit")]
    rows[:] = merge([r for r in rows if r not in old_refit], new)
    write_report(rows, out)  # kept if the refit fails
    if refit and not collect_only:
        run_recipe(
            recipe,
            refit_sweep(sweep, chosen),
            [*overrides, TRAIN_ON_VAL],
            refit_dir,
            f"its row is in {out / MARKDOWN}, its (refit) row was not written; run the same "
            f"command again: it trains only the refit runs that left no results",
        )
        rows[:] = merge(rows, [_refit_row(recipe, results, chosen, refit_dir, False, out)])
        write_report(rows, out)
    elif old_refit and not refit:
        print(
            f"[report] {recipe}: its (refit) row was dropped with the row it refitted "
            f"(refit=true collect_only=true brings it back if the refit runs match)",
            flush=True,
        )


def _unfinished_jobs(sweep_dir: Path) -> str:
    """``N of its M jobs did not finish: ...`` where jobs of the sweep in ``sweep_dir`` started
    but left no metrics (failed, or stopped), else ``""``."""
    started = _job_folders(sweep_dir)
    missing = len(started) - len(collect(sweep_dir))
    if missing <= 0:
        return ""
    return (
        f"{missing} of its {len(started)} jobs did not finish: the log in each job's folder says "
        f"why"
    )


def _refit_row(
    recipe: str,
    kept: list[dict[str, Any]],
    chosen: dict[str, Any] | None,
    refit_dir: Path,
    collect_only: bool,
    out: Path,
) -> dict[str, Any]:
    """The (refit) row of ``recipe``, whose row holds the runs ``kept``.

    Raises:
        UserError: There are no finished refit runs, or they are not the runs ``kept`` trained
            again (same settings, plus ``data.train_on_val=true``).
    """
    refitted = _finished(refit_dir, recipe, collect_only, out, refit=True)

    def settings(result: dict[str, Any]) -> tuple[str, ...]:
        # Hydra records the job's override as data.train_on_val=True: matched by its key.
        own = (o for o in result["overrides"] if o.partition("=")[0].lstrip("+~") != train_on_val)
        return tuple(sorted(own))

    train_on_val = TRAIN_ON_VAL.partition("=")[0]

    ours, theirs = [settings(r) for r in kept], [settings(r) for r in refitted]
    if Counter(ours) != Counter(theirs):
        only = set(theirs[0]).intersection(*theirs) - set(ours[0]).intersection(*ours)
        keys = sorted({o.split("=", 1)[0].lstrip("+~") for o in only})
        how = (
            f"all of them have {' '.join(sorted(only))}, not all of the row's runs do"
            if only
            else f"{len(refitted)} refit runs for the row's {len(kept)}"
        )
        hint = (
            f" (select={keys[0]}?)"
            if len(keys) == 1 and keys[0] != (chosen or {}).get("key")
            else ""
        )
        raise UserError(
            f"recipe {recipe}: the refit runs under {refit_dir} are not the runs of its row "
            f"trained again ({how}); collect them with the select they were refitted after"
            f"{hint}, or remove {refit_dir} and run the report without collect_only=true "
            f"(with the sweep and overrides of its runs) to refit this row's runs"
        )
    row = summarise(recipe, refitted, recorded_overrides(refit_dir))
    return {**row, "chosen": chosen, "refit": True}


def _finished(
    sweep_dir: Path, recipe: str, collect_only: bool, out: Path, refit: bool = False
) -> list[dict[str, Any]]:
    """The finished runs under ``sweep_dir`` (a recipe's runs, or with ``refit`` their refit).

    Raises:
        UserError: There are none.
    """
    results = collect(sweep_dir)
    if results:
        return results
    if not collect_only:
        raise UserError(f"no finished runs under {sweep_dir}: every job of the multirun failed")
    if refit:
        raise UserError(
            f"no finished refit runs under {sweep_dir}: the runs of {recipe} were not refitted; "
            f"to refit them run the report without collect_only=true, with the sweep and "
            f"overrides they were trained with (only the refit is trained), or leave refit out"
        )
    raise UserError(
        f"no finished runs under {sweep_dir}: collect_only=true summarises earlier runs of "
        f"out={out}; leave it out to train {recipe}"
    )


def _job(cfg: DictConfig) -> None:
    recipes = cfg.recipes
    if isinstance(recipes, str):  # recipes=seed_resnet: one recipe
        recipes = [recipes]
    out = str(cfg.out)  # resolved once: it names this job's run directory by default
    markdown = make_report(
        [str(r) for r in recipes],
        out,
        cfg.sweep,
        [str(o) for o in OmegaConf.to_container(cfg.overrides)],  # type: ignore[union-attr]
        cfg.collect_only,
        cfg.select,
        cfg.refit,
    )
    print(markdown, end="")
    print(f"-> {Path(out) / MARKDOWN}")


#: ``python -m genre_lightning.report`` / ``genre-lightning-report``.
main = hydra_app("report", _job, CHECKS)


if __name__ == "__main__":
    main()
