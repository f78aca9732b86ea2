"""data/config.py: every bad data.* value is one clear error, raised before any audio is read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig, OmegaConf

from genre_lightning.audio_files import CLIP_SAMPLES
from genre_lightning.data.config import check_data_config, seconds_to_samples
from genre_lightning.data.datamodule import GenreDataModule
from genre_lightning.data.index import GTZAN_GENRES
from genre_lightning.data.synthetic import STYLES, SyntheticDataModule
from genre_lightning.errors import UserError
from genre_lightning.features.mel import mel_settings

from ..conftest import run_cli, write_tone

BAD = [
    ({"batch_size": 0}, "data.batch_size=0 must be at least 1; e.g. data.batch_size=32"),
    ({"batch_size": "abc"}, "data.batch_size=abc is not a number; e.g. data.batch_size=32"),
    ({"batch_size": 2.5}, "data.batch_size=2.5 is not a whole number"),
    ({"clip_samples": -5}, "data.clip_samples=-5 must be at least 1"),
    ({"chunk_seconds": 0}, "data.chunk_seconds=0 must be above 0, or null"),
    ({"sample_rate": 0}, "data.sample_rate=0 must be at least 1; e.g. data.sample_rate=22050"),
    ({"split_by": "artist"}, "data.split_by=artist is not known; use data.split_by=track|folder"),
    (
        {"split": "artist"},
        "data.split=artist is not known; use data.split=random|filtered|kfold|all|test (test: "
        "evaluate only)",
    ),
    ({"features": {"n_mels": 0}}, "data.features.n_mels=0 must be at least 1"),
    ({"features": {"nmels": 64}}, "data.features.nmels is not a mel setting"),
    ({"features": {"n_fft": 512, "win_length": 1024}}, "exceeds data.features.n_fft=512"),
    ({"num_workers": -1}, "data.num_workers=-1 must be at least 0; e.g. data.num_workers=2"),
    ({"crop": "middle"}, "data.crop=middle is not known; use data.crop=start|centre|random"),
    ({"cache_features": "yes"}, "data.cache_features=yes is not known; use "),
    ({"cache_features": 1}, "data.cache_features=1 is not known"),
    ({"on_device": "no"}, "data.on_device=no must be true or false"),
    ({"max_seconds": "long"}, "data.max_seconds=long is not a number"),
    ({"cache_keep": 0}, "data.cache_keep=0 must be at least 1, or null"),
    ({"class_names": ["a", "b", "a"]}, "data.class_names=[a,b,a] names a twice"),
    ({"class_names": ["blues"]}, "data.class_names=[blues] names one genre; a genre classifier"),
    ({"split": "random", "split_fractions": [0.5, 0.5]}, "must be three positive numbers"),
    ({"split": "kfold", "fold": 5, "num_folds": 5}, "data.fold=5 must be in [0, 4] with data.num"),
    ({"val_fraction": 1.5}, "data.val_fraction=1.5 must be in (0, 1); e.g. data.val_fraction=0.1"),
    ({"seconds": 0}, "data.seconds=0 must be above 0"),
    ({"root": None}, "data.root is required for data=folder"),
    ({"crop": "random", "cache_features": True}, "data.cache_features=true, but the training"),
    ({"train_hop_seconds": 0}, "data.train_hop_seconds=0 must be above 0, or null"),
    (
        {"chunk_seconds": 3.0, "train_chunks": "random", "train_hop_seconds": 1.5},
        "data.train_hop_seconds=1.5 spaces fixed training chunks: it needs data.chunk_seconds",
    ),
    ({"train_hop_seconds": 1.5}, "data.train_hop_seconds=1.5 spaces fixed training chunks"),
    (
        # 129 frequency bins cannot feed 256 bands: the lowest ones would always be zero.
        {
            "sample_rate": 22050,
            "clip_samples": 22050,
            "features": {"n_fft": 256, "win_length": 256, "hop_length": 128, "n_mels": 256},
        },
        "data.features.n_mels=256 is more bands than data.features.n_fft=256 resolves at "
        "22050 Hz (some bands would hold no frequency bin and stay zero); use a larger n_fft; "
        "e.g. data.features.n_mels=76",
    ),
    (
        # A hop halved beside the paper's 668 frames: only the first half of each clip is read.
        {
            "sample_rate": 22050,
            "clip_samples": 662688,
            "features": {"hop_length": 496, "num_frames": 668},
        },
        "data.features.num_frames=668 reads only the first 668 of the 1337 frames a clip gives "
        "(data.features.hop_length=496): the rest of each clip would never be heard; e.g. "
        "data.features.num_frames=1337 (or null: every frame)",
    ),
    (
        # musicnn's 16 kHz front end fed 8 kHz clips: nothing above 4 kHz, without a word.
        {"sample_rate": 8000, "clip_samples": 24000, "features": {"resample_to": 16000}},
        "data.sample_rate=8000 is below data.features.resample_to=16000: the clips would be "
        "decoded at 8000 Hz and upsampled, leaving the front end nothing above 4000 Hz; decode "
        "at its rate or above; e.g. data.sample_rate=16000",
    ),
    (
        {"chunk_seconds": 3.0, "train_chunks": "all", "train_hop_seconds": 4},
        "data.train_hop_seconds=4 exceeds data.chunk_seconds=3.0 (parts of each track would",
    ),
]


@pytest.mark.parametrize(("settings", "message"), BAD)
def test_each_bad_value_is_named_with_a_fix(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError) as caught:
        check_data_config(settings)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)  # one line


def test_every_shipped_data_config_passes(make_cfg: Callable[..., DictConfig]) -> None:
    for option in ("gtzan", "synthetic"):
        check_data_config(make_cfg([f"data={option}"]).data)
    checked = make_cfg(["data=folder", "data.root=/somewhere"]).data
    check_data_config(checked)  # a DictConfig as composed, interpolations and all
    assert OmegaConf.select(checked, "root") == "/somewhere"


def test_the_shipped_data_configs_read_their_facts_from_the_code(
    make_cfg: Callable[..., DictConfig],
) -> None:
    # No yaml repeats them: the synthetic genres had been written out by hand beside STYLES.
    gtzan, synthetic = (make_cfg([f"data={option}"]).data for option in ("gtzan", "synthetic"))
    assert list(synthetic.class_names) == [style.name for style in STYLES]
    assert list(gtzan.class_names) == list(GTZAN_GENRES)
    # The paper's clip: every sample its centred frames read (the last frame's centre plus half
    # a window), by the front end's own defaults.
    mel = mel_settings(None)
    assert gtzan.clip_samples == CLIP_SAMPLES == 662_688
    assert (mel["num_frames"] - 1) * mel["hop_length"] + mel["n_fft"] // 2 == CLIP_SAMPLES
    assert gtzan.features.num_frames == mel["num_frames"]


def test_the_data_modules_check_before_reading_anything(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"data\.batch_size=0"):
        GenreDataModule(root=str(tmp_path / "absent"), batch_size=0)
    with pytest.raises(UserError, match=r"data\.seconds=-1"):
        SyntheticDataModule(root=str(tmp_path / "synthetic"), clips_per_class=1, seconds=-1, seed=0)
    assert not (tmp_path / "synthetic").exists()  # nothing generated


def test_seconds_to_samples() -> None:
    assert seconds_to_samples(6, 22050) == 132_300
    assert seconds_to_samples("2.5", "16000") == 40_000  # resolver arguments may be strings


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["data=folder"], "error: data.root is required for data=folder"),
        (["data.chunk_seconds=0"], "error: data.chunk_seconds=0 must be above 0"),
        (["data.split=artist"], "error: data.split=artist is not known"),
        (
            ["data.chunk_seconds=3.0", "data.train_hop_seconds=1.5"],
            "error: data.train_hop_seconds=1.5 spaces fixed training chunks: it needs",
        ),
    ],
)
def test_cli_stops_with_one_error_line_and_status_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    # GTZAN's folders, a short clip each: listed (a folder without audio is refused first, in a
    # second), never decoded: the values are refused before Hydra makes the run folder.
    data = tmp_path / "data"
    for genre in GTZAN_GENRES:
        write_tone(data / "gtzan" / genre / f"{genre}.00000.wav", seconds=0.1)
    run = tmp_path / "run"
    proc = run_cli([*args, f"paths.data_dir={data}", f"hydra.run.dir={run}"], cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(message), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "GTZAN" not in errors[0]
    assert not run.exists()
