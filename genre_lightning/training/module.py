"""GenreClassifier: the LightningModule around every network.

It owns the normalisation (statistics measured on the training set before ``fit`` and saved in
every checkpoint), augmentation, the cross-entropy objective and the optimizer built from the
Hydra config; its base class (:mod:`~genre_lightning.training.epoch_metrics`) turns each
validation and test epoch into track-level whole-epoch metrics.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, cast

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from genre_lightning import runs
from genre_lightning.errors import UserError
from genre_lightning.features.mel import DEFAULT_IMAGE_SHAPE
from genre_lightning.features.normalize import Normalize
from genre_lightning.provenance import provenance
from genre_lightning.training.augment import SpecAugment, mixup
from genre_lightning.training.embedding_store import KEEP, default_store_root
from genre_lightning.training.embeddings import EmbeddingCache
from genre_lightning.training.epoch_metrics import EpochMetrics
from genre_lightning.training.metrics import GenreMetrics
from genre_lightning.training.speed import channels_last, trains_on_cuda
from genre_lightning.training.tracks import TrackLogits

#: Validation clips shown in TensorBoard each epoch.
EXAMPLES = 4
#: The checkpoint entry with this module's own state (beside Lightning's).
CHECKPOINT_KEY = "genre_lightning"


def _mid_epoch(trainer: pl.Trainer) -> bool:
    """Whether the trainer stopped inside a training epoch (some, not all, batches done).

    A step counts as trained once "processed"; Lightning counts it "completed" only after the
    ``on_train_batch_end`` hooks, where a SIGTERM's checkpoint is written: so the first step of
    an epoch is processed but not completed, and the last one leaves the epoch unfinished.
    """
    progress = trainer.fit_loop.epoch_loop.batch_progress.current
    # A batch progress tracks "processed" too; its annotation names only the base tracker.
    processed: int = progress.processed  # type: ignore[attr-defined]
    return processed > 0 and progress.completed < trainer.num_training_batches


class NonFiniteLossError(UserError):
    """The training loss became NaN or infinite."""


# (mel, label, track, item): genre_lightning.data.batches.FeatureBatch
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


class GenreClassifier(EpochMetrics):
    """Classify mel images into genres.

    Args:
        net: The network (AlexNet, ResNet, ...) mapping (B, 1, frames, mels) to logits.
        optimizer: A partial optimizer (``_partial_: true`` in ``conf/optimizer``) that takes
            the parameters.
        class_names: Genre names in label order.
        feature_shape: Shape of one mel image, for the normalisation buffers (training gives
            the data's; the default is the default front end's).
        normalize: Normalisation statistics ``per`` element (the paper), ``mel`` band, or
            ``none`` (no normalisation). The statistics are measured on the training set and
            set with ``normalize.set_statistics`` before fit (train.py does).
        spec_augment: Keyword arguments of :class:`~genre_lightning.training.augment.SpecAugment`
            (applied to training batches), or ``None``.
        mixup_alpha: Beta(alpha, alpha) mixup of training batches; 0 turns it off.
        scheduler: A partial learning-rate scheduler taking the optimizer (``conf/scheduler``),
            or ``None``. ``OneCycleLR`` gets ``total_steps`` from the trainer.
        scheduler_interval: Step the scheduler every ``epoch`` or every ``step``.
        net_config: The network's Hydra config, stored so a checkpoint rebuilds it alone.
        data_config: The data's Hydra config (decode settings, mel parameters, split), stored
            so predict/evaluate/export need nothing but the checkpoint.
        optimization_config: The ``optimizer`` and ``scheduler`` configs (and the length of
            a schedule stepped per batch, ``trainer``), stored so that a resume with others is
            refused before it starts.
        channels_last: Run the network in channels-last layout; ``None``: when on CUDA.
        cache_embeddings: Compute the features of a frozen network's encoder (``net.embed``)
            once per item and train only its head (``net.head``) on them: a linear probe.
            Valid only when every item's input is fixed (train.py checks).
        embedding_cache_dir: Where those features are kept between runs, so that later runs
            on the same chunks read them (:mod:`~genre_lightning.training.embedding_store`);
            ``None``: ``embeddings/`` in the user cache. Only for a network that names its
            encoder (``net.encoder_identity``, as musicnn's does); others keep their features
            for the run only. Not saved in checkpoints: a folder of this machine.
        embedding_cache_keep: Networks whose features are kept there, the most recently
            used; older folders are removed (``None``: all). Not saved in checkpoints either.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory,
        class_names: Sequence[str],
        feature_shape: Sequence[int] = DEFAULT_IMAGE_SHAPE,
        normalize: str = "element",
        spec_augment: dict[str, int] | None = None,
        mixup_alpha: float = 0.0,
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "epoch",
        net_config: dict[str, Any] | None = None,
        data_config: dict[str, Any] | None = None,
        optimization_config: dict[str, Any] | None = None,
        channels_last: bool | None = None,
        cache_embeddings: bool = False,
        embedding_cache_dir: str | os.PathLike[str] | None = None,
        embedding_cache_keep: int | None = KEEP,
    ) -> None:
        super().__init__()
        # The network and the optimizer factory are objects; their configs are what is saved.
        # Not logged as-is: train.py logs the whole flattened run config to the hparams tab.
        self.save_hyperparameters(
            ignore=[
                "net",
                "optimizer",
                "scheduler",
                "embedding_cache_dir",
                "embedding_cache_keep",
            ],
            logger=False,
        )
        self.net = net
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.class_names = list(class_names)
        self.normalize = Normalize(tuple(feature_shape), per=normalize)
        self.augment = SpecAugment(**spec_augment) if spec_augment else nn.Identity()
        self.mixup_alpha = mixup_alpha
        self.criterion = nn.CrossEntropyLoss()
        # Training accuracy is synced over ranks; validation and test metrics are fed the
        # predictions of every rank already (TrackLogits gathers them).
        self.train_acc = MulticlassAccuracy(num_classes=len(self.class_names), average="micro")
        self.train_loss = MeanMetric()
        self.metrics = GenreMetrics(self.class_names)
        self.embeddings = (
            EmbeddingCache(
                Path(embedding_cache_dir) if embedding_cache_dir else default_store_root(),
                getattr(net, "encoder_identity", None),
                embedding_cache_keep,
            )
            if cache_embeddings
            else None
        )
        self.test_results_ = None
        # Validation accuracy of every finished epoch (kept in checkpoints, so a resumed run
        # knows the epochs before it), and that of the checkpoint a test loaded.
        self.val_history = []
        # False for a run that trains on from another run's checkpoint: that run's epochs are
        # not this run's, whose best epoch is chosen among its own (train.py sets it).
        self.restore_val_history = True
        self.tested_val_acc: float | None = None
        # The code, libraries and device that train (provenance.py): asked once per fit, since
        # git is asked every time, and saved in every checkpoint of the fit.
        self.trained_with: dict[str, Any] | None = None
        self.epoch_logits = TrackLogits()  # validation/test chunks of the current epoch
        self._val_examples = None
        self.memory_format = torch.contiguous_format

    def configure_model(self) -> None:
        """Pick the activation layout once the trainer's device is known."""
        wanted = self.hparams.get("channels_last")
        if wanted is None:
            wanted = trains_on_cuda(self._trainer)
        if wanted and self.memory_format is not torch.channels_last:
            channels_last(self.net)
            self.memory_format = torch.channels_last

    def _net(
        self, x: torch.Tensor, part: str | None = None, items: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The network's logits; with ``cache_embeddings``, from the cached features of
        ``items`` of ``part`` where known."""
        x = x.contiguous(memory_format=self.memory_format)
        if self.embeddings is not None and part is not None and items is not None:
            net = cast(Any, self.net)
            return cast(torch.Tensor, net.head(self.embeddings(part, items, x, net.embed)))
        return cast(torch.Tensor, self.net(x))

    def stored_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of normalised inputs (B, 1, frames, mels) that have no item number (predict's
        windows); with ``cache_embeddings``, from the features stored between runs where they
        are kept. Not for export or tracing: :meth:`forward` is the pure network."""
        if self.embeddings is None:
            return self._net(x)
        net = cast(Any, self.net)
        x = x.contiguous(memory_format=self.memory_format)
        return cast(torch.Tensor, net.head(self.embeddings.features(x, net.embed)))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Logits for raw (un-normalised) mel images (B, 1, frames, mels)."""
        return self._net(self.normalize(mel))

    # -- normalisation statistics -------------------------------------------------------------
    def on_fit_start(self) -> None:
        """Refuse to train on unnormalised features (the statistics come from train.py)."""
        if self.normalize.per != "none" and not bool(self.normalize.fitted):
            raise RuntimeError(
                "GenreClassifier.normalize has no statistics: set them with "
                "normalize.set_statistics(*datamodule.feature_statistics(device)) before fit"
            )
        self.trained_with = provenance(self.device)

    # -- steps ----------------------------------------------------------------------------------
    def training_step(self, batch: Batch, batch_idx: int) -> Any:
        mel, target, _, item = batch
        x = self.augment(self.normalize(mel))
        if self.mixup_alpha > 0:
            x, target_b, other, lam = mixup(x, target, self.mixup_alpha)
            logits = self._net(x)
            loss = lam * self.criterion(logits, target_b) + (1 - lam) * self.criterion(
                logits, other
            )
        else:
            logits = self._net(x, "train", item)
            loss = self.criterion(logits, target)
        if not torch.isfinite(loss):
            # Stop at the first bad step: later ones only spread NaNs into the weights, and the
            # checkpoints of the epochs before stay as they are.
            raise NonFiniteLossError(
                f"training loss is {loss.item()} at global step {self.global_step} (epoch "
                f"{self.current_epoch}); stopped. Lower optimizer.lr, or check the input data; "
                f"checkpoints of completed epochs are kept."
            )
        bs = target.shape[0]
        self.train_acc(logits.argmax(dim=1), target)
        self.train_loss(loss.detach(), weight=bs)
        # Metric objects: torchmetrics syncs them over DDP ranks, and their sums travel in a
        # checkpoint written mid-epoch, so a resumed epoch's curves count every batch.
        self.log(runs.TRAIN_LOSS, self.train_loss, on_step=False, on_epoch=True, prog_bar=True)
        self.log(runs.TRAIN_ACC, self.train_acc, on_step=False, on_epoch=True)
        return loss

    def _eval_step(self, batch: Batch, part: str) -> tuple[torch.Tensor, torch.Tensor]:
        mel, target, track, item = batch
        logits = self._net(self.normalize(mel), part, item)
        self.epoch_logits.update(logits, target, track, item)
        return self.criterion(logits, target), logits

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        loss, logits = self._eval_step(batch, "val")
        bs = batch[1].shape[0]
        self.log(runs.VAL_LOSS, loss, on_epoch=True, prog_bar=True, batch_size=bs, sync_dist=True)
        if batch_idx == 0:  # a few clips to show in TensorBoard
            mel, target, _, _ = batch
            preds = logits.argmax(dim=1)
            self._val_examples = (mel[:EXAMPLES].cpu(), target[:EXAMPLES].cpu(), preds.cpu())

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval_step(batch, "test")

    # -- features kept between runs (cache_embeddings) ----------------------------------------
    def on_train_epoch_end(self) -> None:
        self._store_embeddings()

    def on_validation_epoch_end(self) -> None:
        super().on_validation_epoch_end()
        self._store_embeddings()

    def on_test_epoch_end(self) -> None:
        super().on_test_epoch_end()
        self._store_embeddings()

    def _store_embeddings(self) -> None:
        # Each rank writes what it computed; its own file, so ranks never share one.
        if self.embeddings is not None:
            self.embeddings.flush()

    # -- what checkpoints carry besides weights ------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state: dict[str, Any] = {"val_history": list(self.val_history)}
        if self._trainer is not None and _mid_epoch(self.trainer):
            # What the epoch's training curves have summed so far (a SIGTERM's checkpoint).
            state["train_metrics"] = {
                name: {key: getattr(metric, key).detach().cpu() for key in metric._defaults}
                for name, metric in self._train_metrics().items()
            }
        track_parts = getattr(getattr(self._trainer, "datamodule", None), "track_parts", None)
        if track_parts is not None:  # which tracks trained: resume and evaluate check them
            state["split"] = track_parts()
        if self.trained_with is not None:  # evaluate names it beside its own
            state[runs.PROVENANCE] = self.trained_with
        checkpoint[CHECKPOINT_KEY] = state

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint.get(CHECKPOINT_KEY, {})
        history = list(state.get("val_history", []))
        if self._trainer is None or self.trainer.state.fn != "fit":
            # A test of this checkpoint: its own epoch's validation accuracy.
            self.tested_val_acc = history[-1] if history else None
            return
        if self.restore_val_history:
            self.val_history = history  # a resumed run continues its record
        for name, saved in state.get("train_metrics", {}).items():
            metric = self._train_metrics()[name]
            for key, value in saved.items():
                setattr(metric, key, value.to(self.device))
            metric._update_count = max(metric._update_count, 1)

    def _train_metrics(self) -> dict[str, Any]:
        return {"train_loss": self.train_loss, "train_acc": self.train_acc}

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        factory = self.scheduler_factory
        if is_one_cycle(factory):
            factory = partial(factory, total_steps=int(self.trainer.estimated_stepping_batches))
        interval = self.hparams["scheduler_interval"]
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": factory(optimizer), "interval": interval},
        }


def is_one_cycle(factory: Any) -> bool:
    """Whether a scheduler factory is OneCycleLR's, whose length comes from the trainer."""
    return getattr(factory, "func", None) is torch.optim.lr_scheduler.OneCycleLR
