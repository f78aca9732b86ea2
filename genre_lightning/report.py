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
the same command again trains only the jobs that left no results
(:func:`~genre_lightning.report_sweeps.continue_sweep`). The checks are
:mod:`~genre_lightning.report_checks`', the training :mod:`~genre_lightning.report_sweeps`', the
rows and tables :mod:`~genre_lightning.report_rows`'.

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

import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from genre_lightning.cli.app import hydra_app
from genre_lightning.errors import UserError
from genre_lightning.files import check_writable
from genre_lightning.report_checks import RECIPES_EXAMPLE, check_recipes
from genre_lightning.report_rows import (
    MARKDOWN,
    REFIT,
    TRAIN_ON_VAL,
    choose_on_validation,
    collect,
    load_rows,
    merge,
    recorded_overrides,
    summarise,
)
from genre_lightning.report_sweeps import refit_sweep, run_recipe, unfinished_jobs
from genre_lightning.report_tables import write_report
from genre_lightning.validate import Check, flag, text, texts


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

    Everything :func:`~genre_lightning.report_checks.check_recipes` can know is checked before
    any training. The report is written after each recipe, so a recipe that fails late keeps the
    rows of those before it.

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
    elif collect_only and (unfinished := unfinished_jobs(sweep_dir)):
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
