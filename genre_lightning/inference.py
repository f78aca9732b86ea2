"""A trained classifier rebuilt from its checkpoint alone, and waveform-in, logits-out models.

Every checkpoint carries the network's Hydra config, the data config (decode rate, clip length,
mel parameters) and the normalisation statistics, so predict, evaluate and export need nothing
but the ``.ckpt`` file.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from torch import nn

from genre_lightning import runs
from genre_lightning.audio import check_float_wave, clip_to_int16_range
from genre_lightning.data import split_record
from genre_lightning.data.config import rate_and_clip
from genre_lightning.data.datamodule import window_samples
from genre_lightning.errors import UserError
from genre_lightning.features.dft import with_dft_stft
from genre_lightning.features.mel import MelFeatures
from genre_lightning.models.build import data_facts
from genre_lightning.targets import TargetError, locate_class
from genre_lightning.training.checkpoint import check_target, read_checkpoint
from genre_lightning.training.module import CHECKPOINT_KEY, GenreClassifier
from genre_lightning.validate import shown

#: Windows of one long recording pushed through the network at a time (bounds the memory).
WINDOW_BATCH = 16


class WaveformClassifier(nn.Module):
    """Waveforms (B, T) in, logits (B, classes) out: mel features, normalisation, network.

    Args:
        features: The mel front end of the training data.
        model: The trained classifier (its normalisation and network are used).
        export_friendly: Compute the STFT with real-valued convolutions (for ONNX).
        window: Samples per input (the training window). Given, other lengths are refused:
            the front end crops or pads to the training frame count, so a longer input would
            be scored on its first window alone. ``None`` checks nothing.
    """

    def __init__(
        self,
        features: MelFeatures,
        model: GenreClassifier,
        export_friendly: bool = False,
        window: int | None = None,
    ) -> None:
        super().__init__()
        self.features = with_dft_stft(features) if export_friendly else features
        self.normalize = model.normalize
        self.net = model.net
        self.window = window

    def network_input(
        self, wave: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The normalised features of float waveforms; ``lengths`` as in :class:`MelFeatures`.

        Samples past full scale are clipped first: the training cache stores int16, so that is
        how training heard a float file whose peaks pass 1.0 (an exported model included).

        Raises:
            TypeError: ``wave`` holds integer samples.
            ValueError: ``wave`` is not ``(batch, window)`` (when ``window`` is set).
        """
        # Eager only: a traced graph records no Python check (OneWindow guards an export).
        checked = self.window is not None and not torch.jit.is_tracing()
        if checked and (wave.dim() != 2 or wave.shape[1] != self.window):
            raise ValueError(
                f"wave: expected shape (batch, {self.window}), got {tuple(wave.shape)}; cut a "
                f"recording into windows of {self.window} samples and average their logits "
                f"(Classifier.classify does)"
            )
        check_float_wave(wave)  # before the clip, which casts integer samples to float
        return self.normalize(self.features(clip_to_int16_range(wave), lengths))

    def forward(self, wave: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Logits for float waveforms in [-1, 1]; ``lengths`` as in :class:`MelFeatures`."""
        return self.net(self.network_input(wave, lengths))


class OneWindow(nn.Module):
    """Refuses waveforms that are not one window long, then runs ``model`` on them.

    A traced model's frame count is fixed: a longer input would be read only as far as its
    first window, without a word (ONNX refuses it), so an exported TorchScript model says so.

    Args:
        model: The waveform model (traced).
        window: Samples per input (the training window).
    """

    def __init__(self, model: nn.Module, window: int) -> None:
        super().__init__()
        self.model = model
        self.window = window

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """Logits of ``(batch, window)`` float waveforms."""
        if wave.dim() != 2 or wave.shape[1] != self.window or not wave.is_floating_point():
            raise RuntimeError(
                "expected float waveforms in [-1, 1] of shape (batch, "
                + str(self.window)
                + "): cut a recording into windows of that many samples (zero-pad the last) "
                "and average their logits, as genre_lightning.predict does; scale int16 "
                "samples by 1/32768"
            )
        return self.model(wave)


@dataclass
class Classifier:
    """Everything needed to classify audio, rebuilt from one checkpoint.

    Attributes:
        model: The trained GenreClassifier, in eval mode.
        features: Its mel front end, built from the checkpoint's data config.
        class_names: Genre names in label order.
        sample_rate: Rate audio must be decoded at.
        clip_samples: The training data's clip length (``data.clip_samples``).
        window_samples: Samples per network input: the clip, or the chunk when the model was
            trained on ``data.chunk_seconds`` chunks.
        data_config: The checkpoint's data Hydra config.
        path: The checkpoint file.
        split: Its run's tracks per part (``genre/track`` ids), ``None`` for checkpoints
            written before runs recorded them.
        trained_with: The code, libraries and device that trained it (``provenance`` of
            ``metrics.json``), ``None`` for checkpoints written before runs recorded them.
    """

    model: GenreClassifier
    features: MelFeatures
    class_names: list[str]
    sample_rate: int
    clip_samples: int
    window_samples: int
    data_config: dict[str, Any]
    path: Path
    split: dict[str, list[str]] | None = None
    trained_with: dict[str, Any] | None = None

    def waveform_model(self, export_friendly: bool = False) -> WaveformClassifier:
        """The waveform-to-logits model (eval mode, on the classifier's device)."""
        return WaveformClassifier(
            self.features, self.model, export_friendly, self.window_samples
        ).eval()

    def to(self, device: torch.device | str) -> Classifier:
        """Move the network and the features to ``device`` (in place); returns self."""
        self.model.to(device)
        self.features.to(device)
        return self

    def store_features(self) -> None:
        """Write the features :meth:`classify_windows` computed to a probe's store (see
        :mod:`~genre_lightning.training.embedding_store`); nothing for other networks."""
        if self.model.embeddings is not None:
            self.model.embeddings.flush()

    @torch.no_grad()
    def classify(self, wave: torch.Tensor) -> torch.Tensor:
        """Genre probabilities (classes,) of one decoded mono waveform of any length.

        Scored as evaluation scores a track: the logits of every non-overlapping window of
        ``window_samples`` are averaged. A tail shorter than a window is left out (a mostly
        silent window is unlike any training input); a recording shorter than one window is one
        zero-padded window whose padding frames are zeroed, as in training.
        """
        if wave.dim() != 1 or wave.numel() == 0:
            raise ValueError(f"expected a non-empty 1-D waveform, got shape {tuple(wave.shape)}")
        check_float_wave(wave)
        size = self.window_samples
        if wave.numel() < size:
            padded = nn.functional.pad(wave.float(), (0, size - wave.numel()))
            return self.classify_windows([(padded, wave.numel())])
        count = wave.numel() // size
        return self.classify_windows((w, size) for w in wave.float()[: count * size].split(size))

    @torch.no_grad()
    def classify_windows(self, windows: Iterable[tuple[torch.Tensor, int]]) -> torch.Tensor:
        """Genre probabilities (classes,) of a recording given as a stream of windows.

        Takes ``(window, length)`` pairs as :class:`~genre_lightning.audio.WindowReader`
        yields them (``length`` < ``window_samples`` only for a zero-padded short recording)
        and averages their logits. At most :data:`WINDOW_BATCH` windows are held at a time, so
        a recording of any length is classified in bounded memory.
        """
        device = self.model.normalize.mean.device
        model = self.waveform_model()
        total: torch.Tensor | None = None
        count = 0
        batch: list[torch.Tensor] = []
        lengths: list[int] = []

        def run() -> torch.Tensor:
            waves = torch.stack(batch).to(device)
            # The network through the module: a probe reads its stored features (the same
            # windows predicted again, e.g. by a retrained head, cost no musicnn pass).
            x = model.network_input(waves, torch.tensor(lengths))
            logits = self.model.stored_logits(x).double().sum(dim=0)
            batch.clear()
            lengths.clear()
            return logits

        for window, length in windows:
            batch.append(window)
            lengths.append(length)
            count += 1
            if len(batch) == WINDOW_BATCH:
                total = run() if total is None else total + run()
        if batch:
            total = run() if total is None else total + run()
        if total is None:
            raise ValueError("no windows to classify")
        return (total / count).float().softmax(dim=0).cpu()


def resolve_device(name: Any) -> torch.device:
    """The torch device of a ``device=`` setting: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.

    Raises:
        UserError: The name is not one of those, or names a CUDA device this machine lacks.
    """
    if not isinstance(name, str):  # null or a list from the command line; the API takes any
        raise UserError(f"device={shown(name)}: use device=auto, cpu, cuda or cuda:N")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    index = name.partition(":")[2]
    if name not in ("cpu", "cuda") and not (name.startswith("cuda:") and index.isdigit()):
        raise UserError(f"device={name}: use device=auto, cpu, cuda or cuda:N (N a GPU number)")
    if name == "cpu":
        return torch.device("cpu")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise UserError(f"device={name}, but no CUDA GPU is visible; use device=cpu or auto")
    if index and int(index) >= count:
        raise UserError(
            f"device={name}, but this machine has {count} GPU(s): use cuda:0..{count - 1}"
        )
    return torch.device(name)


def _check_front_end(
    path: Path, features: MelFeatures, window: int, feature_shape: Sequence[int]
) -> None:
    """Refuse a checkpoint whose mel settings make images of another shape than its network
    (and normalisation) was trained on: every file would fail, with a shape traceback."""
    made = features.image_shape(window)
    if made != tuple(feature_shape):
        raise UserError(
            f"ckpt_path={path}: its data config's mel front end makes images of shape "
            f"{list(made)}, but its network was trained on {list(feature_shape)}; the file is "
            f"damaged: use a .ckpt from a training run's checkpoints/ folder"
        )


def load_classifier(
    ckpt_path: str | Path,
    net_config: dict[str, Any] | None = None,
    map_location: str | torch.device = "cpu",
) -> Classifier:
    """Rebuild the classifier saved in a training checkpoint.

    Args:
        ckpt_path: A ``.ckpt`` written by training (e.g. ``<run>/checkpoints/best.ckpt``).
        net_config: Network config to build instead of the checkpoint's own (its weights must
            fit it).
        map_location: Where the weights are loaded: a device, or a name as ``device=`` takes
            (``auto``, ``cpu``, ``cuda``, ``cuda:N``).

    Raises:
        UserError: The device is not one this machine has; the file is missing, is not a
            genre_lightning checkpoint, or its weights do not fit the network.
    """
    # Checked first: torch.load would report an unknown device as a damaged file.
    device = (
        map_location if isinstance(map_location, torch.device) else resolve_device(map_location)
    )
    path = runs.checkpoint_file(ckpt_path)
    ckpt = read_checkpoint(path, device)
    hparams = ckpt.get("hyper_parameters")
    if not isinstance(hparams, dict) or not hparams.get("net_config") or "state_dict" not in ckpt:
        raise UserError(
            f"ckpt_path={path}: not a genre_lightning checkpoint (no net_config in its "
            f"hyper_parameters); use a .ckpt from a training run's checkpoints/ folder"
        )
    check_target(path, "net_config", hparams["net_config"])
    data_config = hparams.get("data_config")
    if not isinstance(data_config, dict) or "_target_" not in data_config:
        # Every checkpoint training writes has one: without it the mel front end, the window
        # and the data module would be guesses, whose shapes the network's weights refuse.
        raise UserError(
            f"ckpt_path={path}: its hyper_parameters hold no data_config (the data and mel "
            f"settings it was trained with), so its input cannot be rebuilt; the file is damaged "
            f"or not from training: use a .ckpt from a training run's checkpoints/ folder"
        )
    check_target(path, "data_config", data_config)
    class_names = hparams.get("class_names")
    if (
        not isinstance(class_names, list)
        or not all(isinstance(name, str) and name for name in class_names)
        or len(set(class_names)) != len(class_names)
    ):
        # Each is a CSV column and a row of the confusion matrix: a repeated or non-text
        # name would shift or merge them.
        raise UserError(
            f"ckpt_path={path}: its class_names ({str(class_names)[:80]}) are not a list of "
            f"distinct genre names; the file is damaged: use a .ckpt from a training run's "
            f"checkpoints/ folder"
        )
    feature_shape = hparams.get("feature_shape")
    if not (
        isinstance(feature_shape, list | tuple)
        and len(feature_shape) == 3
        and all(isinstance(n, int) and n > 0 for n in feature_shape)
    ):
        # Every checkpoint training writes records it (GenreClassifier saves it, its default
        # too): without it the network's input would be a guess.
        raise UserError(
            f"ckpt_path={path}: its feature_shape ({str(feature_shape)[:80]}) is not the "
            f"(channels, frames, mels) of the images its network was trained on; the file is "
            f"damaged: use a .ckpt from a training run's checkpoints/ folder"
        )
    if not isinstance(ckpt["state_dict"], dict):
        raise UserError(
            f"ckpt_path={path}: its state_dict is a {type(ckpt['state_dict']).__name__}, not "
            f"the network's weights by name; the file is damaged: use a .ckpt from a training "
            f"run's checkpoints/ folder"
        )
    saved_target = hparams["net_config"].get("_target_")
    wanted = dict(net_config or hparams["net_config"])
    if net_config is not None:
        # A network asked for by name gets what the data decides (classes, input shape) from
        # the checkpoint, as training gives it from the data (models/build.py).
        with contextlib.suppress(TargetError):  # an unknown class: refused below
            facts = data_facts(
                locate_class(wanted.get("_target_")),
                len(hparams["class_names"]),
                feature_shape,
            )
            wanted = {**facts, **wanted}
    if "pretrained" in wanted:  # the state dict holds the weights: never fetch them again
        wanted["pretrained"] = None
    try:
        net = instantiate(wanted)
    except Exception as exc:  # hydra wraps import and argument errors alike
        raise UserError(
            f"ckpt_path={path}: cannot build the network {wanted.get('_target_')} (the "
            f"checkpoint was trained with {saved_target}): {exc}"
        ) from exc
    # Every saved module setting (normalisation kind, ...) is passed back; training-only ones
    # (augmentation, schedule) do nothing in eval mode. Unknown keys from other versions go.
    accepted = inspect.signature(GenreClassifier.__init__).parameters
    settings = {k: v for k, v in hparams.items() if k in accepted and k != "scheduler"}
    settings["net_config"] = wanted
    try:
        model = GenreClassifier(net=net, optimizer=torch.optim.Adam, **settings)  # never steps
    except (TypeError, ValueError, KeyError) as exc:  # a damaged file's hyperparameters
        raise UserError(
            f"ckpt_path={path}: its hyper_parameters cannot rebuild the classifier ({exc}); use "
            f"a .ckpt from a training run's checkpoints/ folder"
        ) from None
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        detail = " ".join(line.strip() for line in str(exc).splitlines()[1:])
        raise UserError(
            f"ckpt_path={path}: its weights do not fit the network. The checkpoint was trained "
            f"with {saved_target}; the requested network is {wanted.get('_target_')}. "
            f"({detail[:300]}{' ...' if len(detail) > 300 else ''})"
        ) from None
    # Training stops at the first non-finite loss, so no checkpoint it writes holds NaN: such
    # weights are damage, which would otherwise pass export's check (NaN against NaN) and
    # give every file of predict NaN probabilities, blamed on the audio.
    broken = sum(
        int((~value.isfinite()).sum())
        for value in ckpt["state_dict"].values()
        if isinstance(value, torch.Tensor) and value.is_floating_point()
    )
    if broken:
        raise UserError(
            f"ckpt_path={path}: {broken} of its weights are NaN or infinite; the file is "
            f"damaged: use another .ckpt of the run's checkpoints/ folder, or retrain"
        )
    outputs = wanted.get("num_classes")
    if isinstance(outputs, int) and len(class_names) != outputs:
        raise UserError(
            f"ckpt_path={path}: it names {len(class_names)} classes but its network has "
            f"{outputs} outputs; the file is damaged: use a .ckpt from a training run's "
            f"checkpoints/ folder"
        )
    if model.normalize.per != "none" and not bool(model.normalize.fitted):
        raise UserError(f"ckpt_path={path}: its normalisation statistics were never measured")
    data_config = dict(data_config)
    try:
        sample_rate, clip_samples = (int(n) for n in rate_and_clip(data_config))
        if sample_rate < 1 or clip_samples < 1:
            raise ValueError(f"sample_rate={sample_rate}, clip_samples={clip_samples}")
        window = window_samples(clip_samples, data_config.get("chunk_seconds"), sample_rate)
        if window < 1:
            raise ValueError(f"chunk_seconds={data_config.get('chunk_seconds')}")
        features = MelFeatures(sample_rate=sample_rate, **data_config.get("features", {}))
    except (TypeError, ValueError) as exc:  # a damaged file's data config, read as data
        raise UserError(
            f"ckpt_path={path}: its data config cannot rebuild the mel front end ({exc}); use "
            f"a .ckpt from a training run's checkpoints/ folder"
        ) from None
    _check_front_end(path, features, window, feature_shape)
    return Classifier(
        model=model.eval().to(device),
        features=features.eval().to(device),
        class_names=list(class_names),
        sample_rate=sample_rate,
        clip_samples=clip_samples,
        window_samples=window,
        data_config=data_config,
        path=path,
        split=split_record.read_record(ckpt.get(CHECKPOINT_KEY)),
        trained_with=_trained_with(ckpt.get(CHECKPOINT_KEY)),
    )


def _trained_with(state: Any) -> dict[str, Any] | None:
    """A checkpoint's record of what trained it, where it is one (a record of texts, flags and
    nulls); otherwise, as for a checkpoint from before it was kept, None."""
    record = state.get(runs.PROVENANCE) if isinstance(state, dict) else None
    if not isinstance(record, dict):
        return None
    plain = all(
        isinstance(k, str) and (v is None or isinstance(v, str | bool)) for k, v in record.items()
    )
    return dict(record) if plain else None
