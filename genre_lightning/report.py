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
* ``collect_only=true``: summarise the runs already under ``out/<recipe>/`` instead of training.

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

import csv
import json
import shlex
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from genre_lightning import runs
from genre_lightning.app import hydra_app
from genre_lightning.errors import UserError
from genre_lightning.files import (
    check_writable,
    write_csv_atomic,
    write_json_atomic,
    write_text_atomic,
)
from genre_lightning.training.sweep import split_overrides

#: The numbers of a row, in table order.
METRICS = (runs.TEST_ACC, runs.TEST_F1_MACRO, runs.VAL_ACC_BEST)
#: Their column titles in report.md.
TITLES = ("test acc", "test macro F1", "best val acc")
#: How every recipe is trained (the command the rows' overrides complete).
TRAIN = "python -m genre_lightning -m"
#: The report's files in ``out``.
MARKDOWN, TABLE, RECORD = "report.md", "report.csv", "report.json"


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


def recorded_overrides(sweep_dir: Path) -> list[str] | None:
    """The overrides a multirun was started with, from its ``multirun.yaml`` (None: unknown)."""
    record = sweep_dir / "multirun.yaml"
    if not record.is_file():
        return None
    return list(yaml.safe_load(record.read_text())["hydra"]["overrides"]["task"])


def collect(sweep_dir: Path) -> list[dict[str, Any]]:
    """metrics.json of every job of a sweep, in job order ([] when there are none)."""
    files = sweep_dir.glob(f"*/{runs.LAYOUT['metrics']}")
    jobs = sorted((f for f in files if f.parent.name.isdigit()), key=lambda p: int(p.parent.name))
    return [json.loads(f.read_text()) for f in jobs]


def summarise(
    recipe: str, results: list[dict[str, Any]], overrides: list[str] | None
) -> dict[str, Any]:
    """One row: mean and sample standard deviation of each metric over a recipe's runs."""
    row: dict[str, Any] = {"recipe": recipe, "runs": len(results), "overrides": overrides}
    for key in METRICS:
        values = [float(r[key]) for r in results if r.get(key) is not None]
        row[key] = {
            "mean": statistics.fmean(values) if values else float("nan"),
            "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "values": values,
        }
    return row


def load_rows(out: Path) -> list[dict[str, Any]]:
    """The rows of the report already in ``out`` ([] if none).

    Read from ``report.json``; a report written before it existed is read from ``report.csv``,
    whose ``command`` column held each row's command.
    """
    if (out / RECORD).is_file():
        return list(json.loads((out / RECORD).read_text())["rows"])
    if not (out / TABLE).is_file():
        return []
    with open(out / TABLE, newline="") as f:
        old = list(csv.DictReader(f))
    rows = []
    for line in old:
        command = line.get("command", "")
        words = shlex.split(command) if command.startswith(TRAIN) else None
        row: dict[str, Any] = {
            "recipe": line["recipe"],
            "runs": int(line["runs"]),
            "overrides": words[len(shlex.split(TRAIN)) :] if words else None,
        }
        for key in METRICS:
            row[key] = {
                "mean": float(line[f"{key} mean"]),
                "std": float(line[f"{key} std"]),
                "values": [],
            }
        rows.append(row)
    return rows


def merge(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``old`` with each recipe of ``new`` replacing its row in place, or appended."""
    fresh = {r["recipe"]: r for r in new}
    merged = [fresh.pop(r["recipe"], r) for r in old]
    return merged + [r for r in new if r["recipe"] in fresh]


def _distinct(rows: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """What every row's command shares, and each row's own overrides, ``experiment=`` aside."""
    own = [
        [o for o in r["overrides"] if o != f"experiment={r['recipe']}"]
        for r in rows
        if r["overrides"] is not None
    ]
    common, varying = split_overrides(own)
    texts = iter(" ".join(v) for v in varying)
    return common, [
        next(texts) if r["overrides"] is not None else "(command unknown)" for r in rows
    ]


def write_report(rows: list[dict[str, Any]], out: Path) -> str:
    """Write report.md, report.csv and report.json; return the markdown."""
    common, varying = _distinct(rows)
    write_json_atomic(out / RECORD, {"command": TRAIN, "rows": rows})
    columns = ["recipe", "runs", "overrides"]
    columns += [f"{k} {s}" for k in METRICS for s in ("mean", "std")]
    table = [
        {
            "recipe": r["recipe"],
            "runs": r["runs"],
            "overrides": differs,
            **{f"{k} {s}": r[k][s] for k in METRICS for s in ("mean", "std")},
        }
        for r, differs in zip(rows, varying, strict=True)
    ]
    write_csv_atomic(out / TABLE, columns, table)

    shown = any(varying)
    head = ["recipe", "runs", *(["overrides"] if shown else []), *TITLES]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row, differs in zip(table, varying, strict=True):
        cells = [str(row["recipe"]), str(row["runs"])]
        cells += [f"`{differs}`" if differs else ""] if shown else []
        cells += [f"{row[f'{k} mean']:.3f} ± {row[f'{k} std']:.3f}" for k in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    shared = shlex.join(["experiment=RECIPE", *common])
    lines += [
        "",
        f"Each row: `{TRAIN} {shared}`" + (" plus its overrides." if shown else "."),
        "Mean ± sample standard deviation over the row's runs.",
    ]
    markdown = "\n".join(lines) + "\n"
    write_text_atomic(out / MARKDOWN, markdown)
    return markdown


def make_report(
    recipes: Sequence[str],
    out: str | Path,
    sweep: str = "seed=1,2,3",
    overrides: Sequence[str] = (),
    collect_only: bool = False,
) -> str:
    """Run (or only collect) the recipes, merge their rows into ``out``'s report and write it.

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
    rows = []
    for recipe in recipes:
        sweep_dir = out / recipe
        if not collect_only:
            run_recipe(recipe, sweep, overrides, sweep_dir)
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
        rows.append(summarise(recipe, results, recorded_overrides(sweep_dir)))
    return write_report(merge(load_rows(out), rows), out)


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
    )
    print(markdown, end="")
    print(f"-> {Path(cfg.out) / MARKDOWN}")


#: ``python -m genre_lightning.report`` / ``genre-lightning-report``.
main = hydra_app("report", _job)


if __name__ == "__main__":
    main()
