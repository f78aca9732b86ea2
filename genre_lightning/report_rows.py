"""The rows of a report: each recipe's runs collected, chosen on validation, summarised.

:mod:`genre_lightning.report` runs the recipes; this module turns their run directories into
rows, and :mod:`genre_lightning.report_tables` the rows into ``report.md``, ``report.csv`` and
``report.json``.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import math
import shlex
import statistics
from pathlib import Path
from typing import Any

import yaml

from genre_lightning import runs
from genre_lightning.errors import UserError
from genre_lightning.training.sweep import job_overrides

#: The numbers of a row, in table order.
METRICS = (runs.TEST_ACC, runs.TEST_F1_MACRO, runs.VAL_ACC_BEST)
#: How every recipe is trained (the command the rows' overrides complete).
TRAIN = "python -m genre_lightning -m"
#: The report's files in ``out``.
MARKDOWN, TABLE, RECORD = "report.md", "report.csv", "report.json"
#: A recipe's refit runs: this sub-folder of its sweep, trained with this override.
REFIT, TRAIN_ON_VAL = "refit", "data.train_on_val=true"
#: A row's code versions (:func:`code_version` of each run), and a run's that recorded none.
CODE, UNRECORDED = "code", "unrecorded"
#: A run's test tracks (:func:`test_set`); a row's test accuracies by them (paired in report.md).
TEST_SET, TEST_SETS = "test_set", "test_sets"
#: A row's confusion matrices summed over its runs: ``{"class_names", "matrix"}`` (rows the
#: true genres, columns the predicted ones).
CONFUSION = "confusion"


def recorded_overrides(sweep_dir: Path) -> list[str] | None:
    """The overrides a multirun was started with, from its ``multirun.yaml`` (None: unknown)."""
    record = sweep_dir / "multirun.yaml"
    if not record.is_file():
        return None
    return list(yaml.safe_load(record.read_text())["hydra"]["overrides"]["task"])


def collect(sweep_dir: Path) -> list[dict[str, Any]]:
    """Every finished job of a sweep, in job order ([] when there are none).

    Returns:
        ``{"overrides": [...], "metrics": {...}}`` per job (its own overrides, Hydra's left out).
    """
    if not sweep_dir.is_dir():
        return []
    return [
        {"overrides": overrides, "metrics": runs.Run(job).metrics, TEST_SET: test_set(job)}
        for job, overrides in job_overrides(sweep_dir).items()
        if job.name.isdigit() and runs.Run(job).file("metrics").is_file()
    ]


def test_set(run_dir: Path) -> str | None:
    """The tracks a run was tested on, as a short digest: runs of two recipes with the same one
    were tested on the same tracks, so their accuracies pair. None where the run has no
    ``split.csv`` or tested nothing."""
    run = runs.Run(run_dir)
    if not run.file("split").is_file():
        return None
    tracks = sorted(f"{row['genre']}/{row['track']}" for row in run.split("test"))
    return hashlib.sha256("\n".join(tracks).encode()).hexdigest()[:16] if tracks else None


def choose_on_validation(
    results: list[dict[str, Any]], key: str, recipe: str
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Keep the runs of the value of ``key`` with the best mean validation accuracy.

    Each value of a swept setting (``optimizer.weight_decay=1e-3,1e-2,...``) is scored by the
    mean over its runs (e.g. its folds) of ``val/acc``, the validation accuracy of the
    checkpoint each run tested; the test metrics of the other values are never looked at. Ties
    go to the value swept first.

    Returns:
        The chosen value's runs, and what was chosen: ``{"key", "value", "val_acc"}``.

    Raises:
        UserError: ``key`` was not swept over two or more values, or the runs have no
            validation accuracy.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for result in results:
        values = [
            value
            for key_of, _, value in (o.partition("=") for o in result["overrides"])
            if key_of.lstrip("+~") == key  # +key=... adds the key the runs then vary
        ]
        if not values:
            raise UserError(
                f"select={key}: recipe {recipe} has a run without {key}=...; sweep it, e.g. "
                f"'sweep=\"data.fold=0,1,2,3,4 {key}=1e-3,1e-2,1e-1\"'"
            )
        groups.setdefault(values[-1], []).append(result)
    if len(groups) < 2:  # one value: nothing was chosen, and "(chosen on val)" would say it was
        raise UserError(
            f"select={key}: the runs of {recipe} all have {key}={next(iter(groups))}, so there "
            f"is nothing to choose on validation; sweep two or more values of it, e.g. "
            f"'sweep=\"data.fold=0,1,2,3,4 {key}=1e-3,1e-2,1e-1\"', or leave select out"
        )
    scores = {}
    for value, group in groups.items():
        accs = [r["metrics"].get(runs.VAL_ACC) for r in group]
        if any(a is None for a in accs):
            raise UserError(f"select={key}: runs of {recipe} have no {runs.VAL_ACC} to choose by")
        scores[value] = statistics.fmean(accs)
    best = max(scores, key=lambda v: scores[v])  # the first of equals: dicts keep sweep order
    return groups[best], {"key": key, "value": best, "val_acc": scores[best], "scores": scores}


def summarise(
    recipe: str, results: list[dict[str, Any]], overrides: list[str] | None
) -> dict[str, Any]:
    """One row: mean and sample standard deviation of each metric over a recipe's runs
    (:func:`collect`'s results), their code versions, and their test accuracies by test set."""
    metrics = [r["metrics"] for r in results]
    row: dict[str, Any] = {"recipe": recipe, "runs": len(results), "overrides": overrides}
    row[CODE] = sorted({code_version(m) for m in metrics})
    by_set: dict[str, list[float]] = {}
    for result in results:
        acc = result["metrics"].get(runs.TEST_ACC)
        if result.get(TEST_SET) is not None and acc is not None:
            by_set.setdefault(result[TEST_SET], []).append(float(acc))
    row[TEST_SETS] = by_set
    row[CONFUSION] = pooled_confusion(metrics)
    for key in METRICS:
        values = [float(m[key]) for m in metrics if m.get(key) is not None]
        row[key] = {
            # None (JSON null, an empty CSV cell) where no run has the metric: a refit
            # validates nothing.
            "mean": statistics.fmean(values) if values else None,
            "std": (statistics.stdev(values) if len(values) > 1 else 0.0) if values else None,
            "values": values,
        }
    return row


def code_version(metrics: dict[str, Any]) -> str:
    """A run's code in a word: its commit's first 12 digits (``+modified`` where the package's
    files differed from it), the package's version where no commit was recorded (a wheel), or
    ``unrecorded`` (a run from before metrics.json held its provenance)."""
    record = metrics.get(runs.PROVENANCE) or {}
    commit = record.get("commit")
    if commit:
        return commit[:12] + ("+modified" if record.get("modified") else "")
    version = record.get("genre_lightning")
    return f"genre_lightning {version}" if version else UNRECORDED


def pooled_confusion(metrics: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The runs' confusion matrices summed: over k folds, every track tested once. None where
    a run has none, or the runs' genres differ."""
    names = [m.get(runs.CLASS_NAMES) for m in metrics]
    found = [m.get(runs.CONFUSION_MATRIX) for m in metrics]
    if not metrics or names[0] is None or any(n != names[0] for n in names):
        return None
    matrices: list[list[list[int]]] = [c for c in found if c is not None]
    if len(matrices) != len(found) or any(len(c) != len(names[0]) for c in matrices):
        return None
    size = range(len(names[0]))
    summed = [[sum(int(c[i][j]) for c in matrices) for j in size] for i in size]
    return {"class_names": list(names[0]), "matrix": summed}


def load_rows(out: Path) -> list[dict[str, Any]]:
    """The rows of the report already in ``out`` ([] if none).

    Read from ``report.json``; a report written before it existed is read from ``report.csv``,
    whose ``command`` column held each row's command.
    """
    if (out / RECORD).is_file():
        recorded = list(json.loads((out / RECORD).read_text())["rows"])
        for entry, key in itertools.product(recorded, METRICS):  # older reports wrote NaN
            mean = number(entry[key]["mean"])
            entry[key] |= {"mean": mean, "std": None if mean is None else entry[key]["std"]}
        return recorded
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
                "mean": number(line[f"{key} mean"]),
                "std": number(line[f"{key} std"]),
                "values": [],
            }
        rows.append(row)
    return rows


def _row_key(row: dict[str, Any]) -> tuple[str, bool]:
    return row["recipe"], bool(row.get("refit"))


def merge(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``old`` with each row of ``new`` replacing its recipe's row (or refit row) in place, or
    appended."""
    fresh = {_row_key(r): r for r in new}
    merged = [fresh.pop(_row_key(r), r) for r in old]
    for row in (r for r in new if _row_key(r) in fresh):
        # A new refit row goes right after its recipe's row.
        after = [
            i for i, r in enumerate(merged) if row.get("refit") and r["recipe"] == row["recipe"]
        ]
        merged.insert(after[-1] + 1 if after else len(merged), row)
    return merged


def number(value: str | float | None) -> float | None:
    """A summary number read back: None for an empty cell, null or an older report's NaN."""
    number = float(value) if value not in (None, "") else math.nan
    return None if math.isnan(number) else number
