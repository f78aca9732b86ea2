"""data/synthetic.py: a deterministic set of real .wav files, only ever in a folder of its own."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import soundfile as sf
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from genre_lightning.data.synthetic import STYLES, SyntheticDataModule, ensure_synthetic_dataset
from genre_lightning.errors import UserError
from genre_lightning.temp_files import temp_path

from ..conftest import BLUES, TINY, run_cli


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(folder.rglob("*.wav")):
        h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


def test_writes_real_wavs_deterministically(tmp_path: Path) -> None:
    a = ensure_synthetic_dataset(tmp_path / "a", clips_per_class=2, seconds=1.0, seed=3, workers=1)
    # Worker processes (large sets) write the very same files.
    b = ensure_synthetic_dataset(tmp_path / "b", clips_per_class=2, seconds=1.0, seed=3, workers=2)
    assert sorted(p.name for p in a.iterdir() if p.is_dir()) == sorted(s.name for s in STYLES)
    files = sorted(a.rglob("*.wav"))
    assert len(files) == 2 * len(STYLES)
    info = sf.info(str(files[0]))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (
        22050,
        1,
        22050,
        "PCM_16",
    )
    assert _digest(a) == _digest(b)
    c = ensure_synthetic_dataset(tmp_path / "a", clips_per_class=2, seconds=1.0, seed=4)
    assert c != a and _digest(c) != _digest(a)


def test_existing_set_is_reused(tmp_path: Path) -> None:
    a = ensure_synthetic_dataset(tmp_path, clips_per_class=1, seconds=0.5, seed=0)
    stamp = (a / "settings.json").stat().st_mtime_ns
    assert ensure_synthetic_dataset(tmp_path, clips_per_class=1, seconds=0.5, seed=0) == a
    assert (a / "settings.json").stat().st_mtime_ns == stamp
    assert not list(tmp_path.glob(".*.tmp-*"))


def test_a_folder_with_other_content_is_refused_untouched(
    tmp_path: Path, gtzan_sample: Path
) -> None:
    root = tmp_path / "gtzan"
    (root / "genres_original" / "blues").mkdir(parents=True)
    shutil.copy(gtzan_sample / BLUES, root / BLUES)
    before = sorted(root.rglob("*"))
    with pytest.raises(UserError) as caught:
        SyntheticDataModule(root=str(root), clips_per_class=1, seconds=0.5, seed=0).prepare_data()
    message = str(caught.value)
    assert f"data.root={root} is not a folder of synthetic sets" in message
    assert "genres_original" in message and "empty folder" in message
    assert f"data=folder data.root={root}" in message
    assert sorted(root.rglob("*")) == before
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(UserError, match="a-file"):
        ensure_synthetic_dataset(tmp_path / "a-file", clips_per_class=1, seconds=0.5, seed=0)


def test_own_sets_and_the_old_cache_folder_are_recognised(tmp_path: Path) -> None:
    root = tmp_path / "synthetic"
    first = ensure_synthetic_dataset(root, clips_per_class=1, seconds=0.5, seed=0)
    (root / ".cache").mkdir()  # where earlier versions kept the waveform cache
    (root / ".cache" / f"waves-{'0' * 20}.npy").write_bytes(b"")
    second = ensure_synthetic_dataset(root, clips_per_class=1, seconds=0.5, seed=1)
    assert second != first and (second / "settings.json").is_file()
    (root / "synthetic-0123456789ab").mkdir()  # looks like a set, but has no settings.json
    with pytest.raises(UserError, match="synthetic-0123456789ab"):
        ensure_synthetic_dataset(root, clips_per_class=1, seconds=0.5, seed=2)


def test_clip_length_and_mel_frames_follow_data_seconds(
    make_cfg: Callable[..., DictConfig], tmp_path: Path
) -> None:
    overrides = ["data=synthetic", "data.seconds=6", "data.clips_per_class=2"]
    cfg = make_cfg([*overrides, f"data.root={tmp_path / 'synthetic'}"])
    assert cfg.data.clip_samples == 6 * 22050
    dm = instantiate(cfg.data)
    dm.prepare_data()
    dm.setup("fit")
    assert dm.cache is not None and dm.cache.waves.shape == (20, 132_300)
    assert set(dm.cache.lengths) == {132_300}  # the files are 6 s long too
    assert dm.feature_shape() == (1, 1 + 132_300 // 992, 64)
    batch = next(iter(dm.train_dataloader()))
    assert dm.on_after_batch_transfer(batch, 0).mel.shape[1:] == dm.feature_shape()


@pytest.mark.slow
def test_training_from_the_cli_follows_data_seconds(tmp_path: Path, data_dir: Path) -> None:
    run = tmp_path / "run"
    args = [a for a in TINY if not a.startswith("data.seconds=")]
    args += ["data.seconds=3.0", "trainer.max_epochs=1", "+trainer.limit_train_batches=2"]
    proc = run_cli([*args, f"paths.data_dir={data_dir}", f"hydra.run.dir={run}"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = json.loads((run / "metrics.json").read_text())["best_ckpt"]
    hparams = torch.load(ckpt, weights_only=True)["hyper_parameters"]
    assert hparams["data_config"]["clip_samples"] == 66_150  # resolved: predict needs it
    assert tuple(hparams["feature_shape"]) == (1, 1 + 66_150 // 992, 64)


def test_a_set_another_process_is_writing_is_not_foreign(tmp_path: Path) -> None:
    # Two jobs of a parallel sweep (hydra/launcher=joblib) generate the same set at once: the
    # second must not take the first one's temporary folder for someone else's files.
    root = tmp_path / "synthetic"
    root.mkdir()
    writing = temp_path(root / "synthetic-0123456789ab")  # as the other job names it
    writing.mkdir()
    (writing / "drone").mkdir()
    made = ensure_synthetic_dataset(root, clips_per_class=1, seconds=0.5, seed=0)
    assert (made / "settings.json").is_file()
    assert writing.is_dir()  # its writer is alive (this process): left alone
