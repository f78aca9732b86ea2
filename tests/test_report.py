"""report.py: recipes over seeds or folds, summarised as mean ± std."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest

from genre_lightning.report import main

from .conftest import TINY


def test_collect_only_summarises_existing_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    values = {"a": [0.5, 0.7, 0.9], "b": [0.2, 0.2]}
    for recipe, accs in values.items():
        for job, acc in enumerate(accs):
            (tmp_path / recipe / str(job)).mkdir(parents=True)
            metrics = {"test/acc": acc, "test/f1_macro": acc / 2, "val/acc_best": acc}
            (tmp_path / recipe / str(job) / "metrics.json").write_text(json.dumps(metrics))
    assert main(["--recipes", "a", "b", "--out", str(tmp_path), "--collect-only"]) == 0
    with open(tmp_path / "report.csv") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[0]["test/acc mean"]) == pytest.approx(0.7)
    assert float(rows[0]["test/acc std"]) == pytest.approx(statistics.stdev(values["a"]))
    assert rows[1]["runs"] == "2" and float(rows[1]["test/acc std"]) == 0.0
    assert "| a | 3 | 0.700 ± 0.200 |" in (tmp_path / "report.md").read_text()


def test_missing_runs_are_an_error(tmp_path: Path) -> None:
    assert main(["--recipes", "nothing", "--out", str(tmp_path), "--collect-only"]) == 2


@pytest.mark.slow
def test_runs_a_recipe_over_two_seeds(tmp_path: Path, data_dir: Path) -> None:
    extra = [o for o in TINY if not o.startswith("experiment=")]
    code = main(
        [
            "--recipes",
            "demo",
            "--sweep",
            "seed=1,2",
            "--out",
            str(tmp_path),
            "--",
            *extra,
            "trainer.max_epochs=1",
            f"paths.data_dir={data_dir}",
        ]
    )
    assert code == 0
    assert len(list((tmp_path / "demo").glob("*/metrics.json"))) == 2
    report = (tmp_path / "report.md").read_text()
    assert "| demo | 2 |" in report and "experiment=demo seed=1,2" in report
    # Summarising the same runs later recovers the command from Hydra's multirun.yaml.
    with open(tmp_path / "report.csv") as f:
        command = next(csv.DictReader(f))["command"]
    assert main(["--recipes", "demo", "--out", str(tmp_path), "--collect-only"]) == 0
    with open(tmp_path / "report.csv") as f:
        assert next(csv.DictReader(f))["command"] == command
