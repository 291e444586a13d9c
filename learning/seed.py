"""Seed every global random source once per run; code below the edge takes explicit generators."""

from __future__ import annotations

import random

import numpy as np
import torch
from monai.utils import set_determinism

__all__ = ["seed_everything"]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy, torch (CPU and CUDA) and MONAI's global state.

    Why: layers that do not take a generator (weight initialisation, MONAI's default transform state)
    draw from the globals; seeding them makes two runs with the same seed give the same numbers on CPU.

    Args:
        seed: a non-negative integer below 2**32.

    Raises:
        ValueError: ``seed`` is negative or too large.
    """
    if not 0 <= int(seed) < 2**32:
        raise ValueError(f"seed must be in [0, 2**32), got {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    set_determinism(seed=seed)
