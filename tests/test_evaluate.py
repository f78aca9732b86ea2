"""evaluate.py: a checkpoint re-tested alone gives exactly the numbers its training run wrote;
other data is composed as training composes it, checked against the checkpoint, never written.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from genre_lightning import runs
from genre_lightning.data.index import GTZAN_GENRES
from genre_lightning.errors import UserError
from genre_lightning.evaluate import checkpoint_data_config, evaluate
from genre_lightning.hydra_conf import CONFIG_DIR
from genre_lightning.inference import load_classifier

from .conftest import TINY, _train, one_error_line, run_cli, start_cli
from .training.test_checkpoint import write_damaged

MODULE = "genre_lightning.evaluate"
#: musicnn's front end (conf/experiment/musicnn_probe.yaml), on 1 s chunks of the tiny set: every
#: one of these differs from what data=synthetic composes, as for a musicnn probe and data=folder.
FRONT_END = {
    "data.chunk_seconds": "1.0",
    "data.features.n_fft": "512",
    "data.features.win_length": "512",
    "data.features.hop_length": "256",
    "data.features.n_mels": "96",
    "data.features.log": "musicnn",
    "data.features.pad_mode": "reflect",
    "data.features.resample_to": "16000",
}


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


@pytest.fixture(scope="module")
def front_end_ckpt(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """ResNet on the tiny set seen through musicnn's front end: (1, 63, 96) features."""
    front_end = [f"{key}={value}" for key, value in FRONT_END.items()]
    overrides = [*TINY, *front_end, "trainer.max_epochs=1", "+trainer.limit_train_batches=2"]
    return _train("front-end", tmp_path_factory, data_dir, overrides)


def test_cli_reproduces_the_training_metrics(tiny_ckpt: Path, tmp_path: Path) -> None:
    proc = run_cli([f"ckpt_path={tiny_ckpt}", "device=cpu"], tmp_path, MODULE)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = runs.run_of_checkpoint(tiny_ckpt)
    trained = run.metrics
    assert Path(trained[runs.BEST_CKPT]) == tiny_ckpt

    # The default output: this run's own directory under outputs/evaluate/.
    (out,) = (p.parent for p in (tmp_path / "outputs" / "evaluate").glob("*/*/metrics.json"))
    assert str(out / "metrics.json") in proc.stdout and (out / "evaluate.log").is_file()
    log = (out / "evaluate.log").read_text()  # keeps the table and the summary line
    assert all(line in log for line in proc.stdout.splitlines()), (log, proc.stdout)
    metrics = runs.Run(out).metrics
    # Same checkpoint, same split, same features: the very same numbers, not approximately.
    for key in (runs.TEST_ACC, runs.TEST_F1_MACRO, runs.TEST_F1_PER_CLASS):
        assert metrics[key] == trained[key], key
    assert metrics[runs.CKPT_PATH] == str(tiny_ckpt.resolve())
    # Per part, as training writes it.
    assert metrics[runs.NUM_CLIPS] == {"test": trained[runs.NUM_CLIPS]["test"]}
    assert metrics[runs.DATA_CONFIG] == load_classifier(tiny_ckpt).data_config
    assert metrics[runs.PROVENANCE] == trained[runs.PROVENANCE]  # same code, libraries, device
    # The checkpoint names what trained it, which evaluate passes on beside its own.
    assert metrics[runs.TRAINED_WITH] == trained[runs.PROVENANCE]
    confusion = metrics[runs.CONFUSION_MATRIX]
    assert len(confusion) == 10 and sum(map(sum, confusion)) == metrics[runs.NUM_CLIPS]["test"]
    correct = sum(confusion[i][i] for i in range(10))
    assert correct / metrics[runs.NUM_CLIPS]["test"] == pytest.approx(metrics[runs.TEST_ACC])
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


def test_a_genre_folder_a_gtzan_checkpoint_never_learnt_is_refused(
    gtzan_ckpt: Path, gtzan_sample: Path, tmp_path: Path
) -> None:
    # Its data config names GTZAN's ten genres: a polka folder was left out of the scores
    # without a word (exit 0), where data=folder refused it.
    for genre, folder in (("blues", "blues"), ("jazz", "jazz"), ("rock", "polka")):
        (tmp_path / "mine" / folder).mkdir(parents=True)
        # Under another name: the user's own recordings, not tracks its run learned.
        clip = next((gtzan_sample / "genres_original" / genre).glob("*.wav"))
        shutil.copy(clip, tmp_path / "mine" / folder / f"mine-{clip.name}")
    args = [f"ckpt_path={gtzan_ckpt}", f"data.root={tmp_path / 'mine'}", "data.split=test"]
    proc = run_cli([*args, "output=out"], tmp_path, MODULE)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr[-2000:]
    assert proc.stderr.endswith(
        "it cannot be scored on [polka], which it never learnt: leave it out: "
        "data.class_names=[blues,jazz]\n"
    )
    assert not (tmp_path / "out").exists()
    # The fix it names: the two genres scored, polka left out as asked.
    proc = run_cli([*args, "data.class_names=[blues,jazz]", "output=out"], tmp_path, MODULE)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert runs.Run(tmp_path / "out").metrics[runs.NUM_CLIPS] == {"test": 2}


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
    # A notebook's torch, as the session's in-process trainings may have left it otherwise.
    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(False)
    workspace = os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
    try:
        metrics = evaluate(tiny_ckpt, tmp_path / "out", data_config=config, device="cpu")
        # Its deterministic Trainer switched these on for the caller, for good.
        assert not torch.are_deterministic_algorithms_enabled()
        assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ
    finally:
        torch.use_deterministic_algorithms(deterministic)
        if workspace is not None:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = workspace
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
        evaluate(tiny_ckpt, tmp_path, data_overrides={"features": {"num_frames": 42}})
    assert str(err.value) == (
        "these data settings give features of shape (1, 42, 64), the checkpoint was trained on "
        "(1, 45, 64); set the checkpoint's values: data.features.num_frames=null"
    )  # only the setting that differs (its natural length: 45 frames); data= was left out
    with pytest.raises(UserError, match=r"^data\.rot: .*SyntheticDataModule has no such setting"):
        evaluate(tiny_ckpt, tmp_path, data_overrides={"rot": 3})
    # The saved clip length is a number: other seconds made another set, read cropped.
    with pytest.raises(UserError) as err:
        evaluate(tiny_ckpt, tmp_path / "out", data_overrides={"seconds": 4.0})
    assert str(err.value) == (
        "data.seconds=4.0 makes clips of 88200 samples, but the checkpoint's network reads "
        "data.clip_samples=44100; leave data.seconds out (the checkpoint's 2.0)"
    )
    assert not (tmp_path / "out").exists()


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


def _composed_tiny(data_dir: Path) -> list[str]:
    """data=synthetic as the tiny runs compose it: the tiny set, training's features."""
    return [
        "data=synthetic",
        f"paths.data_dir={data_dir}",
        *(o for o in TINY if o.startswith("data.")),
    ]


def test_a_feature_mismatch_names_every_differing_setting_and_both_fixes_work(
    front_end_ckpt: Path, data_dir: Path, tmp_path: Path
) -> None:
    # A musicnn probe evaluated with data=folder: the suggestion named the window settings only,
    # and following it met the next error (the mel settings). Both routes it offers must work.
    base = [f"ckpt_path={front_end_ckpt}", "device=cpu"]
    composed = _composed_tiny(data_dir)
    err = one_error_line(run_cli([*base, *composed, "output=refused"], tmp_path, MODULE))
    root = data_dir / "synthetic"
    assert err.startswith(
        "error: these data settings give features of shape (1, 45, 64), the checkpoint was "
        f"trained on (1, 63, 96); leave data= out to use the checkpoint's own data settings "
        f"and give only data.root={root}, or set the checkpoint's values: "
    ), err
    settings = err.partition("set the checkpoint's values: ")[2].split()
    assert sorted(settings) == sorted(f"{k}={v}" for k, v in FRONT_END.items())  # all, no more
    assert not (tmp_path / "refused").exists()

    followed = {
        "settings": start_cli([*base, *composed, *settings, "output=settings"], tmp_path, MODULE),
        "own": start_cli([*base, f"data.root={root}", "output=own"], tmp_path, MODULE),
    }
    trained = runs.run_of_checkpoint(front_end_ckpt).metrics
    for name, proc in followed.items():
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, (name, stderr[-3000:])
        metrics = runs.Run(tmp_path / name).metrics
        # The network's own test inputs again: its training run's very numbers.
        assert metrics[runs.TEST_ACC] == trained[runs.TEST_ACC], name
        assert metrics[runs.CONFUSION_MATRIX] == trained[runs.CONFUSION_MATRIX], name


def test_features_of_the_right_shape_computed_otherwise_are_refused(
    front_end_ckpt: Path, data_dir: Path, tmp_path: Path
) -> None:
    # Decibels instead of musicnn's compression, constant instead of reflect padding: the same
    # (1, 63, 96) images, unlike any the network was trained on.
    base = [f"ckpt_path={front_end_ckpt}", "device=cpu"]
    front_end = [f"{k}={v}" for k, v in FRONT_END.items() if k != "data.features.log"]
    same_shape = "the features have the shape the network takes, (1, 63, 96), but not the values"
    refused = {
        # data=...: the setting named, the fix complete, and the checkpoint's own data offered.
        (*_composed_tiny(data_dir), *front_end, "data.features.log=db"): (
            f"error: data.features.log=db differs from the checkpoint's musicnn: {same_shape}",
            "; leave data= out to use the checkpoint's own data settings and give only "
            f"data.root={data_dir / 'synthetic'}, or set the checkpoint's values: "
            "data.features.log=musicnn",
        ),
        # The checkpoint's data with a key changed: the fix is its own value.
        ("data.features.pad_mode=constant",): (
            f"error: data.features.pad_mode=constant differs from the checkpoint's reflect: "
            f"{same_shape}",
            "; set the checkpoint's values: data.features.pad_mode=reflect",
        ),
    }
    started = {
        args: start_cli([*base, *args, f"output=refused{i}"], tmp_path, MODULE)
        for i, args in enumerate(refused)
    }
    for args, proc in started.items():
        err = one_error_line(proc)
        start, end = refused[args]
        assert err.startswith(start) and err.endswith(end), err
    assert not list(tmp_path.glob("refused*"))
    # Another spelling of the same features is not refused: no window length means n_fft's.
    metrics = evaluate(
        front_end_ckpt, tmp_path / "same", {"features": {"win_length": None}}, device="cpu"
    )
    assert metrics[runs.TEST_ACC] == runs.run_of_checkpoint(front_end_ckpt).metrics[runs.TEST_ACC]


def test_every_front_end_setting_but_the_frame_count_is_compared() -> None:
    # The settings compared are MelFeatures' own (and the decode rate), not a list beside it:
    # a new front-end parameter is refused when it differs, though the images keep their shape.
    from genre_lightning.evaluation.features import check_features
    from genre_lightning.features.mel import mel_settings

    shape = (1, 45, 64)
    trained: dict[str, Any] = {"sample_rate": 22050, "clip_samples": 44100}
    trained["features"] = {"log": "db"}  # top_db is compared for decibels only
    hparams = {"feature_shape": list(shape)}
    classifier = SimpleNamespace(data_config=trained, model=SimpleNamespace(hparams=hparams))

    def check(data: dict[str, Any]) -> None:
        datamodule = SimpleNamespace(hparams=data, feature_shape=lambda: shape)
        check_features(cast(Any, classifier), cast(Any, datamodule), None)

    keys = ["sample_rate", *(f"features.{k}" for k in mel_settings(None))]
    for key in keys:
        data = copy.deepcopy(trained)
        name = key.removeprefix("features.")
        (data["features"] if key.startswith("features.") else data)[name] = 12345
        if key == "features.num_frames":  # it sets the shape, which the shape check compares
            check(data)
            continue
        with pytest.raises(UserError, match=rf"^data\.{re.escape(key)}=12345 differs from the"):
            check(data)


def test_a_split_key_the_checkpoint_s_split_does_not_read_is_refused(tiny_ckpt: Path) -> None:
    classifier = load_classifier(tiny_ckpt)
    assert classifier.data_config.get("split", "random") == "random"
    # data.fold would be ignored by a random split: the test would not be of fold 3.
    with pytest.raises(UserError) as caught:
        checkpoint_data_config(classifier, {"fold": 3})
    assert str(caught.value).startswith(
        "data.fold=3 has no effect: the checkpoint's data is split data.split=random, and only "
        "data.split=kfold reads it"
    )
    # A split given with the key is named as the test's, not the checkpoint's.
    with pytest.raises(UserError, match=r"^data.fold=3 has no effect: this test is split "):
        checkpoint_data_config(classifier, {"split": "test", "fold": 3})
    # With the split that reads it, the same key is taken.
    merged = checkpoint_data_config(classifier, {"split": "kfold", "num_folds": 5, "fold": 3})
    assert (merged["split"], merged["fold"]) == ("kfold", 3)


def test_the_checkpoint_records_its_split_and_another_split_is_refused(
    tiny_ckpt: Path, tmp_path: Path
) -> None:
    # The record equals the run's split.csv: each track in the part it trained in.
    split_csv = runs.run_of_checkpoint(tiny_ckpt).file("split").read_text().splitlines()[1:]
    recorded: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    for row in split_csv:
        track, genre, part, _ = row.split(",", 3)
        recorded[part].append(f"{genre}/{track}")
    assert load_classifier(tiny_ckpt).split == {k: sorted(v) for k, v in recorded.items()}
    # Another shuffle of the same tracks puts trained tracks into the test part: refused,
    # before anything is tested or written.
    with pytest.raises(UserError, match=r"test tracks were in the training or validation part"):
        evaluate(tiny_ckpt, tmp_path / "out", data_overrides={"split_seed": 7}, device="cpu")
    assert not (tmp_path / "out").exists()


def test_a_folder_of_some_of_its_genres_is_scored_on_those(tiny_ckpt: Path, tmp_path: Path) -> None:
    """A labelled folder of other recordings holding some of the checkpoint's genres, whose
    folder order (sorted names) differs from its class order: scored on those, each track
    under its own genre. Here they are the tracks its run tested, so the rows of those genres
    must equal the run's own confusion matrix rows; the absent genres' rows are empty."""
    classifier = load_classifier(tiny_ckpt)
    names = classifier.class_names
    run = runs.run_of_checkpoint(tiny_ckpt)
    tested: dict[str, list[str]] = {}
    for row in run.file("split").read_text().splitlines()[1:]:
        track, genre, part, _ = row.split(",", 3)
        if part == "test":
            tested.setdefault(genre, []).append(track)
    assert 2 <= len(tested) < len(names)  # a subset, as the test needs
    # The folder of the set it was trained on (one of the synthetic sets of the session).
    data_root = instantiate(classifier.data_config).dataset_root()
    for genre, tracks in tested.items():
        (tmp_path / "music" / genre).mkdir(parents=True)
        for track in tracks:
            shutil.copy(data_root / genre / f"{track}.wav", tmp_path / "music" / genre)
    # A copy cut short is skipped, and listed in metrics.json as training lists it.
    some = next((tmp_path / "music").glob("*/*.wav"))
    cut = some.with_name("cut.wav")
    cut.write_bytes(some.read_bytes()[:5000])
    synthetic_only = ("clips_per_class", "seconds", "seed")
    config = {k: v for k, v in classifier.data_config.items() if k not in synthetic_only}
    config |= {
        "_target_": "genre_lightning.data.datamodule.GenreDataModule",
        "root": str(tmp_path / "music"),
        "class_names": None,
        "split": "test",
        "cache_dir": str(tmp_path / "cache"),
    }
    metrics = evaluate(tiny_ckpt, tmp_path / "out", data_config=config, device="cpu")
    trained = run.metrics[runs.CONFUSION_MATRIX]
    for label, genre in enumerate(names):
        expected = trained[label] if genre in tested else [0] * len(names)
        assert metrics[runs.CONFUSION_MATRIX][label] == expected, genre
    assert metrics[runs.NUM_CLIPS]["test"] == sum(len(t) for t in tested.values())
    assert metrics[runs.SKIPPED_FILES] == [str(cut)]

    # A genre it never learnt cannot be scored: refused, naming the fix that works.
    (tmp_path / "music" / "polka").mkdir()
    shutil.copy(some, tmp_path / "music" / "polka" / "p.wav")
    with pytest.raises(UserError) as caught:
        evaluate(tiny_ckpt, tmp_path / "out2", data_config=config, device="cpu")
    known = [name for name in names if name in tested]
    assert str(caught.value).endswith(
        f"it cannot be scored on [polka], which it never learnt: leave it out: "
        f"data.class_names=[{','.join(known)}]"
    )
    # Names the user did not choose (the checkpoint's, a data option's) leave none out either.
    with pytest.raises(UserError, match=r"it cannot be scored on \[polka\], which it never"):
        implicit = {**config, "class_names": names}
        evaluate(tiny_ckpt, tmp_path / "o", data_config=implicit, class_names_given=False)
    again = evaluate(
        tiny_ckpt, tmp_path / "out3", data_config={**config, "class_names": known}, device="cpu"
    )
    assert again[runs.CONFUSION_MATRIX] == metrics[runs.CONFUSION_MATRIX]
    # A folder of a single genre: nothing to train on, but a checkpoint can be scored on it.
    genre = known[0]
    shutil.copytree(tmp_path / "music" / genre, tmp_path / "one" / genre)
    one = evaluate(
        tiny_ckpt, tmp_path / "out4", data_config={**config, "root": str(tmp_path / "one")}
    )
    label = names.index(genre)
    assert one[runs.CONFUSION_MATRIX][label] == trained[label]
    assert sum(map(sum, one[runs.CONFUSION_MATRIX])) == len(tested[genre])
    # One known genre beside an unknown one: data.class_names of one genre is refused (a
    # classifier's data needs two), so the fix is the folder of one genre just scored.
    one_root = tmp_path / "one"
    shutil.copytree(tmp_path / "music" / "polka", one_root / "polka")
    with pytest.raises(UserError) as caught:
        evaluate(tiny_ckpt, tmp_path / "out5", data_config={**config, "root": str(one_root)})
    assert str(caught.value).endswith(
        f"which it never learnt: move it out of data.root (a folder of {genre} alone is scored, "
        f"too), or point data.root at a folder of {genre}'s tracks"
    )


def test_a_checkpoint_trained_by_other_code_is_said_to_be(
    tiny_ckpt: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Decoding and the mel are computed anew: other code may not give training's numbers.
    evaluate(tiny_ckpt, tmp_path / "same", device="cpu")
    assert "trained with other code" not in caplog.text  # trained by this very code
    ckpt = torch.load(tiny_ckpt, map_location="cpu", weights_only=True)
    record = ckpt["genre_lightning"]["provenance"]
    record |= {"commit": "0" * 40, "torch": "1.0.0", "device": "NVIDIA H200"}
    torch.save(ckpt, tmp_path / "older.ckpt")
    metrics = evaluate(tmp_path / "older.ckpt", tmp_path / "other", device="cpu")
    assert metrics[runs.TRAINED_WITH] == record
    (line,) = [r.getMessage() for r in caplog.records if "trained with other code" in r.message]
    assert f"commit {'0' * 40} -> " in line and f"torch 1.0.0 -> {version('torch')}" in line
    assert "device" not in line  # another machine is no news
