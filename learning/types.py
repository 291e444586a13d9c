"""Type aliases shared by Concord's numerical core (``learning/``), kept in one place.

Axis conventions follow ``core.geometry``: voxel arrays are ``(Z, Y, X)`` (channel first when a channel
axis exists: ``(C, Z, Y, X)``); ``spacing`` is given in index order ``(x, y, z)`` millimetres.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import IO, TYPE_CHECKING, Any, TypeAlias

import numpy as np

if TYPE_CHECKING:  # the aliases name torch only as a string: importing this module must not load torch
    import torch  # noqa: F401

__all__ = [
    "Region",
    "Shape3",
    "Spacing",
    "ProgressFn",
    "PathOrFile",
    "NdarrayOrTensor",
    "JsonDict",
]

Region: TypeAlias = tuple[slice, slice, slice]
"""A box in ``(Z, Y, X)`` array order; every slice has explicit integer start and stop."""

Shape3: TypeAlias = tuple[int, int, int]
"""A 3D shape in ``(Z, Y, X)`` array order."""

Spacing: TypeAlias = tuple[float, float, float]
"""Voxel spacing in millimetres, index order ``(x, y, z)`` as in ``core.geometry.Geometry``."""

ProgressFn: TypeAlias = Callable[[float, dict[str, Any]], None]
"""Called with a fraction in [0, 1] and a small JSON-able dict of figures (loss, dice, ...)."""

PathOrFile: TypeAlias = "str | os.PathLike[str] | IO[bytes]"

NdarrayOrTensor: TypeAlias = "np.ndarray | torch.Tensor"

JsonDict: TypeAlias = dict[str, Any]
