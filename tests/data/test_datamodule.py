"""data/datamodule.py on the real GTZAN sample: split by track, cache reuse, mel on the batch."""

from __future__ import annotations

import inspect
import logging
import shutil
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from genre_lightning.data import GENRE_DATA_MODULE
from genre_lightning.data.datamodule import GenreDataModule
from genre_lightning.data.index import DataNotFoundError
from genre_lightning.errors import UserError
from genre_lightning.features.mel import MelFeatures
from genre_lightning.hydra_conf import compose_config


def _dm(root: Path, cache: Path | None, **kwargs: object) -> GenreDataModule:
    return GenreDataModule(root=str(root), cache_dir=str(cache), batch_size=8, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def sample_dm(gtzan_sample: Path, tmp_path_factory: pytest.TempPathFactory) -> GenreDataModule:
    dm = _dm(gtzan_sample, tmp_path_factory.mktemp("cache"))
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_split_sizes_by_track(sample_dm: GenreDataModule) -> None:
    sizes = {p: len(d) for p, d in sample_dm.datasets.items()}
    assert sizes == {"train": 40, "val": 5, "test": 5}
    rows = [set(sample_dm.datasets[p].rows) for p in ("train", "val", "test")]
    assert not (rows[0] & rows[1]) and not (rows[0] & rows[2]) and not (rows[1] & rows[2])
    assert sample_dm.num_classes == 10 and sample_dm.skipped == []


def test_batches_become_paper_mel_images(gtzan_sample: Path, sample_dm: GenreDataModule) -> None:
    per_batch = _dm(gtzan_sample, sample_dm.cache_dir, cache_features=False)
    per_batch.setup("fit")
    batch = next(iter(per_batch.train_dataloader()))
    assert batch.wave.dtype == torch.int16 and batch.wave.shape == (8, 662_688)
    assert batch.length.min() >= 661_408
    mel, target, track_out, _ = per_batch.on_after_batch_transfer(batch, 0)
    assert mel.shape == (8, 1, 668, 64) and mel.dtype == torch.float32
    assert torch.equal(target, batch.label) and torch.equal(track_out, batch.track)
    assert per_batch.feature_shape() == (1, 668, 64)


@pytest.mark.parametrize("source", [{"cache_features": "auto"}, {"on_device": True}])
def test_every_mel_source_gives_the_same_images(
    gtzan_sample: Path, sample_dm: GenreDataModule, source: dict[str, object]
) -> None:
    """Per-batch mel from loaded samples is the reference for the table and on-device paths."""
    reference = _dm(gtzan_sample, sample_dm.cache_dir, cache_features=False)
    other = _dm(gtzan_sample, sample_dm.cache_dir, **{"cache_features": False, **source})
    for dm in (reference, other):
        dm.setup("fit")
    for part in ("train", "val"):
        ref_batch = next(iter(reference._loader(part, shuffle=False)))
        batch = next(iter(other._loader(part, shuffle=False)))
        assert batch.wave.numel() == 0  # only window places travel
        assert torch.equal(batch.item, ref_batch.item)
        want = reference.on_after_batch_transfer(ref_batch, 0).mel
        torch.testing.assert_close(other.on_after_batch_transfer(batch, 0).mel, want)


def test_features_table_follows_the_windows(gtzan_sample: Path, sample_dm: GenreDataModule) -> None:
    assert sample_dm.batch_features is not None
    assert sample_dm.batch_features.plan.tables == {"train", "val", "test"}  # crop=start: fixed
    random = _dm(gtzan_sample, sample_dm.cache_dir, crop="random", max_seconds=30.0)
    random.setup("fit")
    assert random.batch_features is not None
    assert random.batch_features.plan.tables == {"val", "test"}  # centre windows there
    assert random.datasets["train"][0].wave.shape == (662_688,)
    with pytest.raises(UserError, match=r"data\.cache_features=true"):
        _dm(gtzan_sample, sample_dm.cache_dir, crop="random", cache_features=True).setup("fit")


def test_overlapping_training_chunks_from_the_table_match_their_samples(
    gtzan_sample: Path, sample_dm: GenreDataModule
) -> None:
    chunked = {"chunk_seconds": 3.0, "train_chunks": "all"}
    plain = _dm(gtzan_sample, sample_dm.cache_dir, **chunked)
    overlapping = _dm(gtzan_sample, sample_dm.cache_dir, train_hop_seconds=1.5, **chunked)
    loaded = _dm(
        gtzan_sample, sample_dm.cache_dir, cache_features=False, train_hop_seconds=1.5, **chunked
    )
    for dm in (plain, overlapping, loaded):
        dm.setup("fit")
    # A track of n samples holds n // 66150 whole 3 s chunks, or (n - 66150) // 33075 + 1
    # starting 1.5 s apart: 10 or 19 for a clip of 30.05 s or more, 9 or 18 for 29.98 s.
    train, lengths = overlapping.datasets["train"], plain.datasets["train"].lengths
    available = [min(n, 662_688) for n in lengths]
    assert len(plain.datasets["train"]) == sum(n // 66_150 for n in available)
    assert len(train) == sum((n - 66_150) // 33_075 + 1 for n in available) > 1.8 * 40 * 9
    assert [train[i].offset for i in range(3)] == [0, 33_075, 66_150]
    assert len(overlapping.datasets["test"]) == len(
        plain.datasets["test"]
    )  # evaluation: no overlap
    assert overlapping.batch_features is not None
    assert overlapping.batch_features.plan.tables == {"train", "val", "test"}
    tabled = next(iter(overlapping._loader("train", shuffle=False)))
    sampled = next(iter(loaded._loader("train", shuffle=False)))
    torch.testing.assert_close(
        overlapping.on_after_batch_transfer(tabled, 0).mel,
        loaded.on_after_batch_transfer(sampled, 0).mel,
    )


def test_feature_statistics_are_per_element(sample_dm: GenreDataModule) -> None:
    mean, std = sample_dm.feature_statistics()
    assert mean.shape == std.shape == (1, 668, 64)
    mels = torch.cat(
        [
            sample_dm.on_after_batch_transfer(b, 0)[0]
            for b in sample_dm._loader("train", shuffle=False)
        ]
    )
    torch.testing.assert_close(mean, mels.mean(0), rtol=1e-4, atol=1e-6)


def test_second_setup_reads_the_cache(sample_dm: GenreDataModule, gtzan_sample: Path) -> None:
    assert sample_dm.cache is not None
    again = _dm(gtzan_sample, sample_dm.cache_dir)
    again.setup("fit")
    assert again.cache is not None and again.cache.hit
    assert again.parts == sample_dm.parts  # same seed, same split


def test_write_split_for_audit(sample_dm: GenreDataModule, tmp_path: Path) -> None:
    sample_dm.write_split(tmp_path / "split.csv")
    lines = (tmp_path / "split.csv").read_text().splitlines()
    assert lines[0] == "track,genre,part,path" and len(lines) == 51


def test_corrupt_clip_is_skipped_named_and_counted(
    gtzan_sample: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "gtzan"
    shutil.copytree(gtzan_sample / "genres_original", root / "Data" / "genres_original")
    (root / "Data" / "genres_original" / "jazz" / "jazz.00054.wav").write_bytes(b"\x00" * 100)
    dm = _dm(root, tmp_path / "cache", clip_samples=22050)
    with caplog.at_level(logging.WARNING):
        dm.setup("fit")
    assert len(dm.clips) == 51 and sum(len(d) for d in dm.datasets.values()) == 50
    assert [Path(p).name for p, _ in dm.skipped] == ["jazz.00054.wav"]
    assert "jazz.00054.wav" in caplog.text


def test_missing_root_raises_before_anything_else(tmp_path: Path) -> None:
    dm = _dm(tmp_path / "absent", tmp_path / "cache")
    with pytest.raises(DataNotFoundError, match="experiment=demo"):
        dm.prepare_data()
    assert not (tmp_path / "cache").exists()


def test_num_classes_mismatch_is_reported(gtzan_sample: Path, tmp_path: Path) -> None:
    dm = _dm(gtzan_sample, tmp_path / "cache", num_classes=7)
    with pytest.raises(UserError, match=r"data\.num_classes=10"):
        dm.setup("fit")


def test_data_gtzan_s_values_are_the_python_defaults() -> None:
    # conf/data/gtzan.yaml shows every value, so that --cfg job lists them and each can be
    # overridden; GenreDataModule and MelFeatures take the same ones as defaults, so a notebook
    # that builds them in Python trains what the command line trains (and checks a download
    # against the same checksum).
    data = compose_config("train").data
    given = OmegaConf.to_container(data, resolve=False)
    assert isinstance(given, dict)
    defaults = inspect.signature(GenreDataModule).parameters
    for key, value in given.items():
        assert isinstance(key, str)
        if key in ("_target_", "_convert_", "features"):
            continue
        if isinstance(value, str) and value.startswith("${gl_gtzan:"):  # a fact the code owns
            value = OmegaConf.select(data, key)
            value = list(value) if OmegaConf.is_list(value) else value
        elif isinstance(value, str) and "${" in value:  # a path or the seed: the run's own
            continue
        default = defaults[key].default
        assert value == (list(default) if isinstance(default, tuple) else default), key
    mel = inspect.signature(MelFeatures).parameters
    for key, value in given["features"].items():
        assert value == mel[key].default, f"features.{key}"
    # The class as the configs name it, for the checks that run before it is imported.
    path = f"{GenreDataModule.__module__}.{GenreDataModule.__qualname__}"
    assert given["_target_"] == compose_config("train", ["data=folder"]).data._target_
    assert given["_target_"] == GENRE_DATA_MODULE == path
