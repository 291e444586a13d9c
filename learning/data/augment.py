"""Patch augmentation, built from MONAI dictionary transforms (keys ``image`` / ``label``, channel first)."""

from __future__ import annotations

from typing import Any

from monai.transforms import (
    Compose,
    RandFlipd,
    RandGaussianNoised,
    RandRotate90d,
    RandScaleIntensityd,
)

from learning.configs import AugmentConfig

__all__ = ["AugmentConfig", "build_augmentation"]


def build_augmentation(config: AugmentConfig, *, patch: tuple[int, ...]) -> Compose:
    """MONAI pipeline for dicts ``{"image": (C, *patch), "label": (1, *patch)}``.

    Flips along every spatial axis; 90-degree rotations only in the in-plane (Y, X) plane and only when
    the patch is square there (so the shape is kept); noise and intensity scaling on the image only.

    Args:
        config: augmentation strengths.
        patch: spatial patch shape, ``(Z, Y, X)`` or ``(Y, X)``.

    Returns:
        A ``Compose``; call ``set_random_state`` on it to make it reproducible.
    """
    keys = ["image", "label"]
    ts: list[Any] = []
    if config.flip_prob > 0:
        ts += [RandFlipd(keys=keys, prob=config.flip_prob, spatial_axis=a) for a in range(len(patch))]
    if config.rot90_prob > 0 and patch[-1] == patch[-2]:
        n = len(patch)
        ts.append(RandRotate90d(keys=keys, prob=config.rot90_prob, max_k=3, spatial_axes=(n - 2, n - 1)))
    if config.noise_prob > 0:
        ts.append(RandGaussianNoised(keys=["image"], prob=config.noise_prob, std=config.noise_std))
    if config.scale_prob > 0:
        ts.append(RandScaleIntensityd(keys=["image"], prob=config.scale_prob, factors=config.scale_factor))
    return Compose(ts)
