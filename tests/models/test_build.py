"""models/build.py: networks get their class count and input shape from the data."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from genre_lightning.errors import UserError
from genre_lightning.models.alexnet import AlexNet
from genre_lightning.models.build import build_network
from genre_lightning.models.mfcc_linear import MfccLinear
from genre_lightning.models.resnet import ResNet

from ..conftest import run_tiny

ALEXNET = {"_target_": "genre_lightning.models.alexnet.AlexNet", "dropout": 0.5}


def test_the_data_decides_classes_and_shape() -> None:
    net, config = build_network(
        {"_target_": "genre_lightning.models.resnet.ResNet"}, 7, (1, 130, 64)
    )
    assert isinstance(net, ResNet) and net.classifier.out_features == 7
    assert config == {
        "_target_": "genre_lightning.models.resnet.ResNet",
        "num_classes": 7,
        "in_channels": 1,
    }
    mfcc, config = build_network(
        {"_target_": "genre_lightning.models.mfcc_linear.MfccLinear", "n_mfcc": 13}, 4, (1, 50, 40)
    )
    assert isinstance(mfcc, MfccLinear) and config["n_mels"] == 40 and mfcc.dct.shape == (40, 13)


def test_alexnet_is_sized_for_the_data_or_refused() -> None:
    # The paper's AlexNet on 21 s windows (480 frames): its first linear layer follows them.
    net, config = build_network(ALEXNET, 10, (1, 480, 64))
    assert isinstance(net, AlexNet) and config["input_shape"] == [480, 64]
    assert net(torch.zeros(1, 1, 480, 64)).shape == (1, 10)
    # 3 s chunks of 22,050 Hz audio with hop 992 give 67 frames: only the adaptive variant.
    with pytest.raises(UserError, match=r"cannot take feature images of 67 frames.*adaptive=true"):
        build_network({**ALEXNET, "adaptive": False}, 10, (1, 67, 64))
    net, _ = build_network({**ALEXNET, "adaptive": True}, 10, (1, 67, 64))
    with pytest.raises(UserError, match=r"network AlexNet cannot take feature images of 45 frames"):
        build_network({**ALEXNET, "adaptive": True}, 10, (1, 45, 64))
    # Too short for the adaptive variant too: it is not suggested.
    with pytest.raises(UserError) as caught:
        build_network({**ALEXNET, "adaptive": False}, 10, (1, 45, 64))
    assert "adaptive" not in str(caught.value)
    assert "Use longer windows (data.seconds, data.clip_samples or data.chunk_seconds)" in str(
        caught.value
    )


def test_a_config_may_not_state_what_the_data_decides() -> None:
    with pytest.raises(UserError, match=r"model\.num_classes=5: the data decides it \(10 here\)"):
        build_network({**ALEXNET, "num_classes": 5}, 10, (1, 668, 64))


@pytest.mark.slow
def test_improved_recipe_with_alexnet_on_short_clips_is_one_error_line(
    tmp_path: Path, data_dir: Path
) -> None:
    # What experiment=improved_resnet model=alexnet does on the tiny set's 2 s clips: chunks of
    # 1.5 s, 34 frames, are too short for AlexNet.
    proc = run_tiny(tmp_path / "run", data_dir, "model=alexnet", "data.chunk_seconds=1.5")
    assert proc.returncode == 2, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the network AlexNet cannot take feature images of 34 frames")
    assert "Traceback" not in proc.stderr and proc.stderr.count("error:") == 1
