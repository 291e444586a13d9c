"""Reading training data region by region: reader protocol, normalisation, patch sampling, augmentation,
multi-rater training items.

Django-free: takes readers and arrays, returns tensors.
"""

from __future__ import annotations

from learning.data.augment import AugmentConfig, build_augmentation
from learning.data.dataset import PatchDataset, PatchPlan, PatchSampler, TrainItem, make_loader
from learning.data.foreground import ForegroundIndex, foreground_index
from learning.data.multirater import training_patches, training_slices
from learning.data.normalise import NormConfig, normalise, volume_stats
from learning.data.readers import ArrayReader, VolumeReader, check_region, full_region
from learning.data.slices import common_in_plane, pad_in_plane

__all__ = [
    "AugmentConfig",
    "build_augmentation",
    "PatchDataset",
    "PatchPlan",
    "PatchSampler",
    "TrainItem",
    "make_loader",
    "ForegroundIndex",
    "foreground_index",
    "NormConfig",
    "normalise",
    "volume_stats",
    "ArrayReader",
    "VolumeReader",
    "check_region",
    "full_region",
    "common_in_plane",
    "pad_in_plane",
    "training_patches",
    "training_slices",
]
