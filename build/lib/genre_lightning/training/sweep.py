"""After a multirun: one table of every job's overrides and results."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from genre_lightning import runs
from genre_lightning.files import write_csv_atomic

log = logging.getLogger(__name__)

COLUMNS = ("job", "overrides", *runs.RESULTS, runs.EPOCHS, "run_dir")


def summarize_sweep(sweep_dir: str | Path) -> list[dict[str, Any]]:
    """Collect every job under ``sweep_dir`` and write ``sweep_summary.csv`` there.

    Rows are sorted by ``val/acc_best`` (then ``test/acc``), best first: selecting on validation
    keeps the test numbers honest. A job that failed has no metrics and sorts last.

    Returns:
        The rows written.
    """
    sweep_dir = Path(sweep_dir)
    rows = []
    for job_dir in sorted(sweep_dir.iterdir(), key=lambda p: (len(p.name), p.name)):
        run = runs.Run(job_dir)
        if not (run.file("hydra") / "overrides.yaml").is_file():
            continue
        overrides = run.overrides
        metrics = run.metrics if run.file("metrics").is_file() else {}
        rows.append(
            {
                "job": job_dir.name,
                "overrides": " ".join(o for o in overrides if not o.startswith("hydra.")),
                **{k: metrics.get(k) for k in (*runs.RESULTS, runs.EPOCHS)},
                "run_dir": str(job_dir),
            }
        )

    def rank(row: dict[str, Any]) -> tuple[float, float]:
        return (-(row[runs.VAL_ACC_BEST] or -1.0), -(row[runs.TEST_ACC] or -1.0))

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
        print(f"\nSweep summary ({sweep_dir / 'sweep_summary.csv'}):\n{format_table(rows)}")
