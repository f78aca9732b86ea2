"""evaluate.py: a checkpoint re-tested alone gives exactly the numbers its training run wrote;
other data is composed as training composes it, checked against the checkpoint, never written.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, cast

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from PIL import Image

from genre_lightning import runs
from genre_lightning.app import CONFIG_DIR
from genre_lightning.data.index import GTZAN_GENRES
from genre_lightning.errors import UserError
from genre_lightning.evaluate import evaluate
from genre_lightning.inference import load_classifier

from .conftest import TINY, one_error_line, run_cli, start_cli
from .training.test_checkpoint import write_damaged

MODULE = "genre_lightning.evaluate"


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Every entry under ``folder`` (hidden ones too) with its size and modification time."""
    return {
        str(p.relative_to(folder)): (p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def gtzan_copy(gtzan_sample: Path, tmp_path: Path) -> Path:
    """One real clip per genre in the Kaggle layout (a copy: nothing may be written into it)."""
    root = tmp_path / "gtzan-copy"
    for genre in GTZAN_GENRES:
        (root / "genres_original" / genre).mkdir(parents=True)
        clip = f"genres_original/{genre}/{genre}.00000.wav"
        shutil.copy(gtzan_sample / clip, root / clip)
    return root


def test_cli_reproduces_the_training_metrics(tiny_ckpt: Path, tmp_path: Path) -> None:
    proc = run_cli([f"ckpt_path={tiny_ckpt}", "device=cpu"], tmp_path, MODULE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = runs.run_of_checkpoint(tiny_ckpt)
    trained = run.metrics
    assert Path(trained[runs.BEST_CKPT]) == tiny_ckpt

    # The default output: this run's own directory under outputs/evaluate/.
    (out,) = (p.parent for p in (tmp_path / "outputs" / "evaluate").glob("*/*/metrics.json"))
    assert str(out / "metrics.json") in proc.stdout and (out / "evaluate.log").is_file()
    metrics = runs.Run(out).metrics
    # Same checkpoint, same split, same features: the very same numbers, not approximately.
    for key in (runs.TEST_ACC, runs.TEST_F1_MACRO, runs.TEST_F1_PER_CLASS):
        assert metrics[key] == trained[key], key
    assert metrics[runs.CKPT_PATH] == str(tiny_ckpt.resolve())
    assert metrics[runs.NUM_CLIPS] == trained[runs.NUM_CLIPS]["test"]
    assert metrics[runs.DATA_CONFIG] == load_classifier(tiny_ckpt).data_config
    confusion = metrics[runs.CONFUSION_MATRIX]
    assert len(confusion) == 10 and sum(map(sum, confusion)) == metrics[runs.NUM_CLIPS]
    correct = sum(confusion[i][i] for i in range(10))
    assert correct / metrics[runs.NUM_CLIPS] == pytest.approx(metrics[runs.TEST_ACC])
    with Image.open(runs.Run(out).file("confusion_matrix")) as image:
        assert image.format == "PNG" and min(image.size) > 100


def test_multirun_evaluates_each_checkpoint(tiny_ckpt: Path, tmp_path: Path) -> None:
    last = runs.run_of_checkpoint(tiny_ckpt).checkpoint(runs.LAST)
    proc = run_cli(["-m", f"ckpt_path={tiny_ckpt},{last}", "device=cpu"], tmp_path, MODULE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted((tmp_path / "outputs" / "evaluate" / "multirun").glob("*/*/*/metrics.json"))
    assert [p.parent.name for p in jobs] == ["0", "1"]
    written = [json.loads(p.read_text()) for p in jobs]
    assert [m[runs.CKPT_PATH] for m in written] == [str(tiny_ckpt.resolve()), str(last.resolve())]
    assert written[0][runs.TEST_ACC] == runs.run_of_checkpoint(tiny_ckpt).metrics[runs.TEST_ACC]


def test_a_demo_checkpoint_on_a_gtzan_folder_is_refused_and_writes_nothing(
    tiny_ckpt: Path, gtzan_copy: Path, tmp_path: Path
) -> None:
    before = _listing(gtzan_copy)
    # data=folder: the folders name the classes, so they are listed (and nothing decoded).
    # (data=gtzan names them in its config: test_named_classes_are_checked_... below.)
    args = [f"ckpt_path={tiny_ckpt}", "data=folder", f"data.root={gtzan_copy}", "output=out"]
    proc = run_cli(args, tmp_path, MODULE)
    assert proc.returncode == 2, proc.stderr
    err = proc.stderr
    assert err.startswith("error: the checkpoint was trained on the classes [drone, chorale,")
    assert "but the data has the classes [blues, classical, country" in err
    assert err.count("\n") == 1
    assert _listing(gtzan_copy) == before
    assert not (tmp_path / "out").exists()


def test_a_demo_checkpoint_s_own_data_pointed_at_gtzan_writes_nothing(
    tiny_ckpt: Path, gtzan_copy: Path, tmp_path: Path
) -> None:
    # The checkpoint's synthetic data module would generate its set there: it refuses a folder
    # that is not its own.
    before = _listing(gtzan_copy)
    with pytest.raises(UserError, match=re.escape(f"data.root={gtzan_copy}")):
        evaluate(tiny_ckpt, tmp_path / "out", data_overrides={"root": str(gtzan_copy)})
    assert _listing(gtzan_copy) == before


def _composed(*overrides: str) -> dict[str, Any]:
    """The data config of ``evaluate`` for these overrides, as Hydra composes it."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("evaluate", overrides=["ckpt_path=x", *overrides])
    return cast(dict[str, Any], OmegaConf.to_container(cfg.data, resolve=True))


def test_data_composed_as_training_composes_it_gives_the_training_numbers(
    tiny_ckpt: Path, tmp_path: Path, data_dir: Path
) -> None:
    data = [o for o in TINY if o.startswith("data.")]
    config = _composed("data=synthetic", f"paths.data_dir={data_dir}", *data)
    metrics = evaluate(tiny_ckpt, tmp_path / "out", data_config=config, device="cpu")
    trained = runs.run_of_checkpoint(tiny_ckpt).metrics
    assert metrics[runs.TEST_ACC] == trained[runs.TEST_ACC]
    assert metrics[runs.CONFUSION_MATRIX] == trained[runs.CONFUSION_MATRIX]


def test_named_classes_are_checked_before_anything_is_read(tiny_ckpt: Path, tmp_path: Path) -> None:
    # data=gtzan names its classes: the mismatch is found before the folder is even looked at.
    config = _composed("data=gtzan", f"data.root={tmp_path / 'nothing here'}")
    with pytest.raises(
        UserError, match=r"trained on the classes \[drone, .*data has the classes \[blues"
    ):
        evaluate(tiny_ckpt, tmp_path / "out", data_config=config)
    assert not (tmp_path / "out").exists()


def test_changed_features_and_unknown_keys_are_refused(tiny_ckpt: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError) as err:
        evaluate(tiny_ckpt, tmp_path, data_overrides={"features": {"num_frames": 30}})
    assert "features of shape (1, 30, 64)" in str(err.value) and "(1, 45, 64)" in str(err.value)
    assert "data.clip_samples=44100" in str(err.value)  # the fix: the checkpoint's settings
    assert "data.features.num_frames=null" in str(err.value)  # its natural length: 45 frames
    with pytest.raises(UserError, match=r"^data\.rot: .*SyntheticDataModule has no such setting"):
        evaluate(tiny_ckpt, tmp_path, data_overrides={"rot": 3})


def test_bad_outputs_are_refused_before_the_checkpoint_is_read(tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text("{}")
    with pytest.raises(
        UserError, match=r"output=.*metrics.json: is a file, but output names a folder"
    ):
        evaluate(tmp_path / "not-read.ckpt", tmp_path / "metrics.json")
    with pytest.raises(UserError, match="output=/proc/gl: cannot create files in /proc"):
        evaluate(tmp_path / "not-read.ckpt", "/proc/gl")
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_bad_values_are_one_error_line_before_the_checkpoint_is_read(tmp_path: Path) -> None:
    # The checkpoint is junk: each value must be refused before it is read (its error would
    # come first otherwise). The data ones came as Hydra's multi-line instantiate report with
    # exit status 1; data=synthetic could not even resolve its clip length.
    ckpt = write_damaged("junk", tmp_path / "junk.ckpt")
    cases = {
        ("data.batch_size=0",): "error: data.batch_size=0 must be at least 1; e.g. data.batch",
        ("data.train_on_val=maybe",): "error: data.train_on_val=maybe must be true or false",
        ("data=synthetic", "data.batch_size=0"): "error: data.batch_size=0 must be at least 1",
        ("seed=-5",): "error: seed=-5 must be at least 0; e.g. seed=42",
        ("device=null",): "error: device=null must be auto, cpu, cuda or cuda:N",
        ("output=null",): "error: output=null must be a text",
        ("data._target_=builtins.len",): "error: data._target_=builtins.len is not a data module",
        (): f"error: ckpt_path={ckpt}: not a readable checkpoint (",
    }
    started = {
        args: start_cli([f"ckpt_path={ckpt}", "output=out", *args], tmp_path, MODULE)
        for args in cases
    }
    for args, proc in started.items():
        assert one_error_line(proc).startswith(cases[args]), args
    assert not (tmp_path / "out").exists()


def test_a_setting_bad_only_with_the_checkpoint_s_is_the_data_module_s_error(
    tiny_ckpt: Path, tmp_path: Path
) -> None:
    # 5 s chunks are fine alone, but the checkpoint's clips last 2 s: the data module refuses
    # it when built, and that UserError is not wrapped in Hydra's InstantiationException.
    with pytest.raises(UserError, match=r"^data\.chunk_seconds=5\.0 exceeds the clips' length"):
        evaluate(tiny_ckpt, tmp_path / "out", data_overrides={"chunk_seconds": 5.0})
