"""``python -m genre_lightning.report``: recipes over seeds or folds, as mean ± std tables.

Each recipe is one Hydra multirun (``python -m genre_lightning -m experiment=<recipe> ...``)
in a subprocess; the per-job ``metrics.json`` files are then summarised into ``report.md`` and
``report.csv``, with the exact commands that produced them.

Examples::

    python -m genre_lightning.report --recipes seed_resnet improved_resnet --sweep seed=1,2,3
    python -m genre_lightning.report --recipes seed_resnet improved_resnet mfcc_baseline \\
        --sweep data.fold=0,1,2,3,4 --out reports/cv -- data.split=kfold data.num_folds=5
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from genre_lightning.files import write_csv_atomic, write_text_atomic

METRICS = ("test/acc", "test/f1_macro", "val/acc_best")


def run_recipe(recipe: str, sweep: str, extra: list[str], out: Path) -> tuple[str, Path]:
    """Run one recipe's multirun; return the command and the sweep directory."""
    sweep_dir = out / recipe
    cmd = [
        sys.executable,
        "-m",
        "genre_lightning",
        "-m",
        f"experiment={recipe}",
        *sweep.split(),
        *extra,
        f"hydra.sweep.dir={sweep_dir}",
    ]
    shown = " ".join(["python -m genre_lightning -m", *map(shlex.quote, cmd[4:-1])])
    print(f"[report] {shown}", flush=True)
    subprocess.run(cmd, check=True)
    return shown, sweep_dir


def recorded_command(sweep_dir: Path) -> str:
    """The command of an earlier multirun, from the ``multirun.yaml`` Hydra wrote into it."""
    record = sweep_dir / "multirun.yaml"
    if not record.is_file():
        return "(unknown: no multirun.yaml)"
    task = yaml.safe_load(record.read_text())["hydra"]["overrides"]["task"]
    return " ".join(["python -m genre_lightning -m", *map(shlex.quote, task)])


def collect(sweep_dir: Path) -> list[dict[str, Any]]:
    """metrics.json of every job of a sweep, in job order."""
    files = sorted(sweep_dir.glob("*/metrics.json"), key=lambda p: int(p.parent.name))
    return [json.loads(f.read_text()) for f in files]


def summarise(recipe: str, runs: list[dict[str, Any]], command: str) -> dict[str, Any]:
    """Mean and (sample) standard deviation of each metric over the runs."""
    row: dict[str, Any] = {"recipe": recipe, "runs": len(runs), "command": command}
    for key in METRICS:
        values = [float(r[key]) for r in runs if r.get(key) is not None]
        row[f"{key} mean"] = statistics.fmean(values) if values else float("nan")
        row[f"{key} std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return row


def write_report(rows: list[dict[str, Any]], out: Path) -> str:
    """Write report.csv and report.md; return the markdown."""
    write_csv_atomic(out / "report.csv", list(rows[0]), rows)
    lines = ["| recipe | runs | test acc | test macro F1 | best val acc |", "|---|---|---|---|---|"]
    for r in rows:
        cells = [f"{r[f'{k} mean']:.3f} ± {r[f'{k} std']:.3f}" for k in METRICS]
        lines.append(f"| {r['recipe']} | {r['runs']} | " + " | ".join(cells) + " |")
    lines += ["", "Commands:", ""] + [f"- `{r['command']}`" for r in rows]
    markdown = "\n".join(lines) + "\n"
    write_text_atomic(out / "report.md", markdown)
    return markdown


def main(argv: list[str] | None = None) -> int:
    """Run the recipes and write the report; extra Hydra overrides follow ``--``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", required=True, help="experiment config names")
    parser.add_argument("--sweep", default="seed=1,2,3", help="what varies between runs")
    parser.add_argument("--out", type=Path, default=Path("reports/latest"))
    parser.add_argument("--collect-only", action="store_true", help="summarise existing runs")
    args, extra = parser.parse_known_args(argv)
    extra = [e for e in extra if e != "--"]
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for recipe in args.recipes:
        if args.collect_only:
            sweep_dir = args.out / recipe
            command = recorded_command(sweep_dir)
        else:
            command, sweep_dir = run_recipe(recipe, args.sweep, extra, args.out)
        runs = collect(sweep_dir)
        if not runs:
            print(f"error: no finished runs under {sweep_dir}", file=sys.stderr)
            return 2
        rows.append(summarise(recipe, runs, command))
    print(write_report(rows, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
