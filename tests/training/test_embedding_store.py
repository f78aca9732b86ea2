"""training/embedding_store.py: a frozen encoder's features kept between runs, exactly."""

from __future__ import annotations

import logging
import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from genre_lightning.training import embedding_store, embeddings
from genre_lightning.training.embedding_store import EmbeddingStore, input_keys
from genre_lightning.training.embeddings import EmbeddingCache


class Encoder:
    """A frozen linear encoder that counts the rows it encodes."""

    def __init__(self, seed: int = 0, layers: tuple[str, ...] = ("penultimate",)) -> None:
        self.weight = torch.randn(6, 3, generator=torch.Generator().manual_seed(seed))
        self.layers = layers
        self.encoded = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.encoded += len(x)
        return x.flatten(1) @ self.weight

    def identity(self) -> tuple[dict[str, torch.Tensor], dict[str, object]]:
        return {"weight": self.weight, "steps": torch.tensor(5)}, {"layers": list(self.layers)}


@pytest.fixture
def inputs() -> torch.Tensor:
    """Ten distinct inputs (2 x 3 patches)."""
    return torch.randn(10, 2, 3, generator=torch.Generator().manual_seed(1))


def _run(root: Path, encoder: Encoder, inputs: torch.Tensor, part: str = "train") -> torch.Tensor:
    """One run's cache over every input, flushed at the end (as an epoch's end does)."""
    cache = EmbeddingCache(root, encoder.identity)
    features = cache(part, torch.arange(len(inputs)), inputs, encoder)
    cache.flush()
    return features


def test_a_later_run_reads_the_features_exactly(tmp_path: Path, inputs: torch.Tensor) -> None:
    first, later = Encoder(), Encoder()
    stored = _run(tmp_path, first, inputs)
    # Another run, another part, other item numbers, another order: the input is the key.
    cache = EmbeddingCache(tmp_path, later.identity)
    order = torch.tensor([7, 2, 9])
    read = cache("test", torch.tensor([0, 1, 2]), inputs[order], later)
    assert first.encoded == 10 and later.encoded == 0
    assert torch.equal(read, stored[order])  # bit for bit


def test_only_the_inputs_not_stored_are_encoded(tmp_path: Path, inputs: torch.Tensor) -> None:
    _run(tmp_path, Encoder(), inputs[:6])
    encoder = Encoder()
    features = _run(tmp_path, encoder, inputs)
    assert encoder.encoded == 4
    torch.testing.assert_close(features, inputs.flatten(1) @ encoder.weight, rtol=0, atol=0)
    # ... and the third run reads all ten (from two files).
    third = Encoder()
    assert torch.equal(_run(tmp_path, third, inputs), features) and third.encoded == 0
    assert len(list(tmp_path.glob("*/features-*.npz"))) == 2


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param(Encoder(seed=1), id="other-weights"),
        pytest.param(Encoder(layers=("pooled",)), id="other-layers"),
    ],
)
def test_another_encoder_computes_its_own(
    tmp_path: Path, inputs: torch.Tensor, changed: Encoder
) -> None:
    _run(tmp_path, Encoder(), inputs)
    features = _run(tmp_path, changed, inputs)
    assert changed.encoded == 10
    torch.testing.assert_close(features, inputs.flatten(1) @ changed.weight, rtol=0, atol=0)
    assert len(list(tmp_path.iterdir())) == 2  # a folder per encoder


def test_mixed_precision_features_are_stored_apart(tmp_path: Path, inputs: torch.Tensor) -> None:
    # trainer.precision=bf16-mixed runs the encoder under autocast: other features.
    _run(tmp_path, Encoder(), inputs)
    encoder = Encoder()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        features = _run(tmp_path, encoder, inputs)
    assert encoder.encoded == 10 and len(list(tmp_path.iterdir())) == 2
    assert features.dtype == torch.float32
    assert not torch.equal(features, inputs.flatten(1) @ encoder.weight)  # bf16 arithmetic


def test_a_changed_input_is_computed(tmp_path: Path, inputs: torch.Tensor) -> None:
    _run(tmp_path, Encoder(), inputs)
    nudged = inputs.clone()
    nudged[3, 1, 2] = torch.nextafter(nudged[3, 1, 2], torch.tensor(10.0))  # one ulp
    encoder = Encoder()
    _run(tmp_path, encoder, nudged)
    assert encoder.encoded == 1


def test_unreadable_files_are_removed_and_computed_again(
    tmp_path: Path, inputs: torch.Tensor, caplog: pytest.LogCaptureFixture
) -> None:
    _run(tmp_path, Encoder(), inputs)
    (folder,) = tmp_path.iterdir()
    (stored,) = folder.glob("features-*.npz")
    stored.write_bytes(stored.read_bytes()[:100])  # truncated
    # A file whose arrays are pickled objects: loading it must not run them.
    planted = folder / "features-planted.npz"
    np.savez(planted, keys=np.array([object()]), features=np.array([pickle.dumps(1)]))
    wrong_shape = folder / "features-wrong.npz"
    np.savez(wrong_shape, keys=np.zeros((2, 3), np.uint8), features=np.zeros((2, 3), np.float32))
    encoder = Encoder()
    with caplog.at_level(logging.WARNING):
        features = _run(tmp_path, encoder, inputs)
    assert encoder.encoded == 10
    torch.testing.assert_close(features, inputs.flatten(1) @ encoder.weight, rtol=0, atol=0)
    for bad in (stored, planted, wrong_shape):
        assert not bad.exists() and str(bad) in caplog.text
    assert len(list(folder.glob("features-*.npz"))) == 1  # the new run's


def test_a_folder_where_a_features_file_goes_is_not_said_removed(
    tmp_path: Path, inputs: torch.Tensor, caplog: pytest.LogCaptureFixture
) -> None:
    _run(tmp_path, Encoder(), inputs)
    (folder,) = tmp_path.iterdir()
    (folder / "features-dir.npz").mkdir()  # cannot be read, nor removed as a file
    with caplog.at_level(logging.WARNING):
        features = _run(tmp_path, Encoder(), inputs)
    assert features.shape[0] == len(inputs)
    (said,) = [r.getMessage() for r in caplog.records if "features-dir.npz" in r.getMessage()]
    assert said.startswith(f"cannot remove {folder / 'features-dir.npz'} from the embedding cache")


def test_features_of_another_width_are_replaced(
    tmp_path: Path, inputs: torch.Tensor, caplog: pytest.LogCaptureFixture
) -> None:
    """A folder holding rows of another width than its encoder computes (written by something
    else) is emptied when the encoder's first features are stored, not mixed with them."""
    _run(tmp_path, Encoder(), inputs[:5])
    (folder,) = tmp_path.iterdir()
    (alien,) = folder.glob("features-*.npz")
    keys = np.stack([np.frombuffer(k, np.uint8) for k in input_keys(inputs[:5])])
    np.savez(alien, keys=keys, features=np.zeros((5, 7), np.float32))
    encoder = Encoder()
    with caplog.at_level(logging.WARNING):
        _run(tmp_path, encoder, inputs[5:])
    assert not alien.exists() and "7 features per row, the encoder computes 3" in caplog.text
    third = Encoder()
    features = _run(tmp_path, third, inputs)
    assert third.encoded == 5  # the five of the removed file, and no more
    torch.testing.assert_close(features, inputs.flatten(1) @ third.weight, rtol=0, atol=0)


def test_many_files_are_merged_into_one(
    tmp_path: Path, inputs: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedding_store, "MERGE_AT", 3)
    for i in range(4):  # four runs, two new inputs each: a file each
        _run(tmp_path, Encoder(), inputs[2 * i : 2 * i + 2])
    (folder,) = tmp_path.iterdir()
    assert len(list(folder.glob("features-*.npz"))) == 4
    # The fifth run finds more than MERGE_AT files: their rows become one file, then its own.
    _run(tmp_path, Encoder(), inputs[8:])
    assert len(list(folder.glob("features-*.npz"))) == 2
    found, features = EmbeddingStore(folder).lookup(input_keys(inputs))
    assert found == list(range(10))
    assert torch.equal(torch.from_numpy(features), inputs.flatten(1) @ Encoder().weight)


def test_an_unwritable_store_warns_once_and_the_run_goes_on(
    tmp_path: Path, inputs: torch.Tensor, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "a-file"
    root.write_text("not a folder")
    encoder = Encoder()
    cache = EmbeddingCache(root, encoder.identity)
    with caplog.at_level(logging.WARNING):
        first = cache("train", torch.arange(5), inputs[:5], encoder)
        cache.flush()
        cache("val", torch.arange(5), inputs[5:], encoder)
        cache.flush()
    assert encoder.encoded == 10
    torch.testing.assert_close(first, inputs[:5].flatten(1) @ encoder.weight, rtol=0, atol=0)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "module.embedding_cache_dir" in warnings[0].getMessage()
    assert root.read_text() == "not a folder"


def test_a_long_pass_is_stored_as_it_goes(
    tmp_path: Path, inputs: torch.Tensor, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without waiting for an epoch's end (or predict's): a killed run keeps most of its work."""
    monkeypatch.setattr(embeddings, "FLUSH_ROWS", 5)
    encoder = Encoder()
    cache = EmbeddingCache(tmp_path, encoder.identity)
    for start in range(0, 10, 3):  # batches of 3, 3, 3, 1: the first 6 are stored at once
        cache.features(inputs[start : start + 3], encoder)
    later = Encoder()
    _run(tmp_path, later, inputs)
    assert later.encoded == 4  # the last 4 wait for a flush


def test_the_least_recently_used_encoders_beyond_keep_are_removed(
    tmp_path: Path, inputs: torch.Tensor, caplog: pytest.LogCaptureFixture
) -> None:
    """Five encoders' features, used one day apart; a run of a sixth with keep=3 keeps its own
    and the two most recent. A folder used within the hour, and anything not named as an
    encoder folder, stay whatever their age."""
    day = 86_400.0
    folders: list[Path] = []
    for seed in range(5):
        _run(tmp_path, Encoder(seed=seed), inputs)
        (folder,) = set(tmp_path.iterdir()) - set(folders)
        folders.append(folder)
    now = time.time()
    for age, folder in zip((5, 4, 3, 2, 1), folders, strict=True):  # seed 4 the most recent
        os.utime(folder, (now - age * day, now - age * day))
    notes = tmp_path / "notes"
    notes.mkdir()
    os.utime(notes, (now - 9 * day, now - 9 * day))
    with caplog.at_level(logging.INFO):
        cache = EmbeddingCache(tmp_path, Encoder(seed=9).identity, keep=3)
        cache("train", torch.arange(10), inputs, Encoder(seed=9))
        cache.flush()
    assert cache.store is not None
    own = cache.store.folder
    assert sorted(tmp_path.iterdir()) == sorted([*folders[3:], notes, own])
    assert caplog.text.count("removed the stored features") == 3
    # A reader marks its folder used: seed 3's, read now, is in use. Pruning to one folder
    # (a run of yet another encoder) then removes only seed 4's, a day old: the two folders
    # used within the hour stay, although keep is exceeded.
    reader = Encoder(seed=3)
    _run(tmp_path, reader, inputs)
    assert reader.encoded == 0 and folders[3].stat().st_mtime > now - 60
    assert embedding_store.prune_stores(tmp_path, 1, tmp_path / ("0" * 24)) == [folders[4]]
    assert sorted(tmp_path.iterdir()) == sorted([folders[3], notes, own])
