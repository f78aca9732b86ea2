"""GenreClassifier: the LightningModule around the paper's networks.

It owns the per-element normalisation (statistics measured on the training set at the start
of ``fit`` and saved in every checkpoint), the cross-entropy objective, whole-epoch metrics and
the optimizer built from the Hydra config.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import Any, cast

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import MaxMetric
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
)

from genre_lightning.errors import UserError
from genre_lightning.features.normalize import Normalize
from genre_lightning.training.augment import SpecAugment, mixup
from genre_lightning.training.figures import tensorboard_log_confusion, tensorboard_log_examples
from genre_lightning.training.speed import channels_last, trains_on_cuda
from genre_lightning.training.tracks import TrackLogits

#: Validation clips shown in TensorBoard each epoch.
EXAMPLES = 4


class NonFiniteLossError(UserError):
    """The training loss became NaN or infinite."""


# (mel, label, track, item): genre_lightning.data.batches.FeatureBatch
Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]
OptimizerFactory = Callable[[Iterable[nn.Parameter]], torch.optim.Optimizer]


class GenreClassifier(pl.LightningModule):
    """Classify mel images into genres.

    Args:
        net: The network (AlexNet, ResNet, ...) mapping (B, 1, frames, mels) to logits.
        optimizer: A partial optimizer (``_partial_: true`` in ``conf/optimizer``) that takes
            the parameters.
        class_names: Genre names in label order.
        feature_shape: Shape of one mel image, for the normalisation buffers.
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
        channels_last: Run the network in channels-last layout; ``None``: when on CUDA.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory,
        class_names: Sequence[str],
        feature_shape: Sequence[int] = (1, 668, 64),
        normalize: str = "element",
        spec_augment: dict[str, int] | None = None,
        mixup_alpha: float = 0.0,
        scheduler: Callable[..., Any] | None = None,
        scheduler_interval: str = "epoch",
        net_config: dict[str, Any] | None = None,
        data_config: dict[str, Any] | None = None,
        channels_last: bool | None = None,
    ) -> None:
        super().__init__()
        # The network and the optimizer factory are objects; their configs are what is saved.
        # Not logged as-is: train.py logs the whole flattened run config to the hparams tab.
        self.save_hyperparameters(ignore=["net", "optimizer", "scheduler"], logger=False)
        self.net = net
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.class_names = list(class_names)
        self.normalize = Normalize(tuple(feature_shape), per=normalize)
        self.augment = SpecAugment(**spec_augment) if spec_augment else nn.Identity()
        self.mixup_alpha = mixup_alpha
        self.criterion = nn.CrossEntropyLoss()
        n = len(self.class_names)
        self.train_acc = MulticlassAccuracy(num_classes=n, average="micro")  # synced over ranks
        # Validation and test metrics are fed the predictions of every rank (TrackLogits
        # gathers them), so syncing them again would count each track once per rank.
        local = False  # sync_on_compute
        self.val_acc = MulticlassAccuracy(n, average="micro", sync_on_compute=local)
        self.test_acc = MulticlassAccuracy(n, average="micro", sync_on_compute=local)
        self.test_f1 = MulticlassF1Score(n, average="macro", sync_on_compute=local)
        self.test_f1_per_class = MulticlassF1Score(n, average=None, sync_on_compute=local)
        self.test_confusion = MulticlassConfusionMatrix(n, sync_on_compute=local)
        self.val_acc_best = MaxMetric(sync_on_compute=local)
        self.test_confusion_matrix: torch.Tensor | None = None
        self.epoch_logits = TrackLogits()  # validation/test chunks of the current epoch
        self._val_examples: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self.test_per_class: dict[str, float] = {}
        self.memory_format = torch.contiguous_format

    def configure_model(self) -> None:
        """Pick the activation layout once the trainer's device is known."""
        wanted = self.hparams.get("channels_last")
        if wanted is None:
            wanted = trains_on_cuda(self._trainer)
        if wanted and self.memory_format is not torch.channels_last:
            channels_last(self.net)
            self.memory_format = torch.channels_last

    def _net(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.contiguous(memory_format=self.memory_format))

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

    # -- steps ----------------------------------------------------------------------------------
    def training_step(self, batch: Batch, batch_idx: int) -> Any:
        mel, target, _, _ = batch
        x = self.augment(self.normalize(mel))
        if self.mixup_alpha > 0:
            x, target_b, other, lam = mixup(x, target, self.mixup_alpha)
            logits = self._net(x)
            loss = lam * self.criterion(logits, target_b) + (1 - lam) * self.criterion(
                logits, other
            )
        else:
            logits = self._net(x)
            loss = self.criterion(logits, target)
        if not torch.isfinite(loss):
            # Stop at the first bad step: later ones only spread NaNs into the weights, and the
            # checkpoints of the epochs before stay as they are.
            raise NonFiniteLossError(
                f"training loss is {loss.item()} at global step {self.global_step} (epoch "
                f"{self.current_epoch}); stopped. Lower optimizer.lr, or check the input data; "
                f"checkpoints of completed epochs are kept."
            )
        self.train_acc(logits.argmax(dim=1), target)
        bs = target.shape[0]
        # sync_dist: with DDP the epoch's loss is averaged over every rank, not rank 0's.
        self.log(
            "train/loss",
            loss,
            on_step=False,
            on_epoch=True,
            prog_bar=True,
            batch_size=bs,
            sync_dist=True,
        )
        self.log("train/acc", self.train_acc, on_step=False, on_epoch=True, batch_size=bs)
        return loss

    def _eval_step(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        mel, target, track, item = batch
        logits = self(mel)
        self.epoch_logits.update(logits, target, track, item)
        return self.criterion(logits, target), logits

    def _track_predictions(self, stage: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Track-level predictions and labels of the epoch (all ranks); logs chunk accuracy."""

        def gather(x: torch.Tensor) -> torch.Tensor:
            return cast(torch.Tensor, self.all_gather(x))

        result = self.epoch_logits.compute(gather if self.trainer.world_size > 1 else None)
        self.epoch_logits.reset()
        if len(result.chunk_labels) > len(result.labels):  # several chunks per track
            chunk_pred = result.chunk_logits.argmax(1)
            chunk_acc = (chunk_pred == result.chunk_labels).float().mean()
            self.log(f"{stage}/chunk_acc", chunk_acc, sync_dist=True)
        return result.logits.argmax(dim=1), result.labels

    def on_validation_epoch_start(self) -> None:
        self.epoch_logits.reset()

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        loss, logits = self._eval_step(batch)
        bs = batch[1].shape[0]
        self.log("val/loss", loss, on_epoch=True, prog_bar=True, batch_size=bs, sync_dist=True)
        if batch_idx == 0:  # a few clips to show in TensorBoard
            mel, target, _, _ = batch
            preds = logits.argmax(dim=1)
            self._val_examples = (mel[:EXAMPLES].cpu(), target[:EXAMPLES].cpu(), preds.cpu())

    # Epoch-level numbers below come from every rank's predictions (already equal on all
    # ranks); sync_dist only keeps Lightning's reduction consistent and quiet under DDP.
    def on_validation_epoch_end(self) -> None:
        if not self.epoch_logits:
            return
        pred, target = self._track_predictions("val")
        acc = self.val_acc(pred, target)
        self.log("val/acc", acc, prog_bar=True, sync_dist=True)
        if not self.trainer.sanity_checking:
            self.val_acc_best.update(acc)
            self.log("val/acc_best", self.val_acc_best.compute(), sync_dist=True)
            if self._val_examples is not None:
                mels, targets, preds = self._val_examples
                tensorboard_log_examples(self, mels, targets, preds, self.class_names)
        self._val_examples = None

    def on_test_epoch_start(self) -> None:
        self.epoch_logits.reset()

    def test_step(self, batch: Batch, batch_idx: int) -> None:
        self._eval_step(batch)

    def on_test_epoch_end(self) -> None:
        pred, target = self._track_predictions("test")
        metrics = (self.test_acc, self.test_f1, self.test_f1_per_class, self.test_confusion)
        for metric in metrics:
            metric.update(pred, target)
        self.log("test/acc", self.test_acc.compute(), sync_dist=True)
        self.log("test/f1_macro", self.test_f1.compute(), sync_dist=True)
        per_class = self.test_f1_per_class.compute()
        self.test_per_class = {
            n: float(v) for n, v in zip(self.class_names, per_class, strict=True)
        }
        for name, value in self.test_per_class.items():
            self.log(f"test/f1/{name}", value, sync_dist=True)
        self.test_confusion_matrix = self.test_confusion.compute().cpu()
        tensorboard_log_confusion(self, self.test_confusion_matrix, self.class_names)
        for metric in metrics:
            metric.reset()

    def test_results(self) -> dict[str, Any]:
        """The last test's numbers as ``metrics.json`` holds them (train and evaluate alike)."""
        if self.test_confusion_matrix is None:
            raise RuntimeError("test_results() needs a finished trainer.test()")
        return {
            "test/acc": float(self.trainer.callback_metrics["test/acc"]),
            "test/f1_macro": float(self.trainer.callback_metrics["test/f1_macro"]),
            "test/f1_per_class": dict(self.test_per_class),
            "class_names": list(self.class_names),
            # rows: true genre, columns: predicted (tracks, with chunked evaluation)
            "confusion_matrix": self.test_confusion_matrix.tolist(),
        }

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        factory = self.scheduler_factory
        if getattr(factory, "func", None) is torch.optim.lr_scheduler.OneCycleLR:
            factory = partial(factory, total_steps=int(self.trainer.estimated_stepping_batches))
        interval = self.hparams["scheduler_interval"]
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": factory(optimizer), "interval": interval},
        }
