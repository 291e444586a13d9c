"""The training configuration, stored in the registry row of every model version."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from learning.data.augment import AugmentConfig
from learning.data.normalise import NormConfig
from learning.infer.predict import InferConfig
from learning.nets.segmenter import NetConfig
from learning.types import JsonDict

__all__ = ["TrainConfig"]

_LOSSES = ("dice_ce",)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides how a segmenter is trained (with ``seed``, the run is reproducible on CPU).

    Args:
        seed: seeds weights, patch sampling, augmentation and shuffling.
        spatial_dims: 3 (volumetric patches) or 2 (slices; ``context_slices`` adjacent slices as channels).
        patch: ``(Z, Y, X)`` for 3D, ``(Y, X)`` for 2D; multiples of ``net.divisor``.
        context_slices: 2D only: odd number of slices fed as channels (``net.in_channels`` must match).
        batch_size: patches per step.
        samples_per_item: patches drawn per training case per epoch.
        pos_fraction: share of patches centred on foreground.
        max_epochs: upper bound on epochs.
        max_iterations: optional upper bound on optimiser steps (whichever bound comes first).
        lr, weight_decay: AdamW.
        val_interval: validate every this many epochs.
        early_stopping_patience: stop after this many validations without a better Dice (None: never).
        amp: mixed precision; None = on for CUDA only (never on CPU).
        loss: ``"dice_ce"`` (MONAI DiceCELoss).
        num_workers: data loader processes.
        net: the architecture.
        normalisation: intensity normalisation (also used at inference).
        augment: patch augmentation, or None.
        sw_batch_size, overlap: sliding-window settings for validation.
    """

    seed: int = 0
    spatial_dims: int = 3
    patch: tuple[int, ...] = (64, 64, 64)
    context_slices: int = 1
    batch_size: int = 2
    samples_per_item: int = 4
    pos_fraction: float = 0.5
    max_epochs: int = 100
    max_iterations: int | None = None
    lr: float = 1e-3
    weight_decay: float = 1e-5
    val_interval: int = 1
    early_stopping_patience: int | None = None
    amp: bool | None = None
    loss: str = "dice_ce"
    num_workers: int = 0
    net: NetConfig = field(default_factory=NetConfig)
    normalisation: NormConfig = field(default_factory=NormConfig)
    augment: AugmentConfig | None = field(default_factory=AugmentConfig)
    sw_batch_size: int = 4
    overlap: float = 0.25

    def __post_init__(self) -> None:
        object.__setattr__(self, "patch", tuple(int(p) for p in self.patch))
        if self.spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {self.spatial_dims}")
        if len(self.patch) != self.spatial_dims:
            raise ValueError(f"patch {self.patch} must have {self.spatial_dims} sizes for spatial_dims")
        if self.net.spatial_dims != self.spatial_dims:
            raise ValueError(f"net.spatial_dims {self.net.spatial_dims} != spatial_dims {self.spatial_dims}")
        bad = [p for p in self.patch if p < 1 or p % self.net.divisor]
        if bad:
            raise ValueError(f"patch sizes {self.patch} must be positive multiples of {self.net.divisor}")
        if self.context_slices < 1 or self.context_slices % 2 == 0:
            raise ValueError(f"context_slices must be odd and >= 1, got {self.context_slices}")
        if self.spatial_dims == 3 and self.context_slices != 1:
            raise ValueError("context_slices applies to 2D mode only; keep it 1 for spatial_dims=3")
        want_in = self.context_slices if self.spatial_dims == 2 else 1
        if self.net.in_channels != want_in:
            raise ValueError(f"net.in_channels must be {want_in} for this mode, got {self.net.in_channels}")
        if not 0 <= self.seed < 2**32:
            raise ValueError(f"seed must be in [0, 2**32), got {self.seed}")
        for name in ("batch_size", "samples_per_item", "max_epochs", "val_interval", "sw_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_iterations is not None and self.max_iterations < 1:
            raise ValueError(f"max_iterations must be >= 1 or None, got {self.max_iterations}")
        if self.early_stopping_patience is not None and self.early_stopping_patience < 1:
            raise ValueError("early_stopping_patience must be >= 1 or None")
        if not 0.0 <= self.pos_fraction <= 1.0:
            raise ValueError(f"pos_fraction must be in [0, 1], got {self.pos_fraction}")
        if not self.lr > 0 or self.weight_decay < 0:
            raise ValueError("lr must be > 0 and weight_decay >= 0")
        if self.loss not in _LOSSES:
            raise ValueError(f"loss must be one of {_LOSSES}, got {self.loss!r}")
        if self.num_workers < 0:
            raise ValueError("num_workers must be >= 0")
        if not 0.0 <= self.overlap < 1.0:
            raise ValueError(f"overlap must be in [0, 1), got {self.overlap}")

    def infer_config(self) -> InferConfig:
        """The inference settings matching this training (window = patch)."""
        return InferConfig(
            roi_size=self.patch,
            sw_batch_size=self.sw_batch_size,
            overlap=self.overlap,
            amp=self.amp,
            normalisation=self.normalisation,
            context_slices=self.context_slices,
        )

    def to_dict(self) -> JsonDict:
        d = asdict(self)
        d["patch"] = list(self.patch)
        d["net"] = self.net.to_dict()
        d["normalisation"] = self.normalisation.to_dict()
        d["augment"] = None if self.augment is None else self.augment.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        d = dict(d)
        if "patch" in d:
            d["patch"] = tuple(d["patch"])
        if isinstance(d.get("net"), dict):
            d["net"] = NetConfig.from_dict(d["net"])
        if isinstance(d.get("normalisation"), dict):
            d["normalisation"] = NormConfig.from_dict(d["normalisation"])
        if isinstance(d.get("augment"), dict):
            d["augment"] = AugmentConfig.from_dict(d["augment"])
        return cls(**d)
