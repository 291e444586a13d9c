"""Anatomically-aware uncertainty (Adiga Vasudeva et al. 2023): deviation from a learned shape prior.

Why: one extra, small forward pass (the shape DAE) instead of many passes of the segmenter; it flags
predictions whose *shape* is implausible, which entropy-style scores miss when the net is confidently
wrong. Voxel uncertainty = (pred - DAE(pred))^2.
"""

from __future__ import annotations

import numpy as np
import torch

from learning.nets.shape_dae import ShapeDAE, reconstruct

__all__ = ["anatomical_uncertainty"]


def anatomical_uncertainty(
    pred: np.ndarray | torch.Tensor, dae: ShapeDAE, *, device: torch.device | None = None
) -> np.ndarray:
    """Squared difference between predictions and their DAE reconstruction.

    Args:
        pred: ``(B, *spatial)`` foreground probabilities (or binary masks) from the segmenter;
            spatial sizes multiples of ``dae.config.divisor``.
        dae: a trained shape DAE.
        device: where the DAE runs (default: where its weights are).

    Returns:
        ``(B, *spatial)`` float32 voxel uncertainty in [0, 1].
    """
    p = pred.detach().cpu().numpy() if isinstance(pred, torch.Tensor) else np.asarray(pred, dtype=np.float32)
    rec = reconstruct(dae, p, device=device)
    return ((p - rec) ** 2).astype(np.float32)
