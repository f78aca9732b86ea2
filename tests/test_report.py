"""report.py: recipes over seeds or folds, summarised as mean ± std, merged into one report."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest
import yaml

from genre_lightning.errors import UserError
from genre_lightning.report import make_report, refit_sweep
from genre_lightning.report_rows import _with_choice

from .conftest import TINY, run_cli

#: What `make report` passes to every run: long, and the same for every row.
COMMON = [
    "data.fold=0,1,2",
    "data.root=/work/shared/gtzan-sample",
    "data.cache_dir=/work/main/outputs/cache",
    "data.split=kfold",
    "data.num_folds=5",
    "trainer.max_epochs=40",
]


def _fake_sweep(
    out: Path,
    recipe: str,
    accs: list[float],
    task: list[str] | None = None,
    jobs: list[list[str]] | None = None,
    val: list[float] | None = None,
    folder: Path | None = None,
) -> None:
    """A finished multirun of ``recipe`` under ``out`` as Hydra and training leave it: per job
    ``.hydra/overrides.yaml`` and ``metrics.json``; ``multirun.yaml`` when ``task`` is given.
    ``folder``: the sweep's folder, if not ``out/recipe``."""
    sweep_dir = folder or out / recipe
    for job, acc in enumerate(accs):
        (sweep_dir / str(job) / ".hydra").mkdir(parents=True)
        overrides = [f"experiment={recipe}", *(jobs[job] if jobs else [f"seed={job}"])]
        (sweep_dir / str(job) / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
        metrics = {"test/acc": acc, "test/f1_macro": acc / 2, "val/acc_best": acc}
        if val is not None:
            metrics["val/acc"] = val[job]
        (sweep_dir / str(job) / "metrics.json").write_text(json.dumps(metrics))
    if task is not None:
        record = {"hydra": {"overrides": {"task": [f"experiment={recipe}", *task]}}}
        (sweep_dir / "multirun.yaml").write_text(yaml.safe_dump(record))


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "report.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_collect_only_summarises_existing_runs(tmp_path: Path) -> None:
    values = {"a": [0.5, 0.7, 0.9], "b": [0.2, 0.2]}
    for recipe, accs in values.items():
        _fake_sweep(tmp_path, recipe, accs, COMMON)
    make_report(["a", "b"], tmp_path, collect_only=True)
    rows = _rows(tmp_path)
    assert float(rows[0]["test/acc mean"]) == pytest.approx(0.7)
    assert float(rows[0]["test/acc std"]) == pytest.approx(statistics.stdev(values["a"]))
    assert rows[1]["runs"] == "2" and float(rows[1]["test/acc std"]) == 0.0
    markdown = (tmp_path / "report.md").read_text()
    assert "| a | 3 | 0.700 ± 0.200 |" in markdown
    record = json.loads((tmp_path / "report.json").read_text())
    assert record["rows"][0]["test/acc"]["values"] == values["a"]
    assert record["rows"][0]["overrides"] == ["experiment=a", *COMMON]


def test_tables_show_only_what_differs_between_rows(tmp_path: Path) -> None:
    _fake_sweep(tmp_path, "a", [0.5, 0.6], COMMON)
    _fake_sweep(tmp_path, "b", [0.4], COMMON)
    make_report(["a", "b"], tmp_path, collect_only=True)
    # Nothing but the recipe differs: no overrides column, the shared command once, below.
    markdown = (tmp_path / "report.md").read_text()
    table = [line for line in markdown.splitlines() if line.startswith("|")]
    assert table[0] == "| recipe | runs | test acc | test macro F1 | best val acc |"
    assert max(map(len, table)) < 80
    assert markdown.count("data.cache_dir=") == 1
    assert "python -m genre_lightning -m experiment=RECIPE data.fold=0,1,2 data.root=" in markdown
    assert all(row["overrides"] == "" for row in _rows(tmp_path))

    # A recipe run with other settings: its row shows how it differs, nothing else repeats.
    _fake_sweep(tmp_path, "c", [0.9], [*COMMON[:-1], "trainer.max_epochs=80"])
    make_report(["c"], tmp_path, collect_only=True)
    rows = {row["recipe"]: row for row in _rows(tmp_path)}
    assert rows["a"]["overrides"] == rows["b"]["overrides"] == "trainer.max_epochs=40"
    assert rows["c"]["overrides"] == "trainer.max_epochs=80"
    markdown = (tmp_path / "report.md").read_text()
    assert "| c | 1 | `trainer.max_epochs=80` | 0.900 ± 0.000 |" in markdown
    assert markdown.count("data.cache_dir=") == 1


def test_collect_only_merges_into_the_existing_report(tmp_path: Path) -> None:
    _fake_sweep(tmp_path, "a", [0.5, 0.7], COMMON)
    _fake_sweep(tmp_path, "b", [0.2], COMMON)
    make_report(["a", "b"], tmp_path, collect_only=True)
    (tmp_path / "b" / "1" / ".hydra").mkdir(parents=True)  # b got another run; a's are gone
    (tmp_path / "b" / "1" / ".hydra" / "overrides.yaml").write_text("[experiment=b, seed=1]\n")
    (tmp_path / "b" / "1" / "metrics.json").write_text(
        json.dumps({"test/acc": 0.4, "test/f1_macro": 0.2, "val/acc_best": 0.4})
    )
    for job in ("0", "1"):
        (tmp_path / "a" / job / "metrics.json").unlink()
    make_report(["b"], tmp_path, collect_only=True)
    rows = _rows(tmp_path)
    assert [r["recipe"] for r in rows] == ["a", "b"]  # a's row stays, in its place
    assert float(rows[0]["test/acc mean"]) == pytest.approx(0.6)
    assert rows[1]["runs"] == "2" and float(rows[1]["test/acc mean"]) == pytest.approx(0.3)


def test_a_report_from_before_report_json_is_merged_too(tmp_path: Path) -> None:
    command = "python -m genre_lightning -m experiment=old " + " ".join(COMMON)
    columns = ["recipe", "runs", "command"] + [
        f"{k} {s}" for k in ("test/acc", "test/f1_macro", "val/acc_best") for s in ("mean", "std")
    ]
    with open(tmp_path / "report.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        writer.writerow(["old", 5, command, 0.22, 0.045, 0.16, 0.06, 0.35, 0.056])
    _fake_sweep(tmp_path, "new", [0.5], COMMON)
    make_report(["new"], tmp_path, collect_only=True)
    rows = _rows(tmp_path)
    assert [r["recipe"] for r in rows] == ["old", "new"] and "command" not in rows[0]
    assert float(rows[0]["test/acc mean"]) == 0.22 and rows[0]["overrides"] == ""


def test_missing_or_existing_runs_are_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no finished runs under .*nothing: collect_only=true"):
        make_report(["nothing"], tmp_path, collect_only=True)
    _fake_sweep(tmp_path, "a", [0.5])
    with pytest.raises(UserError, match="already holds runs of a; to summarise them add"):
        make_report(["a"], tmp_path)
    with pytest.raises(UserError, match=r"^out=.*: is a file"):
        make_report(["a"], tmp_path / "a" / "0" / "metrics.json", collect_only=True)


@pytest.mark.slow
def test_the_cli_runs_a_recipe_over_two_seeds(tmp_path: Path, data_dir: Path) -> None:
    extra = [o for o in TINY if not o.startswith("experiment=")]
    extra += [
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2",
        f"paths.data_dir={data_dir}",
    ]
    args = [
        "recipes=[demo]",
        'sweep="seed=1,2"',
        "overrides=[" + ",".join(f'"{o}"' for o in extra) + "]",
        "out=rep",
    ]
    proc = run_cli(args, tmp_path, "genre_lightning.report")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "rep"
    assert len(list((out / "demo").glob("*/metrics.json"))) == 2
    report = (out / "report.md").read_text()
    assert (
        "| demo | 2 |" in report and "experiment=RECIPE seed=1,2 data.clips_per_class=12" in report
    )
    assert report in proc.stdout
    # Summarising the same runs later recovers the overrides from Hydra's multirun.yaml.
    before = json.loads((out / "report.json").read_text())
    make_report(["demo"], out, collect_only=True)
    assert json.loads((out / "report.json").read_text()) == before


def test_a_setting_chosen_on_validation_reports_only_its_runs(tmp_path: Path) -> None:
    out = tmp_path / "report"
    folds = [f"data.fold={f}" for f in range(3)]
    jobs = [[fold, f"optimizer.weight_decay={wd}"] for wd in ("0.001", "0.1") for fold in folds]
    # weight decay 0.1 validates better (0.8 vs 0.6 on average) but tests worse: the test
    # numbers must not decide.
    val = [0.6, 0.6, 0.6, 0.8, 0.8, 0.8]
    test = [0.9, 0.9, 0.9, 0.5, 0.6, 0.7]
    _fake_sweep(out, "mfcc_baseline", test, task=[], jobs=jobs, val=val)
    markdown = make_report(
        ["mfcc_baseline"], out, collect_only=True, select="optimizer.weight_decay"
    )
    (row,) = json.loads((out / "report.json").read_text())["rows"]
    assert row["chosen"]["value"] == "0.1" and row["chosen"]["val_acc"] == pytest.approx(0.8)
    assert row["runs"] == 3 and row["test/acc"]["values"] == [0.5, 0.6, 0.7]
    assert "optimizer.weight_decay=0.1 (chosen on val among 0.001,0.1)" in markdown
    # Beside other rows, the swept values show as what the choice was among.
    shown = _with_choice("a=1 optimizer.weight_decay=1e-3,0.1", row["chosen"])
    assert shown == "a=1 optimizer.weight_decay=0.1 (chosen on val among 0.001,0.1)"
    with pytest.raises(UserError, match=r"select=optimizer\.lr: recipe mfcc_baseline has a run"):
        make_report(["mfcc_baseline"], out, collect_only=True, select="optimizer.lr")


def test_a_refit_is_a_second_row_and_fixes_the_chosen_value(tmp_path: Path) -> None:
    out = tmp_path / "report"
    folds = [f"data.fold={f}" for f in range(2)]
    jobs = [[fold, f"optimizer.weight_decay={wd}"] for wd in ("0.01", "1") for fold in folds]
    sweep = "data.fold=0,1 optimizer.weight_decay=0.01,1"
    _fake_sweep(
        out, "probe", [0.7, 0.8, 0.1, 0.2], task=sweep.split(), jobs=jobs, val=[0.5, 0.5, 0.9, 0.9]
    )
    # The refit runs of the chosen value (1), as the report trains them.
    refit_jobs = [[fold, "optimizer.weight_decay=1", "data.train_on_val=true"] for fold in folds]
    refit_task = ["data.fold=0,1", "optimizer.weight_decay=1", "data.train_on_val=true"]
    refit_dir = out / "probe" / "refit"
    _fake_sweep(out, "probe", [0.3, 0.4], task=refit_task, jobs=refit_jobs, folder=refit_dir)
    for job in (0, 1):  # a refit validates nothing
        metrics = out / "probe" / "refit" / str(job) / "metrics.json"
        metrics.write_text(json.dumps({**json.loads(metrics.read_text()), "val/acc_best": None}))

    markdown = make_report(
        ["probe"], out, sweep, collect_only=True, select="optimizer.weight_decay", refit=True
    )
    chosen, refit = json.loads((out / "report.json").read_text())["rows"]
    assert not chosen.get("refit") and chosen["test/acc"]["values"] == [0.1, 0.2]
    assert refit["refit"] and refit["test/acc"]["values"] == [0.3, 0.4]
    assert refit["chosen"] == chosen["chosen"] and refit["runs"] == 2
    lines = markdown.splitlines()
    assert lines[3].startswith("| probe (refit) | 2 | `data.train_on_val=true ")
    assert lines[2].startswith("| probe | 2 | `optimizer.weight_decay=1 (chosen on val among")
    assert "optimizer.weight_decay=1 (chosen on val among 0.01,1)` | 0.350 ± 0.071" in lines[3]
    assert lines[3].endswith("| — |")  # no validation accuracy
    assert "(refit) holds the same runs (of the chosen value) trained again" in markdown
    # Beside an older report, the refit row goes right after its recipe's row.
    other = {**chosen, "recipe": "other", "chosen": None}
    (out / "report.json").write_text(json.dumps({"rows": [chosen, other]}))
    make_report(
        ["probe"], out, sweep, collect_only=True, select="optimizer.weight_decay", refit=True
    )
    rows = json.loads((out / "report.json").read_text())["rows"]
    assert [(r["recipe"], bool(r.get("refit"))) for r in rows] == [
        ("probe", False),
        ("probe", True),
        ("other", False),
    ]
    # Collected again: each of the rows is replaced, not duplicated.
    make_report(
        ["probe"], out, sweep, collect_only=True, select="optimizer.weight_decay", refit=True
    )
    assert len(json.loads((out / "report.json").read_text())["rows"]) == 3
    assert refit_sweep(sweep, chosen["chosen"]) == "data.fold=0,1 optimizer.weight_decay=1"
    assert refit_sweep("seed=1,2", None) == "seed=1,2"


@pytest.mark.slow
def test_the_cli_refits_on_train_and_val_and_keeps_rows_on_a_late_failure(
    tmp_path: Path, data_dir: Path
) -> None:
    extra = [o for o in TINY if not o.startswith("experiment=")]
    extra += ["trainer.max_epochs=1", f"paths.data_dir={data_dir}", "data.split=kfold"]
    quoted = ",".join(f'"{o}"' for o in extra)
    args = ["recipes=[demo]", 'sweep="data.fold=0"', "refit=true", "out=rep"]
    # The demo tests its best-validation checkpoint, which a refit cannot choose: the refit
    # fails with the training's one error line, and the report keeps the finished row.
    proc = run_cli([*args, f"overrides=[{quoted}]"], tmp_path, "genre_lightning.report")
    assert proc.returncode == 2, proc.stderr[-3000:]
    # The training's line, then the report's own, which points at it.
    training, report = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert training.startswith("error: callbacks.model_checkpoint.monitor=val/acc needs valid")
    assert "recipe demo: training exited with status 2 (its error is above)" in report
    (row,) = json.loads((tmp_path / "rep" / "report.json").read_text())["rows"]
    assert row["recipe"] == "demo" and not row.get("refit")

    monitor = '"callbacks.model_checkpoint.monitor=null"'
    proc = run_cli(
        [*args, f"overrides=[{quoted},{monitor}]", "out=rep2"], tmp_path, "genre_lightning.report"
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    first, refit = (tmp_path / "rep2" / "demo" / "0", tmp_path / "rep2" / "demo" / "refit" / "0")
    parts = [
        {p: [r["track"] for r in _split(job) if r["part"] == p] for p in ("train", "val", "test")}
        for job in (first, refit)
    ]
    assert parts[1]["val"] == [] and parts[1]["test"] == parts[0]["test"]
    assert sorted(parts[1]["train"]) == sorted(parts[0]["train"] + parts[0]["val"])
    metrics = json.loads((refit / "metrics.json").read_text())
    assert metrics["num_clips"]["val"] == 0 and metrics["val/acc_best"] is None
    assert "| demo (refit) | 1 |" in proc.stdout


def _split(job: Path) -> list[dict[str, str]]:
    with open(job / "split.csv", newline="") as f:
        return list(csv.DictReader(f))
