"""MC-dropout predictive entropy: the epistemic baseline (MONAI Label's ``EpistemicScoring`` strategy).

Why: the uncertainty everyone compares against. Dropout stays active at inference; ``n`` stochastic
passes give ``n`` probability maps; the entropy of their mean is the voxel uncertainty. Costs ``n``
full forward passes.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from learning.uncertainty._common import foreground_probability

__all__ = ["mc_dropout_probs", "binary_entropy", "predictive_entropy"]


def mc_dropout_probs(model: nn.Module, x: torch.Tensor, *, n: int = 5, seed: int = 0) -> torch.Tensor:
    """``n`` forward passes with dropout active (everything else in eval mode).

    Args:
        model: segmenter returning logits ``(B, C, *spatial)``.
        x: ``(B, C_in, *spatial)`` input on the model's device.
        n: number of passes (5 in MONAI Label's epistemic strategy default here).
        seed: seeds the dropout masks (torch's generator, and on CUDA ``x``'s device generator, are forked:
            global state is left untouched).

    Returns:
        ``(n, B, *spatial)`` foreground probabilities.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    was = model.training
    model.eval()
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.train()
    out = []
    try:
        with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []), torch.inference_mode():
            torch.manual_seed(seed)
            for _ in range(n):
                out.append(foreground_probability(model(x)).float())
    finally:
        model.train(was)
    return torch.stack(out)


def binary_entropy(p: np.ndarray | torch.Tensor) -> np.ndarray:
    """Entropy in nats of a Bernoulli with probability ``p`` (0 at p in {0, 1})."""
    q = np.clip(np.asarray(p.detach().cpu() if isinstance(p, torch.Tensor) else p, dtype=np.float64), 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(q * np.log(q) + (1 - q) * np.log(1 - q))
    return np.nan_to_num(h, nan=0.0).astype(np.float32)


def predictive_entropy(samples: np.ndarray | torch.Tensor) -> np.ndarray:
    """Voxel predictive entropy of the mean of ``(n, ...)`` probability samples -> ``(...)`` float32."""
    s = samples.detach().cpu().numpy() if isinstance(samples, torch.Tensor) else np.asarray(samples)
    return binary_entropy(s.mean(0))
