"""inference.py: a checkpoint rebuilt alone, windowed classification, the export-friendly STFT.

The checkpoints come from conftest's session fixtures (trained once per test session).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch

from genre_lightning.audio import fix_length, load_audio
from genre_lightning.errors import UserError
from genre_lightning.features.dft import DftMelSpectrogram, with_dft_stft
from genre_lightning.features.mel import MelFeatures
from genre_lightning.inference import Classifier, load_classifier, resolve_device
from genre_lightning.training.module import CHECKPOINT_KEY

from .conftest import BLUES


@pytest.fixture(scope="session")
def tiny(tiny_ckpt: Path) -> Classifier:
    return load_classifier(tiny_ckpt)


def test_checkpoint_rebuilds_alone(tiny: Classifier, tiny_ckpt: Path) -> None:
    saved = torch.load(tiny_ckpt, map_location="cpu", weights_only=True)
    assert not tiny.model.training and bool(tiny.model.normalize.fitted)
    for key in ("normalize.mean", "normalize.std", "net.classifier.weight"):
        assert torch.equal(tiny.model.state_dict()[key], saved["state_dict"][key])
    assert tiny.class_names == saved["hyper_parameters"]["class_names"]
    assert (tiny.sample_rate, tiny.clip_samples, tiny.window_samples) == (22050, 44100, 44100)
    assert tiny.features(torch.zeros(1, 44100)).shape == (1, 1, 45, 64)


def test_classify_averages_full_windows(tiny: Classifier) -> None:
    # Within full scale: classify clips samples past it, as training's int16 cache does.
    wave = 0.3 * torch.randn(44100 * 2 + 20000, generator=torch.Generator().manual_seed(1))
    wave = wave.clamp(-1.0, 0.99)
    model = tiny.waveform_model()
    with torch.no_grad():
        logits = model(wave[: 2 * 44100].view(2, 44100), torch.tensor([44100, 44100]))
    probs = tiny.classify(wave)
    assert probs.shape == (10,) and float(probs.sum()) == pytest.approx(1.0)
    # The 20000-sample tail is left out, as evaluation over chunks leaves it out.
    torch.testing.assert_close(probs, logits.mean(0).softmax(0))


def test_short_recording_is_one_masked_window(tiny: Classifier) -> None:
    wave = (0.3 * torch.randn(15000, generator=torch.Generator().manual_seed(2))).clamp(-1, 0.99)
    # What training sees for a short clip: zero-padded, with its length masking the padding.
    mel = tiny.features(fix_length(wave, 44100)[None], torch.tensor([15000]))
    with torch.no_grad():
        expected = tiny.model(mel)[0].softmax(0)
    torch.testing.assert_close(tiny.classify(wave), expected)


def test_dft_stft_matches_torchaudio(gtzan_sample: Path) -> None:
    wave = fix_length(load_audio(gtzan_sample / BLUES), 662_688)[None]
    for log in (False, True):
        features = MelFeatures(log=log)
        reference, dft = features(wave), with_dft_stft(features)(wave)
        assert isinstance(with_dft_stft(features).mel, DftMelSpectrogram)
        scale = reference.abs().max()
        assert float((dft - reference).abs().max() / scale) < 1e-5


def test_missing_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"no checkpoint file at .*nothing\.ckpt"):
        load_classifier(tmp_path / "nothing.ckpt")
    # A run folder given for its checkpoint: the file in it is named.
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    (tmp_path / "run" / "checkpoints" / "best.ckpt").write_bytes(b"")
    for folder in (tmp_path / "run", tmp_path / "run" / "checkpoints"):
        with pytest.raises(UserError) as caught:
            load_classifier(folder)
        best = tmp_path / "run" / "checkpoints" / "best.ckpt"
        assert (
            str(caught.value)
            == f"ckpt_path={folder}: is a folder; give its file, e.g. ckpt_path={best}"
        )
    # A device (or a pipe) is neither: "no checkpoint file at /dev/null" read as a typo.
    with pytest.raises(UserError, match=r"^ckpt_path=/dev/null: is neither a regular file nor a"):
        load_classifier("/dev/null")
    (tmp_path / "text.ckpt").write_text("not a checkpoint")
    with pytest.raises(UserError, match=r"^ckpt_path=.*text\.ckpt: not a readable checkpoint"):
        load_classifier(tmp_path / "text.ckpt")
    torch.save({"state_dict": {}, "hyper_parameters": {"lr": 1}}, tmp_path / "other.ckpt")
    with pytest.raises(UserError, match="not a genre_lightning checkpoint"):
        load_classifier(tmp_path / "other.ckpt")


def test_weights_of_another_network_are_refused(tiny_ckpt: Path) -> None:
    alexnet = {"_target_": "genre_lightning.models.alexnet.AlexNet", "adaptive": True}
    with pytest.raises(UserError) as err:
        load_classifier(tiny_ckpt, net_config=alexnet)
    message = str(err.value)
    assert "trained with genre_lightning.models.resnet.ResNet" in message
    assert "requested network is genre_lightning.models.alexnet.AlexNet" in message
    with pytest.raises(UserError, match=r"cannot build the network no\.such\.Net"):
        load_classifier(tiny_ckpt, net_config={"_target_": "no.such.Net"})


def test_hyperparameters_that_contradict_the_file_are_refused(
    tiny_ckpt: Path, tmp_path: Path
) -> None:
    # A file edited or damaged so that its record disagrees with itself: predict used to zip
    # three class names against two outputs, or divide by a zero sample rate (tracebacks),
    # and export wrote a model whose description did not match it.
    ckpt = torch.load(tiny_ckpt, map_location="cpu", weights_only=True)
    names = ckpt["hyper_parameters"]["class_names"]
    ckpt["hyper_parameters"]["class_names"] = [*names, "extra"]
    torch.save(ckpt, tmp_path / "classes.ckpt")
    with pytest.raises(UserError, match=rf"names {len(names) + 1} classes but its network has "):
        load_classifier(tmp_path / "classes.ckpt")
    # Names that are not distinct texts: repeated, a column and a confusion row would shift.
    for bad in ([names[0], *names[:-1]], [1, 2], "blues"):
        ckpt["hyper_parameters"]["class_names"] = bad
        torch.save(ckpt, tmp_path / "names.ckpt")
        with pytest.raises(UserError, match=r"are not a list of distinct genre names"):
            load_classifier(tmp_path / "names.ckpt")
    ckpt["hyper_parameters"]["class_names"] = names
    weights = ckpt["state_dict"]
    ckpt["state_dict"] = [1, 2]
    torch.save(ckpt, tmp_path / "list.ckpt")
    with pytest.raises(UserError, match=r"its state_dict is a list, not the network's weights"):
        load_classifier(tmp_path / "list.ckpt")
    ckpt["state_dict"] = weights
    chunk = ckpt["hyper_parameters"]["data_config"]["chunk_seconds"]
    ckpt["hyper_parameters"]["data_config"]["chunk_seconds"] = -3.0
    torch.save(ckpt, tmp_path / "chunk.ckpt")
    with pytest.raises(UserError, match=r"cannot rebuild the mel front end \(chunk_seconds=-3"):
        load_classifier(tmp_path / "chunk.ckpt")
    ckpt["hyper_parameters"]["data_config"]["chunk_seconds"] = chunk
    ckpt["hyper_parameters"]["data_config"]["sample_rate"] = 0
    torch.save(ckpt, tmp_path / "rate.ckpt")
    with pytest.raises(UserError, match=r"cannot rebuild the mel front end \(sample_rate=0"):
        load_classifier(tmp_path / "rate.ckpt")
    # Mel settings whose images the network was not trained on: every file used to fail in
    # the normalisation with a shape traceback (predict, export, evaluate alike).
    ckpt["hyper_parameters"]["data_config"]["sample_rate"] = 22050
    data_config = copy.deepcopy(ckpt["hyper_parameters"]["data_config"])
    features = ckpt["hyper_parameters"]["data_config"]["features"]
    trained = list(ckpt["hyper_parameters"]["feature_shape"])
    features["n_mels"] //= 2
    torch.save(ckpt, tmp_path / "mels.ckpt")
    with pytest.raises(UserError) as caught:
        load_classifier(tmp_path / "mels.ckpt")
    assert f"makes images of shape {[*trained[:2], trained[2] // 2]}, but its network was " in (
        str(caught.value)
    )
    assert f"trained on {trained}; the file is damaged" in str(caught.value)
    ckpt["hyper_parameters"]["data_config"] = data_config
    # No record of the images the network was trained on: the paper's shape was guessed for a
    # network asked for by name. Every checkpoint training writes holds it.
    for shape in ("missing", [1, 45], "1x45x64"):
        if shape == "missing":
            del ckpt["hyper_parameters"]["feature_shape"]
        else:
            ckpt["hyper_parameters"]["feature_shape"] = shape
        torch.save(ckpt, tmp_path / "shape.ckpt")
        with pytest.raises(UserError, match=r"shape\.ckpt: its feature_shape \(.*\) is not the "):
            load_classifier(tmp_path / "shape.ckpt")
    ckpt["hyper_parameters"]["feature_shape"] = trained
    # NaN weights: export's check compared NaN with NaN and passed; predict blamed the audio.
    weight = next(
        k for k, v in ckpt["state_dict"].items() if v.is_floating_point() and v.numel() > 3
    )
    ckpt["state_dict"][weight].view(-1)[:3] = torch.tensor([float("nan"), float("inf"), 0.0])
    torch.save(ckpt, tmp_path / "nan.ckpt")
    with pytest.raises(UserError, match=r"nan\.ckpt: 2 of its weights are NaN or infinite; the "):
        load_classifier(tmp_path / "nan.ckpt")
    # No data config at all: the defaults were guessed (predict, export) or evaluate failed on
    # a missing key; it is what the input is made with, so the file is refused.
    for damaged in (None, {"sample_rate": 22050}):
        ckpt["hyper_parameters"]["data_config"] = damaged
        torch.save(ckpt, tmp_path / "nodata.ckpt")
        with pytest.raises(UserError, match=r"its hyper_parameters hold no data_config \(the "):
            load_classifier(tmp_path / "nodata.ckpt")


def test_the_record_of_what_trained_a_checkpoint_is_read_as_plain_data(
    tiny_ckpt: Path, tmp_path: Path
) -> None:
    ckpt = torch.load(tiny_ckpt, map_location="cpu", weights_only=True)
    record = ckpt[CHECKPOINT_KEY]["provenance"]
    assert load_classifier(tiny_ckpt).trained_with == record and record["device"] == "cpu"
    # A record edited into something else is no record (the file still classifies).
    for damaged in ({"commit": torch.zeros(2)}, ["abc"], {1: "x"}):
        ckpt[CHECKPOINT_KEY]["provenance"] = damaged
        torch.save(ckpt, tmp_path / "edited.ckpt")
        assert load_classifier(tmp_path / "edited.ckpt").trained_with is None, damaged


def test_checkpoint_from_before_the_restructure_still_loads() -> None:
    # Written by the code of 2026-11-25 (flat package, network config with num_classes in the
    # yaml); the JSON holds what that code's classify() gave on a fixed noise input.
    fixture = Path(__file__).parent / "fixtures" / "checkpoints"
    expected = json.loads((fixture / "mfcc_linear_2026-11-25.json").read_text())
    classifier = load_classifier(fixture / "mfcc_linear_2026-11-25.ckpt")
    assert classifier.class_names == expected["class_names"]
    assert classifier.trained_with is None  # it predates the record of what trained it
    generator = torch.Generator().manual_seed(expected["wave_seed"])
    wave = expected["scale"] * torch.randn(expected["samples"], generator=generator)
    torch.testing.assert_close(
        classifier.classify(wave), torch.tensor(expected["probabilities"]), rtol=1e-5, atol=1e-6
    )


def test_windows_stream_gives_what_classify_gives(tiny: Classifier) -> None:
    wave = 0.3 * torch.randn(44100 * 20 + 777, generator=torch.Generator().manual_seed(3))
    # 20 windows: more than one batch of WINDOW_BATCH, so the sum runs over batches.
    windows = ((w, 44100) for w in wave[: 20 * 44100].split(44100))
    streamed = tiny.classify_windows(windows)
    torch.testing.assert_close(streamed, tiny.classify(wave))
    # Both go through classify_windows: the reference is the waveform model on all 20 at once.
    with torch.no_grad():
        logits = tiny.waveform_model()(wave[: 20 * 44100].view(20, 44100))
    torch.testing.assert_close(streamed, logits.double().mean(0).float().softmax(0))
    with pytest.raises(ValueError, match="no windows"):
        tiny.classify_windows([])


def test_device_names() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    for bad in ("gpu", "cuda:x", "tpu"):
        with pytest.raises(UserError, match=f"device={bad}: use device=auto, cpu, cuda or cuda:N"):
            resolve_device(bad)
    # Not a text at all: named as the command line writes it (this crashed on None).
    for value, written in ((None, "null"), (["cpu"], r"\[cpu\]"), (0, "0")):
        with pytest.raises(UserError, match=f"^device={written}: use device=auto, cpu, cuda"):
            resolve_device(value)
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(UserError, match=f"device=cuda:{count}, but"):
        resolve_device(f"cuda:{count}")


def test_integer_samples_and_other_lengths_are_refused(tiny: Classifier) -> None:
    wave = (0.3 * torch.randn(44100, generator=torch.Generator().manual_seed(4))).clamp(-1, 0.99)
    pcm = torch.round(wave * 32768).to(torch.int16)
    # Cast to float, int16 samples are 32768 times too loud: they scored as a square wave.
    for call in (tiny.classify, lambda w: tiny.waveform_model()(w[None]), tiny.features):
        with pytest.raises(TypeError, match=r"torch\.int16.*from_int16"):
            call(pcm if call is not tiny.features else pcm[None])
    model = tiny.waveform_model()
    with torch.no_grad():
        one = model(wave[None])
        # A longer input was cut to the front end's frame count: its first window, unsaid.
        with pytest.raises(ValueError, match=r"wave: expected shape \(batch, 44100\), got \(1, "):
            model(torch.cat([wave, -wave])[None])
        with pytest.raises(ValueError, match="got \\(1, 1000\\)"):
            model(wave[None, :1000])  # failed inside the normalisation's broadcast
    assert one.shape == (1, 10)


def test_a_device_this_machine_lacks_is_named_not_blamed_on_the_file(tiny_ckpt: Path) -> None:
    # torch.load's device error was reported as a damaged checkpoint.
    with pytest.raises(UserError, match=r"^device=bogus: use device=auto"):
        load_classifier(tiny_ckpt, map_location="bogus")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match=r"^device=cuda, but no CUDA GPU is visible"):
            load_classifier(tiny_ckpt, map_location="cuda")
    assert load_classifier(tiny_ckpt, map_location=torch.device("cpu")).class_names
