"""Save a training result to a file and rebuild a model from it (weights only, no pickled code)."""

from __future__ import annotations

import io
from typing import Any

import torch
from torch import nn

from learning.configs import TrainConfig
from learning.nets.segmenter import NetConfig, build_segmenter
from learning.train.loop import TrainResult
from learning.types import PathOrFile

__all__ = ["save_checkpoint", "load_checkpoint", "load_model", "CHECKPOINT_FORMAT"]

CHECKPOINT_FORMAT = 1


def save_checkpoint(result: TrainResult, path_or_fileobj: PathOrFile) -> None:
    """Write ``result`` (config as a dict, weights, figures) with ``torch.save``.

    Args:
        result: a training result.
        path_or_fileobj: a path or a writable binary file object.
    """
    state = torch.load(io.BytesIO(result.state_dict), map_location="cpu", weights_only=True)
    torch.save(
        {
            "format": CHECKPOINT_FORMAT,
            "config": result.config.to_dict(),
            "state_dict": state,
            "best_val_dice": result.best_val_dice,
            "best_epoch": result.best_epoch,
            "iterations": result.iterations,
            "history": [dict(h) for h in result.history],
        },
        path_or_fileobj,
    )


def load_checkpoint(path_or_fileobj: PathOrFile) -> tuple[TrainConfig, nn.Module, dict[str, Any]]:
    """Read a checkpoint written by ``save_checkpoint``.

    Returns:
        ``(config, model on CPU in eval mode, the remaining figures)``.

    Raises:
        ValueError: not a Concord checkpoint, or an unknown format version.
    """
    ckpt = torch.load(path_or_fileobj, map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError("not a Concord checkpoint (format field missing or unknown)")
    config = TrainConfig.from_dict(ckpt["config"])
    model = build_segmenter(config.net)
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    extra = {k: v for k, v in ckpt.items() if k not in ("config", "state_dict")}
    return config, model, extra


def load_model(config: NetConfig | TrainConfig, data: bytes) -> nn.Module:
    """Rebuild a model from its config and serialised weights.

    Args:
        config: the architecture, or a training config holding it.
        data: ``TrainResult.state_dict`` bytes, or the bytes of a file written by ``save_checkpoint``.

    Returns:
        The model on CPU in eval mode (move it with ``.to(device)``).

    Raises:
        ValueError: the weights do not fit the architecture.
    """
    net = config.net if isinstance(config, TrainConfig) else config
    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state and "format" in state:
        state = state["state_dict"]
    model = build_segmenter(net)
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"weights do not fit the architecture: {err}") from err
    return model.eval()
