"""A trained classifier rebuilt from its checkpoint alone, and waveform-in, logits-out models.

Every checkpoint carries the network's Hydra config, the data config (decode rate, clip length,
mel parameters) and the normalisation statistics, so predict, evaluate and export need nothing
but the ``.ckpt`` file.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from torch import nn

from genre_lightning import runs
from genre_lightning.audio import check_float_wave, clip_to_int16_range
from genre_lightning.data import split_record
from genre_lightning.errors import UserError
from genre_lightning.features.dft import with_dft_stft
from genre_lightning.features.mel import MelFeatures
from genre_lightning.models.build import data_facts
from genre_lightning.saved_run import (
    SavedRun,
    check_finite_weights,
    saved_front_end,
    saved_run,
    trained_with,
)
from genre_lightning.targets import TargetError, locate_class
from genre_lightning.training.checkpoint import USE_TRAINING_CKPT, read_checkpoint
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


def load_classifier(
    ckpt_path: str | Path,
    net_config: dict[str, Any] | None = None,
    map_location: str | torch.device = "cpu",
) -> Classifier:
    """Rebuild the classifier saved in a training checkpoint.

    Every part read from the file is checked as data (:mod:`~genre_lightning.saved_run`):
    a damaged or foreign file is one ``UserError`` naming what is wrong, not a traceback.

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
    saved = saved_run(path, ckpt)
    wanted = _network_config(saved, net_config)
    model = _rebuilt_module(saved, wanted)
    check_finite_weights(saved)
    outputs = wanted.get("num_classes")
    if isinstance(outputs, int) and len(saved.class_names) != outputs:
        raise UserError(
            f"ckpt_path={path}: it names {len(saved.class_names)} classes but its network has "
            f"{outputs} outputs; the file is damaged: {USE_TRAINING_CKPT}"
        )
    if model.normalize.per != "none" and not bool(model.normalize.fitted):
        raise UserError(f"ckpt_path={path}: its normalisation statistics were never measured")
    front = saved_front_end(saved)
    return Classifier(
        model=model.eval().to(device),
        features=front.features.eval().to(device),
        class_names=list(saved.class_names),
        sample_rate=front.sample_rate,
        clip_samples=front.clip_samples,
        window_samples=front.window,
        data_config=saved.data_config,
        path=path,
        split=split_record.read_record(ckpt.get(CHECKPOINT_KEY)),
        trained_with=trained_with(ckpt.get(CHECKPOINT_KEY)),
    )


def _network_config(saved: SavedRun, net_config: dict[str, Any] | None) -> dict[str, Any]:
    """The network to build: the checkpoint's own, or ``net_config`` given what the data decides
    (classes, input shape) from the checkpoint, as training gives it from the data
    (models/build.py); never fetching pretrained weights, which the state dict holds."""
    wanted = dict(net_config or saved.hparams["net_config"])
    if net_config is not None:
        with contextlib.suppress(TargetError):  # an unknown class: refused when it is built
            facts = data_facts(
                locate_class(wanted.get("_target_")),
                len(saved.class_names),
                saved.feature_shape,
            )
            wanted = {**facts, **wanted}
    if "pretrained" in wanted:
        wanted["pretrained"] = None
    return wanted


def _rebuilt_module(saved: SavedRun, wanted: dict[str, Any]) -> GenreClassifier:
    """The LightningModule of the checkpoint's settings around the network ``wanted``, its
    weights loaded.

    Raises:
        UserError: The network cannot be built, the settings cannot rebuild the module, or the
            weights do not fit the network.
    """
    path, saved_target = saved.path, saved.hparams["net_config"].get("_target_")
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
    settings = {k: v for k, v in saved.hparams.items() if k in accepted and k != "scheduler"}
    settings["net_config"] = wanted
    try:
        model = GenreClassifier(net=net, optimizer=torch.optim.Adam, **settings)  # never steps
    except (TypeError, ValueError, KeyError) as exc:  # a damaged file's hyperparameters
        raise UserError(
            f"ckpt_path={path}: its hyper_parameters cannot rebuild the classifier ({exc}); "
            f"{USE_TRAINING_CKPT}"
        ) from None
    try:
        model.load_state_dict(saved.state_dict)
    except RuntimeError as exc:
        detail = " ".join(line.strip() for line in str(exc).splitlines()[1:])
        raise UserError(
            f"ckpt_path={path}: its weights do not fit the network. The checkpoint was trained "
            f"with {saved_target}; the requested network is {wanted.get('_target_')}. "
            f"({detail[:300]}{' ...' if len(detail) > 300 else ''})"
        ) from None
    return model
