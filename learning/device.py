"""Choose the torch device once, at the edge (a Celery task or a CLI), and pass it down as an argument."""

from __future__ import annotations

import os

import torch

__all__ = ["pick_device", "ENV_VAR"]

ENV_VAR = "CONCORD_DEVICE"


def pick_device(prefer: str | None = None) -> torch.device:
    """Return the device numerical code should run on.

    Why: callers must never hard-code ``.cuda()``; one function decides, so the same code runs on a
    laptop CPU and on a GPU worker.

    Args:
        prefer: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; ``None`` reads the ``CONCORD_DEVICE`` environment
            variable and, when that is unset or ``"auto"``, picks CUDA if available, else CPU.

    Returns:
        The chosen ``torch.device``.

    Raises:
        ValueError: ``prefer`` names an unknown device type, or CUDA is asked for but not available.
    """
    choice = (prefer if prefer is not None else os.environ.get(ENV_VAR, "")).strip().lower()
    if choice in ("", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(choice)
    except RuntimeError as err:
        raise ValueError(f"unknown device {choice!r}; expected 'cpu', 'cuda', 'cuda:N' or 'auto'") from err
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device type {device.type!r}; expected 'cpu' or 'cuda'")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {choice!r} was asked for but CUDA is not available on this machine")
    return device
