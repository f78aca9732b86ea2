"""A report's rows written out: ``report.md`` (the table, the command its rows share, the code
they ran, the rows compared fold by fold and genre by genre), ``report.csv`` and
``report.json``."""

from __future__ import annotations

import shlex
import statistics
from pathlib import Path
from typing import Any

from genre_lightning import runs
from genre_lightning.files import write_csv_atomic, write_json_atomic, write_text_atomic
from genre_lightning.report_rows import (
    CODE,
    CONFUSION,
    MARKDOWN,
    METRICS,
    RECORD,
    TABLE,
    TEST_SETS,
    TRAIN,
    TRAIN_ON_VAL,
    UNRECORDED,
)
from genre_lightning.training.sweep import split_overrides

#: Their column titles in report.md.
TITLES = ("test acc", "test macro F1", "best val acc")
#: Fewer test sets in common than this, and two rows are not compared pair by pair.
MIN_PAIRS = 2


def _code_line(rows: list[dict[str, Any]]) -> str:
    """report.md's line on the code its runs come from (rows read from an older report have no
    record of it)."""
    codes = sorted({code for r in rows for code in r.get(CODE) or [UNRECORDED]})
    if len(codes) == 1:
        return f"Code: `{codes[0]}` (each run's metrics.json names its libraries and device)."
    return (
        f"Code: the runs come from {len(codes)} versions ({', '.join(f'`{c}`' for c in codes)}); "
        f"report.json gives each row's."
    )


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
    # refit tells a recipe's two rows apart in the CSV, as "(refit)" does in report.md.
    columns = ["recipe", "refit", "runs", "overrides"]
    columns += [f"{k} {s}" for k in METRICS for s in ("mean", "std")]
    table = [
        {
            "recipe": r["recipe"],
            "refit": str(bool(r.get("refit"))).lower(),
            "runs": r["runs"],
            "overrides": differs,
            **{f"{k} {s}": r[k][s] for k in METRICS for s in ("mean", "std")},
        }
        for r, differs in zip(rows, varying, strict=True)
    ]
    shown = any(varying)
    chosen = [r.get("chosen") for r in rows]
    if any(chosen):  # a value chosen on validation is part of what tells the rows apart
        shown = True
        varying = [_with_choice(v, c) for v, c in zip(varying, chosen, strict=True)]
        for entry, differs in zip(table, varying, strict=True):
            entry["overrides"] = differs
    # After the choice is written in: the CSV's row said every value swept, or nothing.
    write_csv_atomic(out / TABLE, columns, table)
    head = ["recipe", "runs", *(["overrides"] if shown else []), *TITLES]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row, differs, full in zip(table, varying, rows, strict=True):
        cells = [_row_name(full), str(row["runs"])]
        cells += [f"`{differs}`" if differs else ""] if shown else []
        cells += [_mean_std(row[f"{k} mean"], row[f"{k} std"]) for k in METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    shared = shlex.join(["experiment=RECIPE", *common])
    lines += [
        "",
        f"Each row: `{TRAIN} {shared}`" + (" plus its overrides." if shown else "."),
        "Mean ± sample standard deviation over the row's runs.",
        _code_line(rows),
    ]
    if any(chosen):
        lines.append(
            "A value marked (chosen on val) had the best mean validation accuracy of the "
            "values swept; the row holds the test results of its runs only. One marked (tied "
            "on val) shared that accuracy with the values named: validation did not tell them "
            "apart, and the first swept was kept."
        )
    if any(r.get("refit") for r in rows):
        lines.append(
            "A row marked (refit) holds the same runs (of the chosen value) trained again with "
            f"their validation tracks in the training part (`{TRAIN_ON_VAL}`) and tested on "
            "the same test tracks; nothing was validated, so it has no validation accuracy."
        )
    lines += _paired_section(rows)
    lines += _genre_section(rows)
    markdown = "\n".join(lines) + "\n"
    write_text_atomic(out / MARKDOWN, markdown)
    return markdown


def _row_name(row: dict[str, Any]) -> str:
    return str(row["recipe"]) + (" (refit)" if row.get("refit") else "")


def paired_differences(best: dict[str, Any], other: dict[str, Any]) -> list[float] | None:
    """``best``'s test accuracy minus ``other``'s on each test set both rows tested (a set's
    runs averaged: seeds), in the sets' order; None where they share fewer than
    :data:`MIN_PAIRS` (rows from reports that did not record them share none)."""
    mine, theirs = best.get(TEST_SETS) or {}, other.get(TEST_SETS) or {}
    common = sorted(set(mine) & set(theirs))
    if len(common) < MIN_PAIRS:
        return None
    return [statistics.fmean(mine[s]) - statistics.fmean(theirs[s]) for s in common]


def _paired_section(rows: list[dict[str, Any]]) -> list[str]:
    """report.md's comparison of the best row (by mean test accuracy) with each other row on
    the tracks both tested, fold by fold: the spread between folds is mostly the folds' (some
    are harder for every recipe), which a difference of means over them hides."""
    scored = [r for r in rows if r[runs.TEST_ACC]["mean"] is not None]
    if len(scored) < 2:
        return []
    best = max(scored, key=lambda r: r[runs.TEST_ACC]["mean"])  # the first of equals
    table = []
    for row in (r for r in scored if r is not best):
        diffs = paired_differences(best, row)
        if diffs is None:
            continue
        std = statistics.stdev(diffs)
        counts = [sum(d > 1e-9 for d in diffs), sum(abs(d) <= 1e-9 for d in diffs)]
        counts.append(len(diffs) - sum(counts))
        table.append(
            f"| {_row_name(row)} | {len(diffs)} | {statistics.fmean(diffs):+.3f} ± {std:.3f} | "
            f"{' / '.join(map(str, counts))} |"
        )
    if not table:
        return []
    return [
        "",
        f"Paired with the best row, {_row_name(best)}: its test accuracy minus each row's on "
        "the test sets both tested (the same tracks; a set's runs averaged), mean ± sample "
        "standard deviation over the sets, and on how many sets it is ahead / level / behind.",
        "",
        "| row | test sets | difference | ahead / level / behind |",
        "|---|---|---|---|",
        *table,
    ]


def _genre_section(rows: list[dict[str, Any]]) -> list[str]:
    """report.md's test tracks named correctly per genre and row, over the row's runs (the
    rows that recorded their confusion matrices, with the first one's genres)."""
    pooled = [(r, r[CONFUSION]) for r in rows if r.get(CONFUSION)]
    if not pooled:
        return []
    names = pooled[0][1]["class_names"]
    table = []
    for row, confusion in pooled:
        if confusion["class_names"] != names:
            continue
        matrix = confusion["matrix"]
        cells = [f"{matrix[i][i]}/{sum(matrix[i])}" for i in range(len(names))]
        table.append(f"| {_row_name(row)} | {' | '.join(cells)} |")
    return [
        "",
        "Per genre: test tracks named correctly / test tracks, summed over each row's runs (over "
        "k folds, every track once); report.json holds each row's confusion matrix.",
        "",
        f"| row | {' | '.join(names)} |",
        "|" + "---|" * (len(names) + 1),
        *table,
    ]


def _with_choice(overrides: str, chosen: dict[str, Any] | None) -> str:
    """A row's overrides with its swept key shown as the value validation chose."""
    if not chosen:
        return overrides
    key = chosen["key"]
    words = overrides.split()
    swept = [w.partition("=")[2] for w in words if w.startswith(f"{key}=")]
    rest = [w for w in words if not w.startswith(f"{key}=")]
    scores = chosen.get("scores") or {}
    if scores:  # every value tried (a refit's overrides hold the chosen one only)
        swept = [",".join(scores)]
    tied = [v for v, score in scores.items() if v != chosen["value"] and score == chosen["val_acc"]]
    if tied:  # no choice was made, whatever the max kept: said as such
        return " ".join([*rest, f"{key}={chosen['value']} (tied on val with {','.join(tied)})"])
    among = f" among {swept[0]}" if swept else ""
    return " ".join([*rest, f"{key}={chosen['value']} (chosen on val{among})"])


def _mean_std(mean: float | None, std: float | None) -> str:
    """``mean ± std``, or a dash where no run had the number (a refit has no validation)."""
    return "—" if mean is None else f"{mean:.3f} ± {std:.3f}"
