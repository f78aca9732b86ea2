"""report.py: recipes over seeds or folds, summarised as mean ± std, merged into one report."""

from __future__ import annotations

import csv
import json
import shutil
import statistics
from pathlib import Path
from typing import Any

import pytest
import yaml

from genre_lightning.errors import UserError
from genre_lightning.provenance import source_commit
from genre_lightning.report import make_report, refit_sweep
from genre_lightning.report_tables import _with_choice, paired_differences

from .conftest import TINY, one_error_line, run_cli, start_cli

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
    code: list[dict[str, Any]] | None = None,
    tested: list[list[str]] | None = None,
    confusion: list[list[list[int]]] | None = None,
) -> None:
    """A finished multirun of ``recipe`` under ``out`` as Hydra and training leave it: per job
    ``.hydra/overrides.yaml`` and ``metrics.json``; ``multirun.yaml`` when ``task`` is given.
    ``folder``: the sweep's folder, if not ``out/recipe``. ``code``: each job's provenance
    (none: as runs before it was recorded). ``tested``: each job's test tracks, written into
    its ``split.csv`` (``<genre>.<n>``). ``confusion``: each job's confusion matrix (genres
    blues, rock)."""
    sweep_dir = folder or out / recipe
    for job, acc in enumerate(accs):
        (sweep_dir / str(job) / ".hydra").mkdir(parents=True)
        overrides = [f"experiment={recipe}", *(jobs[job] if jobs else [f"seed={job}"])]
        (sweep_dir / str(job) / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
        metrics: dict[str, Any] = {"test/acc": acc, "test/f1_macro": acc / 2, "val/acc_best": acc}
        if val is not None:
            metrics["val/acc"] = val[job]
        if code is not None:
            metrics["provenance"] = code[job]
        if confusion is not None:
            metrics |= {"class_names": ["blues", "rock"], "confusion_matrix": confusion[job]}
        if tested is not None:
            lines = ["track,genre,part,path"]
            lines += [f"{t},{t.split('.')[0]},test,/music/{t}.wav" for t in tested[job]]
            (sweep_dir / str(job) / "split.csv").write_text("\n".join(lines) + "\n")
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


def test_the_report_names_the_code_its_runs_come_from(tmp_path: Path) -> None:
    head, other = "0123456789abcdef" * 2 + "01234567", "fedcba9876543210" * 2 + "76543210"
    clean = {"genre_lightning": "0.1.0", "commit": head, "modified": False}
    _fake_sweep(tmp_path, "a", [0.5, 0.7], COMMON, code=[clean, clean])
    make_report(["a"], tmp_path, collect_only=True)
    assert "Code: `0123456789ab` (each run's" in (tmp_path / "report.md").read_text()
    # A mix of versions, edits not committed, a wheel and runs that recorded nothing: all said.
    edited = {**clean, "modified": True}
    wheel = {"genre_lightning": "0.2.0", "commit": None, "modified": None}
    _fake_sweep(tmp_path, "b", [0.4, 0.6], COMMON, code=[edited, {**clean, "commit": other}])
    _fake_sweep(tmp_path, "c", [0.3], COMMON, code=[wheel])
    _fake_sweep(tmp_path, "d", [0.2], COMMON)
    make_report(["b", "c", "d"], tmp_path, collect_only=True)
    record = json.loads((tmp_path / "report.json").read_text())
    assert [row["code"] for row in record["rows"]] == [
        ["0123456789ab"],
        ["0123456789ab+modified", "fedcba987654"],
        ["genre_lightning 0.2.0"],
        ["unrecorded"],
    ]
    assert (
        "Code: the runs come from 5 versions (`0123456789ab`, `0123456789ab+modified`, "
        "`fedcba987654`, `genre_lightning 0.2.0`, `unrecorded`); report.json gives each row's."
    ) in (tmp_path / "report.md").read_text()


def test_the_best_row_is_compared_with_each_other_on_the_tracks_both_tested(
    tmp_path: Path,
) -> None:
    folds = [["blues.0", "rock.0"], ["blues.1", "rock.1"], ["blues.2", "rock.2"]]
    _fake_sweep(tmp_path, "a", [0.9, 0.8, 0.7], COMMON, tested=folds)
    _fake_sweep(tmp_path, "b", [0.7, 0.8, 0.8], COMMON, tested=folds)
    # Folds in another order pair by their tracks, not by job number.
    _fake_sweep(tmp_path, "c", [0.5, 0.7, 0.6], COMMON, tested=folds[::-1])
    _fake_sweep(tmp_path, "d", [0.1, 0.1], COMMON, tested=[["blues.9"], ["rock.9"]])  # others'
    _fake_sweep(tmp_path, "e", [0.3, 0.5], COMMON, tested=[folds[0], folds[0]])  # seeds: one set
    make_report(["a", "b", "c", "d", "e"], tmp_path, collect_only=True)
    markdown = (tmp_path / "report.md").read_text()
    paired = markdown[markdown.index("Paired with the best row, a: ") :]
    table = [line for line in paired.splitlines() if line.startswith("| ")]
    assert table == [
        "| row | test sets | difference | ahead / level / behind |",
        "| b | 3 | +0.033 ± 0.153 | 1 / 1 / 1 |",  # 0.2, 0.0, -0.1
        "| c | 3 | +0.200 ± 0.100 | 3 / 0 / 0 |",  # 0.3, 0.1, 0.2: c's jobs were 2, 1, 0
    ]
    record = json.loads((tmp_path / "report.json").read_text())["rows"]
    assert [sorted(r["test_sets"].values()) for r in record][-1] == [[0.3, 0.5]]


def test_each_genre_s_tracks_named_correctly_are_summed_over_a_row_s_runs(
    tmp_path: Path,
) -> None:
    _fake_sweep(tmp_path, "a", [0.75, 0.5], COMMON, confusion=[[[2, 0], [1, 1]], [[1, 1], [0, 2]]])
    _fake_sweep(tmp_path, "b", [1.0], COMMON, confusion=[[[3, 0], [0, 1]]])
    _fake_sweep(tmp_path, "c", [0.5], COMMON)  # recorded no confusion matrix: no line
    make_report(["a", "b", "c"], tmp_path, collect_only=True)
    markdown = (tmp_path / "report.md").read_text()
    table = markdown[markdown.index("Per genre: test tracks named correctly") :]
    assert [line for line in table.splitlines() if line.startswith("| ")] == [
        "| row | blues | rock |",
        "| a | 3/4 | 3/4 |",  # rows the true genres: blues 2+1 of 2+2, rock 1+2 of 2+2
        "| b | 3/3 | 1/1 |",
    ]
    record = json.loads((tmp_path / "report.json").read_text())["rows"]
    assert record[0]["confusion"] == {"class_names": ["blues", "rock"], "matrix": [[3, 1], [1, 3]]}
    assert record[2]["confusion"] is None


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
    _fake_sweep(tmp_path, "demo", [0.5, 0.6], task=["seed=1,2"])
    with pytest.raises(UserError, match="already holds runs of demo; to summarise them add"):
        make_report(["demo"], tmp_path)
    with pytest.raises(UserError, match=r"^out=.*: is a file"):
        make_report(["demo"], tmp_path / "demo" / "0" / "metrics.json", collect_only=True)
    # refit=true may add a refit to runs of this very command only, and only once.
    with pytest.raises(
        UserError, match=r"holds runs of demo but not of this command \(they were trained with "
    ):
        make_report(["demo"], tmp_path, "seed=1,2,3", refit=True)
    refit = tmp_path / "demo" / "refit"
    _fake_sweep(tmp_path, "demo", [0.5, 0.6], task=["seed=1,2"], folder=refit)
    with pytest.raises(UserError, match="already holds runs of demo and their refit; to summar"):
        make_report(["demo"], tmp_path, "seed=1,2", refit=True)
    # Collected with refit=true, runs that were never refitted say how to refit them.
    shutil.rmtree(refit)
    with pytest.raises(
        UserError,
        match=r"no finished refit runs under .*refit: the runs of demo were not refitted; to "
        r"refit them run the report without collect_only=true",
    ):
        make_report(["demo"], tmp_path, collect_only=True, refit=True)
    assert not (tmp_path / "report.json").exists()  # nothing was written
    # Jobs of another command that all failed are not continued with this one's settings.
    (tmp_path / "seed_resnet" / "0" / ".hydra").mkdir(parents=True)
    _fake_sweep(tmp_path, "seed_resnet", [], task=["seed=1,2"])
    with pytest.raises(UserError, match="holds runs of seed_resnet that did not finish, of anot"):
        make_report(["seed_resnet"], tmp_path, "seed=3")


def test_a_recipe_that_fails_leaves_the_others_rows_and_unfinished_jobs_are_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Two recipes' runs, of which the first lost a job (its folder has no metrics.json).
    _fake_sweep(tmp_path, "demo", [0.5, 0.7], task=["seed=1,2,3"])
    (tmp_path / "demo" / "2" / ".hydra").mkdir(parents=True)
    _fake_sweep(tmp_path, "other", [0.6], task=["seed=1"])
    with pytest.raises(UserError, match=r"holds runs of demo \(1 of its 3 jobs did not finish"):
        make_report(["demo"], tmp_path, "seed=1,2")  # another command: says why it will not train
    with pytest.raises(UserError) as caught:  # "nothing" fails: demo and other still report
        make_report(["demo", "nothing", "other"], tmp_path, collect_only=True)
    assert str(caught.value).startswith(
        "1 of the 3 recipes failed: nothing (each one's error is above); "
    )
    out, err = capsys.readouterr()
    assert (
        "[report] demo: 1 of its 3 jobs did not finish: the log in each job's folder says why; "
        "its row is over the runs that did" in out
    )
    assert err.startswith("error: no finished runs under ") and "nothing" in err
    assert [(r["recipe"], r["runs"]) for r in _rows(tmp_path)] == [("demo", "2"), ("other", "1")]


def test_training_is_checked_before_any_recipe_trains(tmp_path: Path) -> None:
    out = tmp_path / "report"
    kfold = ["data.split=kfold", "data.num_folds=5"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"recipes": ["demo", "demo"]}, r"recipes=\[demo,demo\] names demo more than once; "),
        ({"recipes": ["demo", "nosuch"]}, "nosuch is not an experiment config; the experiments: "),
        ({"sweep": "seed=1 foo"}, "sweep=seed=1 foo: foo cannot be read as a training override"),
        # A value of the sweep other than the first, checked like the first.
        ({"sweep": "data.fold=0,7", "overrides": kfold}, "recipe demo: data.fold=7 must be in"),
        # Folds of a random split would be the same split each time.
        ({"sweep": "data.fold=0,1"}, "recipe demo: data.fold=0 has no effect: its runs are split"),
        ({"overrides": ["trainer.max_epochs=0"]}, "recipe demo: trainer.max_epochs=0 must be"),
        # The demo tests its best-validation checkpoint, which a refit cannot choose.
        (
            {"refit": True},
            r"recipe demo cannot be refitted \(refit=true trains its runs again with "
            r"data.train_on_val=true\): callbacks.model_checkpoint.monitor=val/acc needs",
        ),
        # The final model's split tests nothing: no row to report.
        (
            {"overrides": ["data.split=all", "callbacks.model_checkpoint.monitor=null"]},
            "recipe demo: data.split=all tests nothing, and the report compares test scores",
        ),
        # select must name a key the runs take two or more values of.
        (
            {"select": "optimizer.weight_decay", "sweep": "seed=1,2"},
            "select=optimizer.weight_decay: the runs do not vary optimizer.weight_decay",
        ),
        (
            {"select": "optimizer.lr", "overrides": ["optimizer.lr=0.1"]},
            "select=optimizer.lr: the runs all have optimizer.lr=0.1, so there is nothing",
        ),
    ]
    for case, message in cases:
        recipes = case.pop("recipes", ["demo"])
        with pytest.raises(UserError, match=message):
            make_report(recipes, out, **case)
        assert not out.exists()  # nothing trained, nothing written


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
    commit, modified = source_commit()  # this clone's (a wheel's: its version)
    code = f"{commit[:12]}{'+modified' if modified else ''}" if commit else "genre_lightning "
    assert f"Code: `{code}" in report
    # Summarising the same runs later recovers the overrides from Hydra's multirun.yaml.
    before = json.loads((out / "report.json").read_text())
    make_report(["demo"], out, collect_only=True)
    assert json.loads((out / "report.json").read_text()) == before

    # Interrupted: job 0 failed before saving anything, job 1 stopped after its last.ckpt.
    # The same command trains only those two again: job 1 resumes, job 0 starts afresh, its
    # old folder (its log) kept aside. It used to refuse, saying to remove the recipe's folder.
    for job in ("0", "1"):
        (out / "demo" / job / "metrics.json").unlink()
    shutil.rmtree(out / "demo" / "0" / "checkpoints")
    (out / "demo" / "sweep_summary.csv").unlink()  # what the multirun's end wrote
    proc = run_cli(args, tmp_path, "genre_lightning.report")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "[report] demo: continuing the multirun in rep/demo: 2 of its 2 jobs left no" in (
        proc.stdout
    )
    (failed,) = (out / "demo" / ".failed").iterdir()
    assert failed.name.startswith("0-") and (failed / "train.log").is_file()
    assert all((out / "demo" / job / "metrics.json").is_file() for job in ("0", "1"))
    assert list((out / "demo" / "1" / ".hydra").glob("resume-*/overrides.yaml"))
    overrides = yaml.safe_load((out / "demo" / "0" / ".hydra" / "overrides.yaml").read_text())
    assert "seed=1" in overrides  # Hydra's job 0, trained with its own settings
    assert [r["runs"] for r in json.loads((out / "report.json").read_text())["rows"]] == [2]
    with open(out / "demo" / "sweep_summary.csv", newline="") as f:  # written anew
        assert sorted(r["job"] for r in csv.DictReader(f) if r["test/acc"]) == ["0", "1"]


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
    with open(out / "report.csv", newline="") as f:  # the CSV's row says which value it holds
        assert next(csv.DictReader(f))["overrides"].endswith(
            "optimizer.weight_decay=0.1 (chosen on val among 0.001,0.1)"
        )
    with pytest.raises(UserError, match=r"select=optimizer\.lr: recipe mfcc_baseline has a run"):
        make_report(["mfcc_baseline"], out, collect_only=True, select="optimizer.lr")


def test_a_tie_on_validation_is_not_called_a_choice(tmp_path: Path) -> None:
    # Every value validated alike (the probe's three weight decays on the sample's CV): the
    # report said the first swept was "chosen on val".
    folds = [f"data.fold={f}" for f in range(2)]
    jobs = [[fold, f"optimizer.weight_decay={wd}"] for wd in ("0.01", "0.1", "1") for fold in folds]
    val = [0.7, 0.6, 0.6, 0.7, 0.65, 0.5]
    _fake_sweep(tmp_path, "probe", [0.8] * 6, task=[], jobs=jobs, val=val)
    markdown = make_report(["probe"], tmp_path, collect_only=True, select="optimizer.weight_decay")
    assert "optimizer.weight_decay=0.01 (tied on val with 0.1)" in markdown
    assert "chosen on val among" not in markdown


def test_select_needs_a_key_the_runs_take_two_values_of(tmp_path: Path) -> None:
    # Fixed in the overrides (every job records it), or a sweep of one value: no choice.
    jobs = [[f"data.fold={f}", "optimizer.weight_decay=0.1"] for f in range(2)]
    _fake_sweep(tmp_path, "fixed", [0.5, 0.6], task=[], jobs=jobs, val=[0.5, 0.5])
    _fake_sweep(tmp_path, "one_seed", [0.5], task=[], val=[0.5])
    for recipe, key, value in (
        ("fixed", "optimizer.weight_decay", "0.1"),
        ("one_seed", "seed", "0"),
    ):
        with pytest.raises(
            UserError,
            match=rf"^select={key}: the runs of {recipe} all have {key}={value}, so there is "
            rf"nothing to choose on validation; sweep two or more values",
        ):
            make_report([recipe], tmp_path, collect_only=True, select=key)
    assert not (tmp_path / "report.json").exists()


def test_a_refit_is_a_second_row_and_fixes_the_chosen_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    folds = [f"data.fold={f}" for f in range(2)]
    jobs = [[fold, f"optimizer.weight_decay={wd}"] for wd in ("0.01", "1") for fold in folds]
    sweep = "data.fold=0,1 optimizer.weight_decay=0.01,1"
    _fake_sweep(
        out, "probe", [0.7, 0.8, 0.1, 0.2], task=sweep.split(), jobs=jobs, val=[0.5, 0.5, 0.9, 0.9]
    )
    # The refit runs of the chosen value (1), as the report trains them.
    refit_jobs = [[fold, "optimizer.weight_decay=1", "data.train_on_val=True"] for fold in folds]
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
    # report.csv tells the two rows apart too.
    csv_rows = [(r["recipe"], r["refit"], float(r["test/acc mean"])) for r in _rows(out)]
    assert csv_rows == [("probe", "false", pytest.approx(0.15)), ("probe", "true", 0.35)]
    # No validation accuracy: an empty cell and JSON null (strict JSON: no NaN).
    assert _rows(out)[1]["val/acc_best mean"] == ""
    strict = json.loads((out / "report.json").read_text(), parse_constant=pytest.fail)
    assert strict["rows"][1]["val/acc_best"] == {"mean": None, "std": None, "values": []}
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
    # A key the sweep adds (+key=) is added at its chosen value too: without the + Hydra
    # would refuse it as unknown.
    added = {"key": "model.extra", "value": 2}
    assert refit_sweep("seed=1 +model.extra=1,2", added) == "seed=1 +model.extra=2"

    # The refit runs hold weight decay 1 only: beside a row of other runs (every value, or
    # another choice) they are refused, and the report stays as it was.
    before = (out / "report.json").read_text()
    for select in (None, "data.fold"):
        with pytest.raises(
            UserError,
            match=r"^recipe probe: the refit runs under .*refit are not the runs of its row "
            r"trained again \(all of them have optimizer.weight_decay=1, not all of the row's "
            r"runs do\); collect them with the select they were refitted after \(select="
            r"optimizer.weight_decay\?\), or remove ",
        ):
            make_report(["probe"], out, sweep, collect_only=True, select=select, refit=True)
        assert (out / "report.json").read_text() == before
    # Without refit=true, the recipe's new row replaces the old one and its refit row goes.
    markdown = make_report(["probe"], out, sweep, collect_only=True)
    assert "its (refit) row was dropped with the row it refitted" in capsys.readouterr().out
    rows = json.loads((out / "report.json").read_text())["rows"]
    assert [(r["recipe"], bool(r.get("refit"))) for r in rows] == [
        ("probe", False),
        ("other", False),
    ]
    assert rows[0]["runs"] == 4 and "(refit)" not in markdown


def test_the_cli_refuses_bad_values_in_one_line(tmp_path: Path) -> None:
    cases = {
        "refit=no": "refit=no must be true or false; e.g. refit=true",
        "collect_only=yes": "collect_only=yes must be true or false; e.g. collect_only=true",
        "recipes=null": "recipes=null must be a list of texts; e.g. recipes=[seed_resnet,",
        "overrides=null": "overrides=null must be a list of texts; e.g. overrides='[",
        "out=null": "out=null must be a text; e.g. out=reports/seeds",
        "sweep=null": """sweep=null must be a text; e.g. sweep='"seed=1,2,3"'""",
        "sweep=[a,b]": "sweep=[a,b] must be a text; e.g. sweep=",
        "select=[a,b]": "select=[a,b] must be a text or null; e.g. select=optimizer.weight_decay",
        "select=true": "select=true must be a text or null; e.g. select=optimizer.weight_decay",
        "recipes=[demo,demo]": "recipes=[demo,demo] names demo more than once; name each recipe",
    }
    # Started together, so their imports overlap; each with its own run folder.
    procs = {
        arg: start_cli(
            ["recipes=[demo]", "out=rep", "collect_only=true", arg, f"hydra.run.dir=run{i}"],
            tmp_path,
            "genre_lightning.report",
        )
        for i, arg in enumerate(cases)
    }
    for arg, proc in procs.items():
        assert one_error_line(proc).startswith(f"error: {cases[arg]}"), arg
    assert not (tmp_path / "rep").exists()


@pytest.mark.slow
def test_the_cli_checks_a_refit_first_and_adds_one_to_earlier_runs(
    tmp_path: Path, data_dir: Path
) -> None:
    extra = [o for o in TINY if not o.startswith("experiment=")]
    extra += ["trainer.max_epochs=1", f"paths.data_dir={data_dir}", "data.split=kfold"]
    quoted = ",".join(f'"{o}"' for o in extra)
    args = ["recipes=[demo]", 'sweep="data.fold=0"', "out=rep", f"overrides=[{quoted}]"]
    report = "genre_lightning.report"
    # The demo tests its best-validation checkpoint, which a refit cannot choose: one error
    # line naming the recipe, before anything is trained.
    proc = run_cli([*args, "refit=true"], tmp_path, report)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert proc.stderr.startswith("error: recipe demo cannot be refitted (refit=true trains its")
    assert len(proc.stderr.splitlines()) == 1 and "[report]" not in proc.stdout
    assert not (tmp_path / "rep").exists()

    monitor = '"callbacks.model_checkpoint.monitor=null"'
    args[-1] = f"overrides=[{quoted},{monitor}]"
    proc = run_cli(args, tmp_path, report)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = tmp_path / "rep" / "demo" / "0"
    trained = (first / "metrics.json").stat().st_mtime_ns

    # refit=true on the runs of the same command trains their refit only. A refit that fails
    # (here: its folder is a file) says what the report holds and how to retry.
    refit_dir = tmp_path / "rep" / "demo" / "refit"
    refit_dir.write_text("in the way\n")
    proc = run_cli([*args, "refit=true"], tmp_path, report)
    assert proc.returncode == 2, proc.stderr[-3000:]
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("error: recipe demo: training exited with status 2 (its error is ab")
    assert last.endswith(
        "its row is in rep/report.md, its (refit) row was not written; run the same command "
        "again: it trains only the refit runs that left no results"
    )
    (row,) = json.loads((tmp_path / "rep" / "report.json").read_text())["rows"]
    assert row["recipe"] == "demo" and not row.get("refit")
    refit_dir.unlink()
    proc = run_cli([*args, "refit=true"], tmp_path, report)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (command,) = [line for line in proc.stdout.splitlines() if line.startswith("[report]")]
    assert command.endswith("data.train_on_val=true")
    assert (first / "metrics.json").stat().st_mtime_ns == trained  # not trained again
    refit = refit_dir / "0"
    parts = [
        {p: [r["track"] for r in _split(job) if r["part"] == p] for p in ("train", "val", "test")}
        for job in (first, refit)
    ]
    assert parts[1]["val"] == [] and parts[1]["test"] == parts[0]["test"]
    assert sorted(parts[1]["train"]) == sorted(parts[0]["train"] + parts[0]["val"])
    metrics = json.loads((refit / "metrics.json").read_text())
    assert metrics["num_clips"]["val"] == 0 and metrics["val/acc_best"] is None
    assert "| demo (refit) | 1 |" in proc.stdout
    rows = json.loads((tmp_path / "rep" / "report.json").read_text())["rows"]
    assert [bool(r.get("refit")) for r in rows] == [False, True]


def _split(job: Path) -> list[dict[str, str]]:
    with open(job / "split.csv", newline="") as f:
        return list(csv.DictReader(f))


# -- the README's results tables are the committed reports' numbers ---------------------------

REPO = Path(__file__).resolve().parents[1]


def _readme_table(header: str) -> list[list[str]]:
    """The rows (cells stripped) of the README table whose header line starts with ``header``."""
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:  # past the header and its |---| line
        if not line.startswith("|"):
            break
        rows.append([cell.strip().strip("*") for cell in line.strip().strip("|").split("|")])
    return rows


def _report_rows(name: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads((REPO / "reports" / name / "report.json").read_text())[
        "rows"
    ]
    return rows


def _mean_std(summary: dict[str, Any]) -> str:
    return f"{summary['mean']:.3f} ± {summary['std']:.3f}"


def _refit(row: dict[str, Any]) -> bool:
    """Whether a report row holds the refit runs (trained on train + val)."""
    return "data.train_on_val=true" in row["overrides"]


def test_the_readme_results_table_is_the_committed_report() -> None:
    # The README quotes reports/gtzan-sample-cv; a rerun of make report that the README does
    # not follow (or a number typed by hand) fails here.
    table = _readme_table("| recipe | test acc | test macro F1 | per fold")
    report = _report_rows("gtzan-sample-cv")
    assert len(table) == len(report)
    for (label, acc, f1, folds, _), row in zip(table, report, strict=True):
        assert ("refit" in label) == _refit(row), (label, row["recipe"])
        if not _refit(row):
            assert f"`experiment={row['recipe']}`" in label, (label, row["recipe"])
        assert acc == _mean_std(row["test/acc"]), label
        assert f1 == _mean_std(row["test/f1_macro"]), label
        assert folds == " / ".join(f"{v:.1f}" for v in row["test/acc"]["values"]), label


def test_the_readme_deals_table_is_the_committed_report() -> None:
    table = _readme_table("| recipe | test acc, 15 runs |")
    deals = _report_rows("gtzan-sample-deals")
    # The main table's first fits (not the refits): the deal of seed 42.
    first_fits = {r["recipe"]: r for r in _report_rows("gtzan-sample-cv") if not _refit(r)}
    assert len(table) == len(deals)
    for (label, acc, per_deal, main_deal), row in zip(table, deals, strict=True):
        assert row["recipe"].split("_")[0] in label.lower(), (label, row["recipe"])
        values = row["test/acc"]["values"]
        # The sweep's jobs run deal by deal (data.split_seed=1,2,3 outermost), five folds each.
        assert "data.split_seed=1,2,3" in row["overrides"]
        means = [statistics.mean(values[i : i + 5]) for i in range(0, len(values), 5)]
        assert acc == _mean_std(row["test/acc"]), label
        assert per_deal == " / ".join(f"{m:.2f}" for m in means), label
        assert main_deal == f"{first_fits[row['recipe']]['test/acc']['mean']:.2f}", label


def test_the_readme_s_fold_by_fold_differences_are_the_committed_reports() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name in ("gtzan-sample-cv", "gtzan-sample-deals"):
        first_fits = {r["recipe"]: r for r in _report_rows(name) if not _refit(r)}
        diffs = paired_differences(first_fits["musicnn_probe"], first_fits["mfcc_baseline"])
        assert diffs is not None and len(diffs) == (5 if name.endswith("cv") else 15), name
        quoted = f"{statistics.fmean(diffs):+.3f} ± {statistics.stdev(diffs):.3f}"
        assert quoted in readme, (name, quoted)
        # ...and the committed report.md says the same.
        assert f"| mfcc_baseline | {len(diffs)} | {quoted} |" in (
            REPO / "reports" / name / "report.md"
        ).read_text(encoding="utf-8")


def test_the_readme_s_per_genre_counts_are_the_committed_reports() -> None:
    readme = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())

    def named(report: str, recipe: str, genre: str) -> str:
        (row,) = [r for r in _report_rows(report) if r["recipe"] == recipe and not _refit(r)]
        i = row["confusion"]["class_names"].index(genre)
        matrix = row["confusion"]["matrix"]
        return f"{matrix[i][i]} of {sum(matrix[i])}"

    probe = named("gtzan-sample-cv", "musicnn_probe", "hiphop")
    deals = named("gtzan-sample-deals", "musicnn_probe", "hiphop")
    baseline = named("gtzan-sample-cv", "mfcc_baseline", "hiphop")
    assert f"hip-hop: {probe} ({deals} over the other deals below)" in readme
    assert f"where the MFCC baseline names {baseline}." in readme
    for genre in ("classical", "jazz", "metal", "rock"):  # "every ... track"
        count = named("gtzan-sample-cv", "musicnn_probe", genre).split(" of ")
        assert count[0] == count[1], genre
