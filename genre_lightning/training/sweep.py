"""After a multirun: one table of every job's overrides and results.

The table shows the overrides that tell the jobs apart (the swept values); those every job
shares are printed once above it, not repeated in each row.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from genre_lightning import runs
from genre_lightning.files import write_csv_atomic

log = logging.getLogger(__name__)

COLUMNS = ("job", "overrides", *runs.RESULTS, runs.EPOCHS, "run_dir")


def split_overrides(rows: Sequence[Sequence[str]]) -> tuple[list[str], list[list[str]]]:
    """The overrides every row has, and each row's others: what tells the rows apart.

    Args:
        rows: Each row's overrides (``key=value`` as given on the command line).

    Returns:
        The shared overrides in the first row's order, and each row's remaining ones.
    """
    if not rows:
        return [], []
    common = [o for o in rows[0] if all(o in row for row in rows[1:])]
    return common, [[o for o in row if o not in common] for row in rows]


def job_overrides(sweep_dir: str | Path) -> dict[Path, list[str]]:
    """Each job directory of a sweep (in job order) with its overrides, Hydra's own left out."""
    found = {}
    for job_dir in sorted(Path(sweep_dir).iterdir(), key=lambda p: (len(p.name), p.name)):
        run = runs.Run(job_dir)
        if (run.file("hydra") / "overrides.yaml").is_file():
            found[job_dir] = [o for o in run.overrides if not o.startswith("hydra.")]
    return found


def summarize_sweep(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """Collect every job under ``sweep_dir`` and write ``sweep_summary.csv`` there.

    Rows are sorted by ``val/acc`` of the checkpoint each job tested, best first, equals in job
    order: selecting on validation keeps the test numbers honest (the test accuracy breaks no
    tie), and on the tested model's, not on a best epoch that a recipe testing its last epoch
    did not keep. A job that failed has no metrics and sorts last. The ``overrides`` column
    holds only the overrides that differ between jobs (see :func:`split_overrides`); each
    job's full list is in its ``.hydra/overrides.yaml``.

    Returns:
        The rows written.
    """
    sweep_dir = Path(sweep_dir)
    jobs = job_overrides(sweep_dir)
    _, varying = split_overrides(list(jobs.values()))
    rows = []
    for job_dir, differs in zip(jobs, varying, strict=True):
        run = runs.Run(job_dir)
        metrics = run.metrics if run.file("metrics").is_file() else {}
        rows.append(
            {
                "job": job_dir.name,
                "overrides": " ".join(differs),
                **{k: metrics.get(k) for k in (*runs.RESULTS, runs.EPOCHS)},
                "run_dir": str(job_dir),
            }
        )

    def rank(row: dict[str, Any]) -> tuple[bool, float]:
        # Equals keep the jobs' order (the sort is stable): broken by test accuracy, the top
        # row of a tie was chosen on the test part. A failed job (no val/acc) goes last.
        val = row[runs.VAL_ACC]
        return (val is None, -(val or 0.0))

    rows.sort(key=rank)
    write_csv_atomic(sweep_dir / "sweep_summary.csv", COLUMNS, rows)
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    """Plain-text table of the summary (fixed-width, for the console and logs)."""

    def cell(value: Any) -> str:
        return (
            f"{value:.4f}" if isinstance(value, float) else ("-" if value is None else str(value))
        )

    cols = COLUMNS[:-1]
    body = [[cell(r[c]) for c in cols] for r in rows]
    widths = [
        max(len(c), *(len(b[i]) for b in body)) if body else len(c) for i, c in enumerate(cols)
    ]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(b, widths, strict=True)) for b in body]
    return "\n".join(lines)


class SweepSummary(Callback):
    """Hydra callback: writes and prints the summary when a multirun ends."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        rows = summarize_sweep(sweep_dir)
        common, _ = split_overrides(list(job_overrides(sweep_dir).values()))
        shared = f"every job: {' '.join(common)}\n" if common else ""
        print(f"\nSweep summary ({sweep_dir / 'sweep_summary.csv'}):\n{shared}{format_table(rows)}")
