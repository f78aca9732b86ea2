"""Real-world folders (data=folder): any format, rate, channels, length; every bad file named."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch

from genre_lightning.data.datamodule import GenreDataModule
from genre_lightning.errors import UserError

from ..conftest import (
    Deferred,
    copy_sample,
    one_error_line,
    run_cli,
    run_counting_torch,
    start_cli,
    write_tone,
)


@pytest.fixture(scope="module")
def music(gtzan_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three genres of real GTZAN clips plus every kind of file a user's folder holds."""
    root = copy_sample(
        gtzan_sample, tmp_path_factory.mktemp("music"), ("blues", "classical", "metal"), 4
    )
    real, _ = sf.read(str(gtzan_sample / "genres_original" / "blues" / "blues.00000.wav"))
    stereo_44k = np.stack([real[:441000], real[:441000]], axis=1)  # 10 s, played as 44.1 kHz
    sf.write(root / "blues" / "stereo44k.flac", stereo_44k, 44100)
    write_tone(root / "classical" / "tone.au", seconds=5.0, format="AU", subtype="PCM_16")
    write_tone(root / "classical" / "short5s.wav", seconds=5.0)
    write_tone(root / "metal" / "tone.ogg", seconds=3.0)
    if "MP3" in sf.available_formats():
        write_tone(root / "metal" / "lame.mp3", seconds=3.0)
    (root / "metal" / "empty.wav").write_bytes(b"")
    sf.write(root / "metal" / "zero.wav", np.zeros(0, dtype=np.float32), 22050)
    sf.write(root / "classical" / "click.wav", np.full(1, 0.5, dtype=np.float32), 22050)
    whole = (root / "metal" / "metal.00000.wav").read_bytes()
    (root / "metal" / "truncated.wav").write_bytes(whole[: len(whole) // 3])
    # AIFF states its data size too: a cut copy is skipped, not trained as a shorter clip.
    write_tone(root / "classical" / "chime.aifc", seconds=2.0, format="AIFF", subtype="PCM_16")
    aiff = (root / "classical" / "chime.aifc").read_bytes()
    (root / "classical" / "cut.aiff").write_bytes(aiff[: len(aiff) // 2])
    (root / "metal" / "lost.wav").symlink_to(root / "moved-away.wav")  # a link to nothing
    (root / "metal" / "notes.txt").write_text("not audio, ignored")
    # Audio that cannot be decoded here: skipped, but (unlike the files above) with a warning.
    (root / "metal" / "live.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A ")
    (root / "metal" / "metal.mf").write_text("GTZAN list file, ignored")
    return root


def test_each_file_gets_its_outcome(
    music: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dm = GenreDataModule(root=str(music), class_names=None, cache_dir=str(tmp_path), batch_size=4)
    with caplog.at_level(logging.WARNING):
        dm.setup("fit")
    assert dm.class_names == ["blues", "classical", "metal"]
    names = {c.path.name for c in dm.clips}
    assert "notes.txt" not in names and "metal.mf" not in names  # not audio: ignored silently
    skipped = {Path(p).name: why for p, why in dm.skipped}
    assert set(skipped) == {"empty.wav", "zero.wav", "truncated.wav", "cut.aiff", "lost.wav"}
    assert "truncated" in skipped["truncated.wav"] and "no samples" in skipped["zero.wav"]
    assert "truncated" in skipped["cut.aiff"] and skipped["lost.wav"].endswith("(no such file)")
    for name in skipped:
        assert sum(name in line for line in caplog.text.splitlines()) == 1  # one line each
    assert dm.cache is not None
    kept = {dm.clips[i].path.name: dm.cache.lengths[r] for r, i in enumerate(dm.cache.kept)}
    assert kept["stereo44k.flac"] == 220500  # 10 s at 44.1 kHz -> 22050 Hz, mono
    assert kept["short5s.wav"] == 110250 and kept["tone.au"] == 110250
    assert kept["tone.ogg"] == 66150 and kept["chime.aifc"] == 44100
    assert ("lame.mp3" in kept) == ("MP3" in sf.available_formats())
    # Kept, but named: shorter than half a window, most of what trains is padding.
    assert kept["click.wav"] == 1
    [padded] = [line for line in caplog.text.splitlines() if "padded with silence" in line]
    short = [name for name, length in kept.items() if length < dm.window_samples() / 2]
    assert f"{len(short)} file(s) are shorter than half a 30.1 s window" in padded
    assert padded.index("click.wav (0.00 s)") < padded.index("chime.aifc (2.00 s)"), padded


@pytest.mark.slow
def test_training_runs_on_the_folder(music: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = run_cli(
        [
            "data=folder",
            f"data.root={music}",
            f"data.cache_dir={tmp_path / 'cache'}",
            "data.batch_size=4",
            "data.crop=centre",
            "trainer=debug",
            "callbacks.rich_progress_bar=null",
            "trainer.enable_progress_bar=false",
            f"hydra.run.dir={run}",
        ],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["test/f1_per_class"]) == {"blues", "classical", "metal"}
    assert sorted(Path(p).name for p in metrics["skipped_files"]) == [
        "cut.aiff",
        "empty.wav",
        "lost.wav",
        "truncated.wav",
        "zero.wav",
    ]
    hparams = torch.load(metrics["best_ckpt"], weights_only=True)["hyper_parameters"]
    assert hparams["net_config"]["num_classes"] == 3  # flowed from the folders to the model
    # Listed before the run folder is written and again in the job: said once, in the log too.
    log = (run / "train.log").read_text()
    for said in ("skipped 1 .m4a file in a format", "3 genres in "):
        assert log.count(said) == 1 and (proc.stdout + proc.stderr).count(said) == 1, said
    assert len(hparams["class_names"]) == 3


def test_filtered_split_on_the_sample(gtzan_sample: Path, tmp_path: Path) -> None:
    settings: dict[str, Any] = {
        "cache_dir": str(tmp_path),
        "split": "filtered",
        "clip_samples": 22050,
    }
    dm = GenreDataModule(root=str(gtzan_sample), **settings)
    dm.setup("test")  # testing needs no training part
    assert {p: len(d) for p, d in dm.datasets.items()} == {"train": 19, "val": 24, "test": 4}
    # The sample's first five clips of blues, classical, country and disco are on no training
    # list: fitting on them would report scores for genres the network never saw.
    with pytest.raises(UserError, match=r"leaves genres 'blues' \(5 tracks: 5 val, 0 test\)"):
        dm.setup("fit")
    trained = ["hiphop", "jazz", "metal", "pop", "reggae", "rock"]
    dm = GenreDataModule(root=str(gtzan_sample), class_names=trained, **settings)
    dm.setup("fit")
    assert {p: len(d) for p, d in dm.datasets.items()} == {"train": 19, "val": 5, "test": 3}


def test_kfold_split_covers_every_track_once(gtzan_sample: Path, tmp_path: Path) -> None:
    tests = []
    for fold in range(5):
        dm = GenreDataModule(
            root=str(gtzan_sample),
            cache_dir=str(tmp_path),
            split="kfold",
            fold=fold,
            num_folds=5,
            clip_samples=22050,
        )
        dm.setup("fit")
        tests += dm.parts["test"]
        labels = sorted(dm.datasets["test"].labels)
        assert labels == list(range(10))  # stratified: one track of each genre per fold
    assert sorted(tests) == list(range(50))


def test_kfold_val_fraction_sets_the_validation_share(gtzan_sample: Path, tmp_path: Path) -> None:
    sizes = {}
    for val_fraction in (0.1, 0.25):
        dm = GenreDataModule(
            root=str(gtzan_sample),
            cache_dir=str(tmp_path),
            split="kfold",
            num_folds=5,
            val_fraction=val_fraction,
            clip_samples=22050,
        )
        dm.setup("fit")
        sizes[val_fraction] = {part: len(rows) for part, rows in dm.parts.items()}
    # 40 tracks outside the test fold: 4 or 10 of them validate.
    assert sizes == {
        0.1: {"train": 36, "val": 4, "test": 10},
        0.25: {"train": 30, "val": 10, "test": 10},
    }


def test_download_true_with_data_in_place_needs_no_network(
    gtzan_sample: Path, tmp_path: Path
) -> None:
    dm = GenreDataModule(
        root=str(gtzan_sample),
        cache_dir=str(tmp_path),
        download=True,
        url="http://127.0.0.1:9/unreachable",
        clip_samples=22050,
    )
    dm.prepare_data()  # the Kaggle layout is already there: nothing to fetch
    dm.setup("fit")
    assert len(dm.clips) == 50


def test_unknown_split_and_crop_are_clear(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=re.escape("data.split=random|filtered|kfold|all|test")):
        GenreDataModule(root=str(tmp_path), split="artist")
    with pytest.raises(UserError, match=re.escape("data.crop=start|centre|random")):
        GenreDataModule(root=str(tmp_path), crop="middle")


def _refusal(proc: Deferred) -> str:
    """The ``error:`` line of a run refused after its trainer was built: exit status 2, no
    traceback, one error line and it is the last (Lightning's device lines may come first)."""
    err = proc.communicate(timeout=300)[1]
    assert proc.returncode == 2, err[-3000:]
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and err.endswith(errors[0] + "\n"), err[-3000:]
    assert "Traceback" not in err and "Error executing job" not in err, err[-3000:]
    return errors[0]


def test_folders_that_cannot_train_a_classifier_are_one_error_line(
    gtzan_sample: Path, tmp_path: Path
) -> None:
    one = copy_sample(gtzan_sample, tmp_path / "data" / "one", ("blues",), per_genre=5)
    # Five blues tracks and one jazz track: the seeded random split sends jazz to test.
    lone = copy_sample(gtzan_sample, tmp_path / "data" / "lone", ("blues",), per_genre=5)
    copy_sample(gtzan_sample, lone, ("jazz",), per_genre=1)
    empty = tmp_path / "data" / "empty"
    (empty / "blues").mkdir(parents=True)
    procs = {
        root.name: start_cli(
            [
                "experiment=musicnn_probe",
                "data=folder",
                f"data.root={root}",
                "data.batch_size=16",
                f"data.cache_dir={tmp_path / root.name / 'cache'}",
                f"hydra.run.dir={tmp_path / root.name / 'run'}",
            ],
            tmp_path,
            "genre_lightning",
        )
        for root in (one, lone, empty)
    }
    # Refused on listing, before the Trainer is built: the error line is all of stderr, and
    # neither a run folder nor a cache is left.
    listed = {name: one_error_line(procs[name]) for name in ("one", "empty")}
    assert not (tmp_path / "one").exists() and not (tmp_path / "empty").exists()
    assert listed["one"] == (
        f"error: data.root={one} has only one genre folder with audio files, 'blues' (5 files "
        f"in {one / 'blues'}); a genre classifier needs at least two: add a folder of audio "
        f"files per genre beside it ({one}/<genre>/<clip>.wav), or point data.root at the "
        f"folder that holds all your genre folders"
    )
    assert listed["empty"].startswith(
        f"error: no genre folders with audio files under data.root={empty}"
    )
    error = _refusal(procs["lone"])
    assert error.startswith(
        "error: data.split=random leaves genre 'jazz' (1 track: 0 val, 1 test) without a "
        "training track"
    )
    assert "use data.split=kfold" in error
    assert not (tmp_path / "lone" / "run" / "checkpoints").exists()  # nothing was trained


def test_evaluating_needs_no_training_track_of_each_genre(
    gtzan_sample: Path, tmp_path: Path
) -> None:
    root = copy_sample(gtzan_sample, tmp_path / "music", ("blues",), per_genre=5)
    copy_sample(gtzan_sample, root, ("jazz",), per_genre=1)
    dm = GenreDataModule(root=str(root), class_names=None, cache_dir=str(tmp_path / "c"))
    dm.setup("test")
    assert dm.datasets["test"].labels == [1]  # jazz is tested, as a checkpoint would be
    with pytest.raises(UserError, match=r"'jazz' .* without a training track"):
        dm.setup("fit")


def test_batch_size_error_counts_chunks_and_tracks(gtzan_sample: Path, tmp_path: Path) -> None:
    root = copy_sample(gtzan_sample, tmp_path / "music", ("blues", "jazz", "rock"), 2)
    cache = str(tmp_path / "cache")
    chunked = GenreDataModule(
        root=str(root),
        class_names=None,
        cache_dir=cache,
        batch_size=64,
        chunk_seconds=3.0,
        train_chunks="all",
    )
    chunked.setup("fit")
    with pytest.raises(UserError) as caught:
        chunked.check_batch_size()
    # 4 training tracks of 30 s, 10 whole 3 s chunks each.
    assert str(caught.value) == (
        "data.batch_size=64 is larger than the training set (40 chunks of 3 s per epoch, from "
        "4 tracks): every epoch would be a single batch of all 40. Use data.batch_size=32 (any "
        "value up to 40 fits), or more data."
    )
    whole = GenreDataModule(root=str(root), class_names=None, cache_dir=cache, batch_size=8)
    whole.setup("fit")
    with pytest.raises(UserError, match=r"training set \(4 tracks\).*data\.batch_size=4, or"):
        whole.check_batch_size()


@pytest.mark.parametrize("data", ["folder", "gtzan"])
def test_a_folder_with_nothing_to_train_on_is_refused_before_torch_is_imported(
    tmp_path: Path, gtzan_sample: Path, data: str
) -> None:
    # A wrong data.root is the usual first mistake: said in a second, not after ~10 s of
    # importing torch and Lightning. Nothing is written: no run folder.
    run = f"hydra.run.dir={tmp_path / 'run'}"
    one_genre = copy_sample(gtzan_sample, tmp_path / "music", ("blues",), per_genre=2) / "blues"
    (tmp_path / "empty").mkdir()
    cases = {
        tmp_path / "nosuch": "no audio found under" if data == "gtzan" else "does not exist",
        tmp_path / "empty": "no audio found under" if data == "gtzan" else "no genre folders",
        one_genre: "holds 2 audio files but no genre folders",
    }
    for root, message in cases.items():
        status, torch_imported, done = run_counting_torch(
            "genre_lightning", f"data={data}", f"data.root={root}", run
        )
        assert (status, torch_imported) == ("2", "False"), (root, done.stderr[-2000:])
        assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
        assert message in done.stderr, done.stderr
    assert not (tmp_path / "run").exists()
