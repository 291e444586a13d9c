"""Train a segmenter on patches read region by region; validate by sliding window on whole volumes."""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from monai.losses import DiceCELoss
from torch import nn

from learning.configs import TrainConfig
from learning.data.augment import build_augmentation
from learning.data.dataset import PatchDataset, TrainItem, make_loader
from learning.data.readers import full_region
from learning.infer.predict import predict
from learning.nets.segmenter import build_segmenter
from learning.seed import seed_everything
from learning.types import ProgressFn

__all__ = ["TrainResult", "train", "mean_dice", "state_dict_bytes"]


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced.

    Args:
        config: the configuration trained with.
        state_dict: ``torch.save`` bytes of the best model's state dict (best validation Dice; the last
            model when there is no validation set).
        best_val_dice: best mean foreground Dice on the validation set (NaN without one).
        best_epoch: epoch (1-based) of the kept weights.
        history: one dict per epoch: ``epoch``, ``loss`` (mean), ``iterations``, ``elapsed_s``, and
            ``val_dice`` on validation epochs.
        iterations: optimiser steps taken.
        elapsed_s: wall time of the run.
        stopped_early: early stopping ended the run.
    """

    config: TrainConfig
    state_dict: bytes
    best_val_dice: float
    best_epoch: int
    history: tuple[dict[str, Any], ...]
    iterations: int
    elapsed_s: float
    stopped_early: bool

    @property
    def losses(self) -> list[float]:
        """Mean training loss per epoch."""
        return [h["loss"] for h in self.history]


def state_dict_bytes(model: nn.Module) -> bytes:
    """Serialise a model's weights (moved to CPU) with ``torch.save``."""
    buf = io.BytesIO()
    torch.save({k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, buf)
    return buf.getvalue()


def mean_dice(pred: np.ndarray, target: np.ndarray, n_classes: int) -> float:
    """Mean Dice over foreground classes present in either mask; 1.0 when all are absent in both.

    Args:
        pred, target: integer class maps of the same shape.
        n_classes: classes including background.
    """
    scores = []
    for c in range(1, max(n_classes, 2)):
        p, t = pred == c, target == c
        denom = int(p.sum()) + int(t.sum())
        if denom:
            scores.append(2.0 * int((p & t).sum()) / denom)
    return float(np.mean(scores)) if scores else 1.0


def _validate(model: nn.Module, items: Sequence[TrainItem], config: TrainConfig, device: torch.device) -> float:
    icfg = config.infer_config()
    scores = []
    for it in items:
        probs = predict(it.image, model, config=icfg, device=device)
        assert probs is not None
        pred = probs.argmax(0) if probs.ndim == 4 else (probs >= 0.5).astype(np.int64)
        target = np.asarray(it.label.read(full_region(it.label.shape))).astype(np.int64)
        scores.append(mean_dice(pred, target, config.net.out_channels))
    return float(np.mean(scores))


def train(
    config: TrainConfig,
    train_items: Sequence[TrainItem],
    val_items: Sequence[TrainItem] = (),
    *,
    device: torch.device,
    progress: ProgressFn | None = None,
) -> TrainResult:
    """Train a segmenter from scratch.

    Seeds every global source from ``config.seed`` at the start (this is an edge function), then
    samples patches, augments them, and optimises DiceCE with AdamW; AMP (autocast + GradScaler) only
    when ``device.type == "cuda"``. Two runs with the same config on CPU give identical losses.

    Args:
        config: the run's configuration.
        train_items: training cases (image and label readers).
        val_items: validation cases, predicted whole by sliding window every ``val_interval`` epochs.
        device: where to train.
        progress: ``progress(fraction, {"epoch", "loss", "val_dice"?})`` after every epoch.

    Returns:
        The result, with the best weights as bytes.

    Raises:
        ValueError: no training items.
    """
    if len(train_items) == 0:
        raise ValueError("train needs at least one training item")
    t0 = time.perf_counter()
    seed_everything(config.seed)
    model = build_segmenter(config.net).to(device)
    transforms = build_augmentation(config.augment, patch=config.patch) if config.augment else None
    dataset = PatchDataset(
        train_items,
        patch=config.patch,
        samples_per_item=config.samples_per_item,
        pos_fraction=config.pos_fraction,
        rng_seed=config.seed,
        transforms=transforms,
        normalisation=config.normalisation,
        context_slices=config.context_slices,
    )
    loader = make_loader(
        dataset,
        batch_size=config.batch_size,
        num_workers=config.num_workers,
        seed=config.seed,
        pin_memory=device.type == "cuda",
    )
    multi = config.net.out_channels > 1
    loss_fn = DiceCELoss(to_onehot_y=multi, softmax=multi, sigmoid=not multi)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    use_amp = (device.type == "cuda") if config.amp is None else (bool(config.amp) and device.type == "cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)

    steps_per_epoch = len(loader)
    total = config.max_epochs * steps_per_epoch
    if config.max_iterations is not None:
        total = min(total, config.max_iterations)
    history: list[dict[str, Any]] = []
    best_dice, best_epoch, best_state = float("nan"), 0, b""
    since_best, iterations, stopped_early = 0, 0, False

    for epoch in range(1, config.max_epochs + 1):
        model.train()
        losses = []
        for batch in loader:
            image = batch["image"].to(device, non_blocking=True)
            label = batch["label"].to(device, non_blocking=True)
            optimiser.zero_grad(set_to_none=True)
            with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=use_amp):
                logits = model(image)
            loss = loss_fn(logits.float(), label)
            scaler.scale(loss).backward()
            scaler.step(optimiser)
            scaler.update()
            losses.append(float(loss.detach()))
            iterations += 1
            if iterations >= total:
                break
        record: dict[str, Any] = {
            "epoch": epoch,
            "loss": float(np.mean(losses)),
            "iterations": iterations,
            "elapsed_s": time.perf_counter() - t0,
        }
        last = iterations >= total or epoch == config.max_epochs
        if val_items and (epoch % config.val_interval == 0 or last):
            dice = _validate(model, val_items, config, device)
            record["val_dice"] = dice
            if not dice <= best_dice:  # also true for the first (NaN) comparison
                best_dice, best_epoch, best_state, since_best = dice, epoch, state_dict_bytes(model), 0
            else:
                since_best += 1
        history.append(record)
        if progress is not None:
            progress(min(iterations / total, 1.0), dict(record))
        if last:
            break
        if config.early_stopping_patience is not None and since_best >= config.early_stopping_patience:
            stopped_early = True
            break
    if not val_items:
        best_epoch, best_state = len(history), state_dict_bytes(model)
    return TrainResult(
        config=config,
        state_dict=best_state,
        best_val_dice=best_dice,
        best_epoch=best_epoch,
        history=tuple(history),
        iterations=iterations,
        elapsed_s=time.perf_counter() - t0,
        stopped_early=stopped_early,
    )
