"""Helpers shared by the uncertainty estimators."""

from __future__ import annotations

import torch

__all__ = ["foreground_probability"]


def foreground_probability(logits: torch.Tensor) -> torch.Tensor:
    """``(B, C, *spatial)`` logits -> ``(B, *spatial)`` foreground probability.

    One channel: sigmoid. Two channels: softmax, channel 1. More: 1 - P(background).
    """
    if logits.shape[1] == 1:
        return torch.sigmoid(logits[:, 0])
    p = torch.softmax(logits, dim=1)
    return p[:, 1] if logits.shape[1] == 2 else 1.0 - p[:, 0]
