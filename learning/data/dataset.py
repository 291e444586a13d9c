"""Store-backed random patch sampling for training: reads only the patch's region from each reader.

Why: training volumes live in a chunked store; reading a patch's box touches only its chunks, so
memory stays at a few chunks per worker however large or many the volumes are.

Every sample's randomness comes from ``(rng_seed, index)``, where the index grows by ``len(dataset)``
each epoch (see ``PatchSampler``), so results do not depend on the number of loader workers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import Randomizable
from torch.utils.data import DataLoader, Dataset, Sampler

from learning.data.foreground import ForegroundIndex, foreground_index
from learning.data.normalise import NormConfig, normalise
from learning.data.readers import VolumeReader
from learning.types import Region

__all__ = ["TrainItem", "PatchPlan", "PatchDataset", "PatchSampler", "make_loader"]


@dataclass(frozen=True)
class TrainItem:
    """One training case: an image, its label (class indices, 0 = background) and optionally a
    precomputed foreground index (else the dataset builds one by scanning the label slab by slab)."""

    image: VolumeReader
    label: VolumeReader
    foreground: ForegroundIndex | None = None

    def __post_init__(self) -> None:
        if tuple(self.image.shape) != tuple(self.label.shape):
            raise ValueError(f"image shape {self.image.shape} != label shape {self.label.shape}")


@dataclass(frozen=True)
class PatchPlan:
    """Where one sample comes from: the item, the image and label regions, and padding to apply."""

    item: int
    image_region: Region
    label_region: Region
    positive: bool
    centre: tuple[int, int, int]


def _axis_window(c: int, size: int, n: int) -> tuple[int, int]:
    """Start/stop of a window of ``size`` centred near ``c`` clipped into ``[0, n)``."""
    if size >= n:
        return 0, n
    start = min(max(c - size // 2, 0), n - size)
    return start, start + size


def _pad_to(a: np.ndarray, shape: Sequence[int], mode: str = "constant") -> np.ndarray:
    """Pad the trailing ``len(shape)`` axes of ``a`` symmetrically up to ``shape``."""
    lead = a.ndim - len(shape)
    pads = [(0, 0)] * lead
    for n, want in zip(a.shape[lead:], shape):
        extra = max(want - n, 0)
        pads.append((extra // 2, extra - extra // 2))
    if all(p == (0, 0) for p in pads):
        return a
    return np.pad(a, pads, mode=mode)  # type: ignore[call-overload]


class PatchDataset(Dataset):
    """Random patches from ``items``; ``samples_per_item`` per item per epoch.

    3D mode (``len(patch) == 3``): samples are ``{"image": (1, Z, Y, X), "label": (1, Z, Y, X)}``.
    2D / 2.5D mode (``len(patch) == 2``): samples are ``{"image": (k, Y, X), "label": (1, Y, X)}``
    with ``k = context_slices`` adjacent Z slices as channels (edges replicated), label of the centre
    slice. Volumes smaller than the patch are padded (image with 0 after normalisation, label with 0).

    Args:
        items: training cases.
        patch: spatial patch shape ``(Z, Y, X)`` or ``(Y, X)``.
        samples_per_item: patches per item per epoch.
        pos_fraction: probability that a patch is centred on a foreground voxel (when the item has any).
        rng_seed: seed of every sample's generator.
        transforms: a callable on the sample dict (MONAI dictionary transforms), or ``None``.
        normalisation: intensity normalisation applied to each image patch.
        context_slices: ``k`` (odd) in 2D mode; ignored in 3D mode.
    """

    def __init__(
        self,
        items: Sequence[TrainItem],
        *,
        patch: tuple[int, ...],
        samples_per_item: int = 4,
        pos_fraction: float = 0.5,
        rng_seed: int = 0,
        transforms: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        normalisation: NormConfig | None = None,
        context_slices: int = 1,
    ) -> None:
        if len(items) == 0:
            raise ValueError("PatchDataset needs at least one item")
        if len(patch) not in (2, 3) or min(patch) < 1:
            raise ValueError(f"patch must be 2 or 3 positive sizes, got {patch}")
        if samples_per_item < 1:
            raise ValueError(f"samples_per_item must be >= 1, got {samples_per_item}")
        if not 0.0 <= pos_fraction <= 1.0:
            raise ValueError(f"pos_fraction must be in [0, 1], got {pos_fraction}")
        if context_slices < 1 or context_slices % 2 == 0:
            raise ValueError(f"context_slices must be odd and >= 1, got {context_slices}")
        self.items = list(items)
        self.patch = tuple(int(p) for p in patch)
        self.samples_per_item = int(samples_per_item)
        self.pos_fraction = float(pos_fraction)
        self.rng_seed = int(rng_seed)
        self.transforms = transforms
        self.normalisation = normalisation or NormConfig(mode="none")
        self.context_slices = int(context_slices) if len(patch) == 2 else 1
        self.foreground: list[ForegroundIndex] = [
            it.foreground
            if it.foreground is not None
            else foreground_index(it.label, rng=np.random.default_rng([self.rng_seed, i, 7]))
            for i, it in enumerate(self.items)
        ]

    @property
    def spatial_dims(self) -> int:
        return len(self.patch)

    def __len__(self) -> int:
        return len(self.items) * self.samples_per_item

    def plan(self, index: int) -> PatchPlan:
        """Decide, from ``index`` alone, which item and region sample ``index`` reads.

        Args:
            index: any non-negative integer; ``index % len(self)`` picks the item, the whole index seeds.
        """
        rng = np.random.default_rng([self.rng_seed, int(index)])
        item = (int(index) % len(self)) // self.samples_per_item
        shape = self.items[item].image.shape
        fg = self.foreground[item]
        positive = (not fg.empty) and rng.random() < self.pos_fraction
        if positive:
            centre = fg.sample(rng)
        else:
            centre = tuple(int(rng.integers(0, n)) for n in shape)  # type: ignore[assignment]
        if self.spatial_dims == 3:
            bounds = [_axis_window(c, p, n) for c, p, n in zip(centre, self.patch, shape)]
            region = tuple(slice(a, b) for a, b in bounds)
            return PatchPlan(item, region, region, positive, centre)  # type: ignore[arg-type]
        z = centre[0]
        half = self.context_slices // 2
        yb = _axis_window(centre[1], self.patch[0], shape[1])
        xb = _axis_window(centre[2], self.patch[1], shape[2])
        image_region = (slice(max(z - half, 0), min(z + half + 1, shape[0])), slice(*yb), slice(*xb))
        label_region = (slice(z, z + 1), slice(*yb), slice(*xb))
        return PatchPlan(item, image_region, label_region, positive, centre)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        p = self.plan(index)
        it = self.items[p.item]
        image = normalise(it.image.read(p.image_region), self.normalisation)
        label = np.asarray(it.label.read(p.label_region), dtype=np.float32)
        if self.spatial_dims == 3:
            image = _pad_to(image, self.patch)[None]
            label = _pad_to(label, self.patch)[None]
        else:
            z, half = p.centre[0], self.context_slices // 2
            before = half - (z - p.image_region[0].start)
            after = half - (p.image_region[0].stop - 1 - z)
            if before or after:
                image = np.pad(image, [(before, after), (0, 0), (0, 0)], mode="edge")
            image = _pad_to(image, self.patch)
            label = _pad_to(label, self.patch)
        sample: dict[str, Any] = {"image": np.ascontiguousarray(image), "label": np.ascontiguousarray(label)}
        if self.transforms is not None:
            if isinstance(self.transforms, Randomizable):
                seed = int(np.random.default_rng([self.rng_seed, int(index), 1]).integers(2**31))
                self.transforms.set_random_state(seed=seed)
            sample = self.transforms(sample)
        return {k: _to_tensor(v) for k, v in sample.items() if k in ("image", "label")}


def _to_tensor(v: Any) -> torch.Tensor:
    if isinstance(v, MetaTensor):
        v = v.as_tensor()
    t = torch.as_tensor(np.ascontiguousarray(v) if isinstance(v, np.ndarray) else v)
    return t.float().contiguous()


class PatchSampler(Sampler[int]):
    """Shuffled indices whose values grow by ``n`` each epoch, so every epoch draws fresh patches.

    Works with persistent loader workers: the epoch lives in the index, not in dataset state.

    Args:
        n: ``len(dataset)``.
        seed: seed of the shuffle.
        shuffle: permute within each epoch.
    """

    def __init__(self, n: int, *, seed: int = 0, shuffle: bool = True) -> None:
        self.n = int(n)
        self.seed = int(seed)
        self.shuffle = shuffle
        self.epoch = 0

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        base = self.epoch * self.n
        self.epoch += 1
        return iter([base + i for i in order])


def make_loader(
    dataset: PatchDataset,
    *,
    batch_size: int,
    num_workers: int = 0,
    seed: int = 0,
    shuffle: bool = True,
    pin_memory: bool = False,
) -> DataLoader:
    """A ``DataLoader`` over ``dataset``; each full iteration is one epoch of fresh patches.

    Args:
        dataset: the patch dataset.
        batch_size: patches per batch.
        num_workers: loader processes (0: in the calling process, as in tests).
        seed: shuffle seed.
        shuffle: permute the order within an epoch.
        pin_memory: pin host memory (set when training on CUDA).

    Returns:
        The loader; batches are ``{"image": (B, C, *patch), "label": (B, 1, *patch)}`` float32.
    """
    if batch_size < 1 or num_workers < 0:
        raise ValueError("batch_size must be >= 1 and num_workers >= 0")
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=PatchSampler(len(dataset), seed=seed, shuffle=shuffle),
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        pin_memory=pin_memory,
        drop_last=False,
    )
