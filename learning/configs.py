"""Every configuration of Concord's models, and the checks of a project's ``train_config``.

Why one module, free of torch and MONAI: a project manager's training overrides must be checked when
the policy is set, in the web process, which does not load torch (the import-linter contract
"light-web"); so the frozen configs (segmenter, normalisation, augmentation, inference, training,
probabilistic U-Net, shape DAE) and the rules that turn overrides into them live here, and the
numerical modules build their networks from them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from math import prod
from typing import Any

import numpy as np

from core.errors import InvalidInput
from learning.types import JsonDict

__all__ = [
    "NormConfig",
    "AugmentConfig",
    "NetConfig",
    "InferConfig",
    "TrainConfig",
    "ProbUNetConfig",
    "ProbTrainConfig",
    "ShapeDAEConfig",
    "PATCH_3D",
    "default_train_config",
    "segmenter_config",
    "pulaski_settings",
    "shape_dae_settings",
    "check_train_config",
]

_NORM_MODES = ("window", "zscore", "scale", "none")
_NET_NORMS = ("instance", "batch", "none")
_INFER_MODES = ("gaussian", "constant")
_SEG_LOSSES = ("dice_ce",)
_PROB_LOSSES = ("sinkhorn", "hausdorff", "focal_tversky")
_LR_SCHEDULES = ("constant", "cosine")
PATCH_3D = (16, 64, 64)  # PULASki's default 3D training patch (z, y, x), voxels
_OWN_SECTIONS = ("pulaski", "shape_dae")  # train_config sections that are other kinds' own settings


@dataclass(frozen=True)
class NormConfig:
    """How raw voxel values become network input.

    Args:
        mode: ``"window"`` (clip to ``[window[0], window[1]]`` then scale to [0, 1]; CT),
            ``"zscore"`` ((x - mean) / std; MRI), ``"scale"`` (x * scale + offset; e.g. uint8 / 255),
            ``"none"``.
        window: ``(low, high)`` in input units for ``"window"``.
        mean, std: fixed statistics for ``"zscore"``; ``None`` means computed from the array given
            (the patch in training, the whole volume at inference).
        scale, offset: for ``"scale"``.
        nonzero: ``"zscore"`` statistics from non-zero voxels only (skull-stripped MRI).
    """

    mode: str = "window"
    window: tuple[float, float] = (-1000.0, 400.0)
    mean: float | None = None
    std: float | None = None
    scale: float = 1.0
    offset: float = 0.0
    nonzero: bool = False

    def __post_init__(self) -> None:
        if self.mode not in _NORM_MODES:
            raise ValueError(f"normalisation mode must be one of {_NORM_MODES}, got {self.mode!r}")
        if self.mode == "window" and not float(self.window[0]) < float(self.window[1]):
            raise ValueError(f"window must be (low, high) with low < high, got {self.window}")
        if self.std is not None and not self.std > 0:
            raise ValueError(f"std must be positive, got {self.std}")
        object.__setattr__(self, "window", (float(self.window[0]), float(self.window[1])))

    def to_dict(self) -> JsonDict:
        d = asdict(self)
        d["window"] = list(self.window)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NormConfig:
        d = dict(d)
        if "window" in d:
            d["window"] = tuple(d["window"])
        return cls(**d)


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and strengths of the patch augmentations (0 disables one)."""

    flip_prob: float = 0.5
    rot90_prob: float = 0.5
    noise_prob: float = 0.15
    noise_std: float = 0.05
    scale_prob: float = 0.15
    scale_factor: float = 0.1

    def __post_init__(self) -> None:
        for name in ("flip_prob", "rot90_prob", "noise_prob", "scale_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.noise_std < 0 or self.scale_factor < 0:
            raise ValueError("noise_std and scale_factor must be >= 0")

    def to_dict(self) -> JsonDict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AugmentConfig:
        return cls(**d)


@dataclass(frozen=True)
class NetConfig:
    """Architecture of the segmenter (a MONAI ``UNet``).

    Args:
        spatial_dims: 2 (slices, 2.5D via ``in_channels`` adjacent slices) or 3.
        in_channels: input channels (1, or k context slices in 2.5D).
        out_channels: classes including background (2 for one foreground class; 1 means sigmoid).
        channels: feature maps per level, e.g. ``(16, 32, 64, 128)``.
        strides: down-sampling per level transition; ``len(strides) == len(channels) - 1``.
        num_res_units: residual units per block (0: plain convolutions).
        dropout: dropout probability in every block (kept for MC-dropout at inference).
        norm: ``"instance"``, ``"batch"`` or ``"none"``.
        kernel_size: convolution kernel size.
    """

    spatial_dims: int = 3
    in_channels: int = 1
    out_channels: int = 2
    channels: tuple[int, ...] = (16, 32, 64, 128)
    strides: tuple[int, ...] = (2, 2, 2)
    num_res_units: int = 2
    dropout: float = 0.0
    norm: str = "instance"
    kernel_size: int = 3

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "strides", tuple(int(s) for s in self.strides))
        if self.spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {self.spatial_dims}")
        if self.in_channels < 1 or self.out_channels < 1:
            raise ValueError("in_channels and out_channels must be >= 1")
        if len(self.channels) < 2 or min(self.channels) < 1:
            raise ValueError(f"channels needs at least 2 positive sizes, got {self.channels}")
        if len(self.strides) != len(self.channels) - 1:
            raise ValueError(
                f"len(strides) must be len(channels) - 1 = {len(self.channels) - 1}, got {len(self.strides)}"
            )
        if min(self.strides) < 1:
            raise ValueError(f"strides must be >= 1, got {self.strides}")
        if self.num_res_units < 0:
            raise ValueError(f"num_res_units must be >= 0, got {self.num_res_units}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.norm not in _NET_NORMS:
            raise ValueError(f"norm must be one of {_NET_NORMS}, got {self.norm!r}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 1, got {self.kernel_size}")

    @property
    def divisor(self) -> int:
        """Every spatial input size must be a multiple of this (product of strides)."""
        return prod(self.strides)

    def to_dict(self) -> JsonDict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        d["strides"] = list(self.strides)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> NetConfig:
        d = dict(d)
        for k in ("channels", "strides"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)


@dataclass(frozen=True)
class InferConfig:
    """How a model is applied to a volume.

    Args:
        roi_size: window ``(Z, Y, X)`` for 3D models, ``(Y, X)`` for 2D models.
        sw_batch_size: windows per forward pass.
        overlap: fraction of a window shared with its neighbour, in [0, 1).
        mode: ``"gaussian"`` (centre-weighted, separable) or ``"constant"`` blending.
        sigma_scale: gaussian sigma as a fraction of the window size.
        amp: mixed precision; ``None`` = on for CUDA, off otherwise (never on CPU).
        normalisation: the same normalisation the model was trained with (``zscore`` without fixed
            statistics uses whole-volume statistics).
        context_slices: 2D models only: adjacent slices fed as channels (odd).
        slab_depth: 2D models only: Z slices predicted per step.
    """

    roi_size: tuple[int, ...] = (64, 128, 128)
    sw_batch_size: int = 4
    overlap: float = 0.25
    mode: str = "gaussian"
    sigma_scale: float = 0.125
    amp: bool | None = None
    normalisation: NormConfig = field(default_factory=NormConfig)
    context_slices: int = 1
    slab_depth: int = 16

    def __post_init__(self) -> None:
        object.__setattr__(self, "roi_size", tuple(int(r) for r in self.roi_size))
        if len(self.roi_size) not in (2, 3) or min(self.roi_size) < 1:
            raise ValueError(f"roi_size must be 2 or 3 positive sizes, got {self.roi_size}")
        if self.sw_batch_size < 1:
            raise ValueError(f"sw_batch_size must be >= 1, got {self.sw_batch_size}")
        if not 0.0 <= self.overlap < 1.0:
            raise ValueError(f"overlap must be in [0, 1), got {self.overlap}")
        if self.mode not in _INFER_MODES:
            raise ValueError(f"mode must be one of {_INFER_MODES}, got {self.mode!r}")
        if self.sigma_scale <= 0:
            raise ValueError("sigma_scale must be > 0")
        if self.context_slices < 1 or self.context_slices % 2 == 0:
            raise ValueError(f"context_slices must be odd and >= 1, got {self.context_slices}")
        if self.slab_depth < 1:
            raise ValueError("slab_depth must be >= 1")

    @property
    def spatial_dims(self) -> int:
        return len(self.roi_size)

    def to_dict(self) -> JsonDict:
        d = asdict(self)
        d["roi_size"] = list(self.roi_size)
        d["normalisation"] = self.normalisation.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InferConfig:
        d = dict(d)
        if "roi_size" in d:
            d["roi_size"] = tuple(d["roi_size"])
        if isinstance(d.get("normalisation"), dict):
            d["normalisation"] = NormConfig.from_dict(d["normalisation"])
        return cls(**d)


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
            raise ValueError(f"patch {self.patch} must have {self.spatial_dims} sizes: this config trains in "
                             f"{self.spatial_dims}D (spatial_dims {self.spatial_dims})")
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
        if self.loss not in _SEG_LOSSES:
            raise ValueError(f"loss must be one of {_SEG_LOSSES}, got {self.loss!r}")
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


@dataclass(frozen=True)
class ProbUNetConfig:
    """Architecture of the probabilistic U-Net.

    Args:
        spatial_dims: 2 or 3.
        in_channels: image channels.
        channels: U-Net feature maps per level (also the prior/posterior encoders' widths).
        strides: U-Net down-sampling per level transition (``len(channels) - 1`` entries).
        num_res_units: residual units per U-Net block.
        features: channels of the U-Net output fed to fcomb.
        latent_dim: dimension of the Gaussian latent.
        fcomb_layers: number of 1x1 convolutions in fcomb (the last maps to 1 logit channel).
        dropout: U-Net dropout.
        output_prior: initial foreground probability of fcomb's output (its last bias is set to the
            logit of it, as Lin et al. 2017 do for rare classes). Without it a sigmoid output trained by
            a summed squared transport cost on small structures first drives every voxel to background and
            then saturates (PULASki collapsed to empty masks on LIDC with the 0.5 start).
    """

    spatial_dims: int = 2
    in_channels: int = 1
    channels: tuple[int, ...] = (8, 16, 32)
    strides: tuple[int, ...] = (2, 2)
    num_res_units: int = 1
    features: int = 8
    latent_dim: int = 6
    fcomb_layers: int = 3
    dropout: float = 0.0
    output_prior: float = 0.02

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        object.__setattr__(self, "strides", tuple(int(s) for s in self.strides))
        if not 0.0 < self.output_prior < 1.0:
            raise ValueError(f"output_prior must be in (0, 1), got {self.output_prior}")
        if self.latent_dim < 1 or self.features < 1:
            raise ValueError("latent_dim and features must be >= 1")
        if self.fcomb_layers < 1:
            raise ValueError(f"fcomb_layers must be >= 1, got {self.fcomb_layers}")
        self.unet_config()  # validates dims, channels, strides

    def unet_config(self) -> NetConfig:
        """The MONAI U-Net that computes the features."""
        return NetConfig(
            spatial_dims=self.spatial_dims,
            in_channels=self.in_channels,
            out_channels=self.features,
            channels=self.channels,
            strides=self.strides,
            num_res_units=self.num_res_units,
            dropout=self.dropout,
        )

    @property
    def divisor(self) -> int:
        return self.unet_config().divisor

    def to_dict(self) -> JsonDict:
        d = asdict(self)
        d["channels"], d["strides"] = list(self.channels), list(self.strides)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ProbUNetConfig:
        return cls(**d)


@dataclass(frozen=True)
class ProbTrainConfig:
    """How a probabilistic U-Net is trained.

    Args:
        loss: ``"sinkhorn"`` / ``"hausdorff"`` (PULASki) or ``"focal_tversky"`` (baseline).
        iterations: optimiser steps.
        batch_size: items per step.
        lr: Adam learning rate.
        lr_schedule: ``"constant"`` (as published) or ``"cosine"`` (decays to 0 over ``iterations``:
            the last weights are then not one random point of a noisy trajectory).
        ema_decay: 0 (as published): the model is the last step's weights. In (0, 1): the model is an
            exponential moving average of the weights over the steps (Polyak averaging), for a last
            point that is not one random point of a noisy trajectory. On LIDC validation patients 0.995
            was within seed noise and 0.999 kept the early, mostly-empty weights (bench/RESULTS-learning.md).
        beta: KL weight. PULASki adds it to the per-image distance; the baseline to a Focal-Tversky index
            with the KL divided by the voxel count. On LIDC validation patients 1 let its prior's samples
            decode to specks and ``bench/uncertainty.py`` uses 128 (bench/RESULTS-learning.md).
        blur: geomloss blur for PULASki.
        prior_weight: weight of PULASki's distance on prior samples as well (0: as published).
        warmup_iterations: 0 (as published). For a PULASki loss, the first this many of ``iterations``
            use the baseline's Focal-Tversky + KL instead. Why: the distance sums ``|p - t|^2 / 2``
            over voxels, so through the sigmoid a foreground voxel's gradient scales with its
            probability; with 1.2% foreground (LIDC 8x64x64 patches) the output first sinks towards
            the foreground share everywhere and the features may never separate the nodule. A
            Tversky index is normalised by the foreground and does not sink. Measured on LIDC 3D
            validation patients it did not stop a collapsing seed and made a training seed worse
            (the KL drifts during the warm-up; bench/RESULTS-learning.md): a diagnostic, not a fix.
        restarts: 0 (as published). Up to this many further runs from new weights (seed + 1, + 2,
            ...) while the trained net's prior samples are empty on every outlined training item
            (``training_presence`` 0). A collapse is decided by the start on LIDC 3D (other seeds on
            the same patients trained); a net that is not collapsed is never retrained.
        seed: weights, batches, flips and latent draws.
        net: the architecture.
    """

    loss: str = "sinkhorn"
    iterations: int = 300
    batch_size: int = 16
    lr: float = 1e-3
    lr_schedule: str = "constant"
    ema_decay: float = 0.0
    beta: float = 1.0
    blur: float = 2.0
    prior_weight: float = 0.0
    warmup_iterations: int = 0
    restarts: int = 0
    seed: int = 0
    net: ProbUNetConfig = ProbUNetConfig()

    def __post_init__(self) -> None:
        if self.loss not in _PROB_LOSSES:
            raise ValueError(f"loss must be one of {_PROB_LOSSES}, got {self.loss!r}")
        if self.lr_schedule not in _LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {_LR_SCHEDULES}, got {self.lr_schedule!r}")
        if self.iterations < 1 or self.batch_size < 1:
            raise ValueError("iterations and batch_size must be >= 1")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if not 0 <= self.warmup_iterations < self.iterations:
            raise ValueError(f"warmup_iterations must be in [0, iterations), got {self.warmup_iterations}")
        if self.restarts < 0:
            raise ValueError(f"restarts must be >= 0, got {self.restarts}")
        if self.warmup_iterations and self.loss == "focal_tversky":
            raise ValueError("warmup_iterations warms PULASki up with Focal-Tversky; loss is focal_tversky already")

    def to_dict(self) -> JsonDict:
        d = asdict(self)
        d["net"] = self.net.to_dict()
        return d


@dataclass(frozen=True)
class ShapeDAEConfig:
    """Architecture of the shape DAE.

    Args:
        spatial_dims: 2 or 3.
        channels: encoder widths; each level halves the size (the decoder mirrors them).
        bottleneck: channels of the bottleneck code (small: the shape prior's capacity).
    """

    spatial_dims: int = 2
    channels: tuple[int, ...] = (4, 8, 16)
    bottleneck: int = 4

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", tuple(int(c) for c in self.channels))
        if self.spatial_dims not in (2, 3):
            raise ValueError(f"spatial_dims must be 2 or 3, got {self.spatial_dims}")
        if not self.channels or min(self.channels) < 1 or self.bottleneck < 1:
            raise ValueError("channels and bottleneck must be positive")

    @property
    def divisor(self) -> int:
        return 2 ** len(self.channels)

    def to_dict(self) -> JsonDict:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d



# ------------------------------------------------------------------- a project's train_config


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def default_train_config(shapes: Sequence[Sequence[int]], dtype: str, *, seed: int = 0) -> TrainConfig:
    """A sensible segmenter config for volumes of these ``(Z, Y, X)`` shapes and voxel dtype.

    Thin stacks (median depth < 16 slices, e.g. LIDC crops) train in 2D on slices; volumes train on 3D
    patches (also with no volume yet). CT (signed integers, HU) is windowed, uint8 scaled, other images
    z-scored.
    """
    norm = NormConfig(mode="window", window=(-1000.0, 400.0)) if dtype.startswith("int") else NormConfig(mode="zscore")
    if dtype == "uint8":
        norm = NormConfig(mode="scale", scale=1 / 255)
    s = np.array(shapes, dtype=np.int64).reshape(-1, 3)
    if len(s) and np.median(s[:, 0]) < 16:
        yx = [int(min(128, max(16, (int(np.median(s[:, i])) // 16) * 16))) for i in (1, 2)]
        return TrainConfig(seed=seed, spatial_dims=2, patch=tuple(yx), batch_size=8, samples_per_item=8,
                           max_epochs=30, early_stopping_patience=5, net=NetConfig(spatial_dims=2, dropout=0.1),
                           normalisation=norm)
    patch = tuple(int(min(p, max(16, (int(np.median(s[:, i])) // 16) * 16))) if len(s) else p
                  for i, p in enumerate((32, 96, 96)))
    return TrainConfig(seed=seed, spatial_dims=3, patch=patch, max_epochs=30, early_stopping_patience=5,
                       net=NetConfig(spatial_dims=3, dropout=0.1), normalisation=norm)


def voxel_dtype(dtypes: Sequence[str]) -> str:
    """The one voxel dtype a project's default config is built for: the most common of its volumes'
    (ties: the first by name; float32 with no volume). Training and the policy check both use it, so a
    mixed-dtype project's setting is checked against the normalisation its training will use."""
    if not dtypes:
        return "float32"
    counts = Counter(dtypes)
    return min(counts, key=lambda d: (-counts[d], d))


def segmenter_config(shapes: Sequence[Sequence[int]], dtype: str, overrides: dict | None, *,
                     seed: int = 0) -> TrainConfig:
    """The default for these volumes with the project's overrides (its ``pulaski`` and ``shape_dae``
    sections are those kinds' own). Raises ``InvalidInput`` naming the bad setting."""
    segmenter = {k: v for k, v in (overrides or {}).items() if k not in _OWN_SECTIONS}
    unknown = sorted(set(segmenter) - {f.name for f in fields(TrainConfig)})
    if unknown:
        raise InvalidInput(f"train_config: unknown setting(s) {', '.join(unknown)}")
    try:
        return TrainConfig.from_dict(_merge(default_train_config(shapes, dtype, seed=seed).to_dict(), segmenter))
    except (TypeError, ValueError) as e:
        raise InvalidInput(f"train_config: {e}") from e


def pulaski_settings(overrides: dict | None, *, seed: int) -> tuple[ProbTrainConfig, tuple[int, int, int] | None]:
    """PULASki's run config from ``train_config["pulaski"]`` and, for a 3D net, its training patch (z, y, x)."""
    if overrides is not None and not isinstance(overrides, dict):
        raise InvalidInput(f"train_config.pulaski must be an object, got {type(overrides).__name__}")
    # 1500 steps: on LIDC at 400 the samples had collapsed to one mask (diversity 0.005); 3000 was no
    # better than 1500. Sinkhorn: Hausdorff won on 3 validation seeds but lost on test patients (slice GED
    # 0.325 vs 0.294 over 4 seeds; presence unstable). The net stays 8,16,32: the 4-level net's gain was
    # measured on 64 x 64 nodule crops with four times the crops, not on the whole slices trained here
    # (bench/RESULTS-learning.md)
    # restarts 1: a net that collapsed to empty output (decided by its start on LIDC 3D) is trained once
    # more from new weights instead of being registered and then rejected; a live net is never retrained
    d = {"loss": "sinkhorn", "iterations": 1500, "batch_size": 8, "restarts": 1, "seed": seed, **(overrides or {})}
    patch = d.pop("patch", None)
    try:
        net = {"spatial_dims": 2, **(d.pop("net", None) or {})}
        cfg = ProbTrainConfig(**d, net=ProbUNetConfig.from_dict(net))
    except (TypeError, ValueError) as e:
        raise InvalidInput(f"train_config.pulaski: {e}") from e
    if cfg.net.spatial_dims == 2:
        if patch is not None:
            raise InvalidInput("train_config.pulaski.patch is for a 3D net (net.spatial_dims 3); 2D trains on slices")
        return cfg, None
    patch = PATCH_3D if patch is None else patch
    if (not isinstance(patch, list | tuple) or len(patch) != 3
            or not all(isinstance(v, int) and v > 0 and v % cfg.net.divisor == 0 for v in patch)):
        raise InvalidInput(f"train_config.pulaski.patch must be 3 positive multiples of {cfg.net.divisor} "
                           f"(the net's divisor), got {patch!r}")
    return cfg, (int(patch[0]), int(patch[1]), int(patch[2]))


def shape_dae_settings(overrides: dict | None) -> tuple[ShapeDAEConfig, dict]:
    """The shape DAE's architecture and its ``iterations``, ``batch_size``, ``lr`` from ``train_config["shape_dae"]``."""
    if overrides is not None and not isinstance(overrides, dict):
        raise InvalidInput(f"train_config.shape_dae must be an object, got {type(overrides).__name__}")
    d = {"iterations": 300, "batch_size": 32, "lr": 2e-3, **(overrides or {})}
    unknown = sorted(set(d) - {"iterations", "batch_size", "lr", "net"})
    if unknown:
        raise InvalidInput(f"train_config.shape_dae: unknown setting(s) {', '.join(unknown)}")
    try:
        net = ShapeDAEConfig(**{"spatial_dims": 2, **(d.pop("net", None) or {})})
        opt = {"iterations": int(d["iterations"]), "batch_size": int(d["batch_size"]), "lr": float(d["lr"])}
    except (TypeError, ValueError) as e:
        raise InvalidInput(f"train_config.shape_dae: {e}") from e
    if opt["iterations"] < 1 or opt["batch_size"] < 1 or not opt["lr"] > 0:
        raise InvalidInput("train_config.shape_dae: iterations and batch_size must be >= 1 and lr > 0")
    return net, opt


def check_train_config(overrides: Any, *, shapes: Sequence[Sequence[int]], dtype: str) -> dict:
    """Check a project's whole ``train_config`` against its volumes before it is stored.

    Every kind's section is built as its training would build it, so a bad setting is refused when the
    policy is set (``InvalidInput`` naming it), not when a training job runs hours later.
    """
    if not isinstance(overrides, dict):
        raise InvalidInput(f"train_config must be an object, got {type(overrides).__name__}")
    segmenter_config(shapes, dtype, overrides)
    pulaski_settings(overrides.get("pulaski"), seed=0)
    shape_dae_settings(overrides.get("shape_dae"))
    return overrides
