"""Training: configuration, the training loop, checkpoints."""

from __future__ import annotations

from learning.configs import TrainConfig
from learning.train.checkpoint import (
    CHECKPOINT_FORMAT,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from learning.train.loop import TrainResult, mean_dice, state_dict_bytes, train

__all__ = [
    "CHECKPOINT_FORMAT",
    "TrainConfig",
    "TrainResult",
    "load_checkpoint",
    "load_model",
    "mean_dice",
    "save_checkpoint",
    "state_dict_bytes",
    "train",
]
