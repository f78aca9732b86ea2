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

A report folder accumulates: rows of recipes not named this time stay, a named recipe's row is
replaced. The tables show only the overrides that differ between rows; the part of the command
all rows share is written once, under the table.

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
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from genre_lightning.app import hydra_app
from genre_lightning.errors import UserError
from genre_lightning.files import check_writable
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


def run_recipe(recipe: str, sweep: str, overrides: Sequence[str], sweep_dir: Path) -> None:
    """Train one recipe's multirun into ``sweep_dir``.

    Raises:
        UserError: ``sweep_dir`` already holds runs (they would mix with the new ones), or the
            training exited with an error (its message is printed above).
    """
    if collect(sweep_dir):
        raise UserError(
            f"{sweep_dir} already holds runs of {recipe}; to summarise them add "
            f"collect_only=true, to train again remove that folder or give another out=..."
        )
    task = [f"experiment={recipe}", *shlex.split(sweep), *overrides]
    print(f"[report] {TRAIN} {shlex.join(task)}", flush=True)
    cmd = [sys.executable, "-m", "genre_lightning", "-m", *task, f"hydra.sweep.dir={sweep_dir}"]
    status = subprocess.run(cmd).returncode
    if status:
        raise UserError(
            f"recipe {recipe}: training exited with status {status} (its error is above); no "
            f"row was written for it"
        )


def refit_sweep(sweep: str, chosen: dict[str, Any] | None) -> str:
    """``sweep`` with the key chosen on validation fixed at the chosen value."""
    if not chosen:
        return sweep
    key = chosen["key"]
    words = [w for w in shlex.split(sweep) if w.split("=", 1)[0] != key]
    return shlex.join([*words, f"{key}={chosen['value']}"])


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

    The report is written after each recipe, so a recipe that fails late keeps the rows of
    those before it.

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
            test results are a second row.

    Returns:
        The report's markdown.

    Raises:
        UserError: ``out`` cannot be written, a recipe's training failed, or a recipe has no
            finished runs to summarise.
    """
    out = check_writable(out, "out", folder=True)
    if not recipes:
        raise UserError("recipes=[]: name at least one experiment, e.g. recipes=[seed_resnet]")
    out.mkdir(parents=True, exist_ok=True)
    rows = load_rows(out)
    markdown = ""
    for recipe in recipes:
        sweep_dir = out / recipe
        if not collect_only:
            run_recipe(recipe, sweep, overrides, sweep_dir)
        results = _finished(sweep_dir, recipe, collect_only, out)
        chosen = None
        if select:
            results, chosen = choose_on_validation(results, select, recipe)
        row = summarise(recipe, [r["metrics"] for r in results], recorded_overrides(sweep_dir))
        rows = merge(rows, [{**row, "chosen": chosen}])
        markdown = write_report(rows, out)  # kept if the refit fails
        if refit:
            refit_dir = sweep_dir / REFIT
            if not collect_only:
                refit_overrides = [*overrides, TRAIN_ON_VAL]
                run_recipe(recipe, refit_sweep(sweep, chosen), refit_overrides, refit_dir)
            refitted = [r["metrics"] for r in _finished(refit_dir, recipe, collect_only, out)]
            row = summarise(recipe, refitted, recorded_overrides(refit_dir))
            rows = merge(rows, [{**row, "chosen": chosen, "refit": True}])
            markdown = write_report(rows, out)
    return markdown


def _finished(sweep_dir: Path, recipe: str, collect_only: bool, out: Path) -> list[dict[str, Any]]:
    """The finished runs under ``sweep_dir``.

    Raises:
        UserError: There are none.
    """
    results = collect(sweep_dir)
    if not results:
        raise UserError(
            f"no finished runs under {sweep_dir}: "
            + (
                f"collect_only=true summarises earlier runs of out={out}; leave it out "
                f"to train {recipe}"
                if collect_only
                else "every job of the multirun failed"
            )
        )
    return results


def _job(cfg: DictConfig) -> None:
    recipes = cfg.recipes
    if isinstance(recipes, str):  # recipes=seed_resnet: one recipe
        recipes = [recipes]
    overrides = cfg.overrides
    if isinstance(overrides, str):
        raise UserError(
            f"overrides={overrides}: give a list, one training override per item, e.g. "
            """'overrides=["data.split=kfold","trainer=gpu"]'"""
        )
    markdown = make_report(
        [str(r) for r in recipes],
        cfg.out,
        str(cfg.sweep),
        [str(o) for o in OmegaConf.to_container(overrides)],  # type: ignore[union-attr]
        bool(cfg.collect_only),
        cfg.get("select") or None,
        bool(cfg.get("refit", False)),
    )
    print(markdown, end="")
    print(f"-> {Path(cfg.out) / MARKDOWN}")


#: ``python -m genre_lightning.report`` / ``genre-lightning-report``.
main = hydra_app("report", _job)


if __name__ == "__main__":
    main()
