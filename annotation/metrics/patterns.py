"""Vote patterns: one pass over the voxels that every voxel-count agreement metric derives from.

Why: with R raters and L labels a voxel's votes form one of at most L**R patterns (16 for four
binary raters). Counting the patterns once (O(V)) makes volumes, pairwise intersections, Fleiss'
kappa, Krippendorff's alpha and STAPLE's EM work on a table of a few rows instead of the volume.
Only the bounding box of the raters' union is read after one scan for it (``foreground_box``):
every voxel outside it shows the all-background pattern, so its count is the remainder. Large
boxes are counted chunk-wise along Z through dask.array, so memory stays bounded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from annotation.metrics._inputs import as_stack

__all__ = ["VotePatterns", "vote_patterns", "pattern_codes", "foreground_box", "DASK_VOXELS"]

DASK_VOXELS = 20_000_000  # above this many voxels in the union box, count chunk-wise with dask
_DENSE_BINS = 1 << 22  # dense bincount up to this many possible patterns, else np.unique


@dataclass(frozen=True)
class VotePatterns:
    """Distinct rater-vote patterns and how many voxels show each.

    Attributes:
        table: (P, R) uint8/int label each rater gave, one row per pattern present.
        counts: (P,) int64 voxel count per pattern.
        codes: (P,) int64 pattern code ``sum_r label_r * n_classes**r``.
        n_classes: number of labels L (labels are 0..L-1).
    """

    table: np.ndarray
    counts: np.ndarray
    codes: np.ndarray
    n_classes: int

    @property
    def n_raters(self) -> int:
        return int(self.table.shape[1])

    @property
    def n_voxels(self) -> int:
        return int(self.counts.sum())

    def binary(self, label: int) -> VotePatterns:
        """Patterns of the one-vs-rest masks ``masks == label`` (merged rows)."""
        t = (self.table == label).astype(np.uint8)
        codes = (t.astype(np.int64) << np.arange(t.shape[1], dtype=np.int64)).sum(axis=1)
        uniq, inv = np.unique(codes, return_inverse=True)
        counts = np.bincount(inv, weights=self.counts, minlength=uniq.size).astype(np.int64)
        return VotePatterns(table=_decode(uniq, 2, t.shape[1]), counts=counts, codes=uniq, n_classes=2)

    def per_voxel_counts(self) -> np.ndarray:
        """(P, L) int: how many raters gave each label, per pattern."""
        out = np.zeros((self.table.shape[0], self.n_classes), dtype=np.int64)
        for r in range(self.n_raters):
            out[np.arange(out.shape[0]), self.table[:, r]] += 1
        return out


def foreground_box(masks: np.ndarray, margin: int = 1) -> tuple[slice, ...] | None:
    """Bounding box of the union of a ``(R, *spatial)`` stack plus ``margin`` voxels, clipped; None if empty.

    Narrows axis by axis (first axis on the whole array, the next ones inside the slab found so
    far), so the full volume is read about once per rater, without a full-size temporary.
    """
    nd = masks.ndim - 1
    box: list[slice] = [slice(0, n) for n in masks.shape[1:]]
    for axis in range(nd):
        other = tuple(i for i in range(nd) if i != axis)
        proj = np.zeros(masks.shape[axis + 1], dtype=bool)
        for m in masks:
            sub = np.asarray(m)[tuple(box)]
            proj[box[axis]] |= sub.any(axis=other) if other else sub != 0
        hit = np.flatnonzero(proj)
        if hit.size == 0:
            return None
        box[axis] = slice(max(int(hit[0]) - margin, 0), min(int(hit[-1]) + margin + 1, masks.shape[axis + 1]))
    return tuple(box)


def _code_dtype(n_classes: int, n_raters: int) -> np.dtype:
    top = n_classes**n_raters
    for dt in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(dt).max + 1:
            return np.dtype(dt)
    return np.dtype(np.int64)


def pattern_codes(masks: np.ndarray, n_classes: int) -> np.ndarray:
    """Per-voxel pattern code ``sum_r label_r * n_classes**r`` of a (R, ...) stack.

    Args:
        masks: (R, Z, Y, X) bool or integer labels in [0, n_classes).
        n_classes: L.
    Returns:
        (Z, Y, X) array of the smallest unsigned dtype that holds L**R codes.
    """
    r = masks.shape[0]
    dt = _code_dtype(n_classes, r)
    code = np.zeros(masks.shape[1:], dtype=dt)
    if n_classes == 2:
        for k in range(r):
            m = masks[k] if masks.dtype == np.bool_ else masks[k] != 0
            code |= m.view(np.uint8).astype(dt, copy=False) << dt.type(k)
        return code
    scale = 1
    for k in range(r):
        code += masks[k].astype(dt) * dt.type(scale)
        scale *= n_classes
    return code


def _decode(codes: np.ndarray, n_classes: int, n_raters: int) -> np.ndarray:
    powers = n_classes ** np.arange(n_raters, dtype=np.int64)
    return ((codes[:, None] // powers[None, :]) % n_classes).astype(np.uint8 if n_classes <= 256 else np.int64)


def _hist_block(block: np.ndarray, n_classes: int, nbins: int) -> np.ndarray:
    codes = pattern_codes(block, n_classes)
    return np.bincount(codes.ravel(), minlength=nbins).astype(np.int64)[None, :]


def vote_patterns(
    masks: np.ndarray,
    *,
    n_classes: int | None = None,
    use_dask: bool | None = None,
    chunk_z: int = 32,
    box: tuple[slice, ...] | None = None,
) -> VotePatterns:
    """Count the rater-vote patterns of a stack of rater masks.

    Args:
        masks: (R, Z, Y, X) bool/uint8 masks or integer label maps (labels 0..L-1).
        n_classes: L; default max label + 1 (at least 2).
        use_dask: count chunk-wise along Z with dask.array; default when the union's bounding box
            holds more than ``DASK_VOXELS`` voxels.
        chunk_z: slices per dask chunk.
        box: ``foreground_box(masks)`` when the caller already has it (skips that scan).
    Returns:
        VotePatterns with only the patterns that occur.
    Raises:
        ValueError: masks are not a stack of integer labels, or a label is >= n_classes.
    """
    stack = as_stack(masks)
    r = stack.shape[0]
    spatial = int(np.prod(stack.shape[1:]))
    if box is None:
        box = foreground_box(stack) if stack.size else None
    # everything outside the box is label 0 in every rater: pattern code 0
    sub = stack[(slice(None), *box)] if box is not None else stack[(slice(None),) + (slice(0, 0),) * (stack.ndim - 1)]
    inside = int(np.prod(sub.shape[1:]))
    top = int(sub.max()) if sub.size else 0
    if stack.dtype == np.bool_:
        top = min(top, 1)
    if n_classes is None:
        n_classes = max(top + 1, 2)
    if top >= n_classes:
        raise ValueError(f"label {top} found but n_classes={n_classes}")
    if n_classes == 2 and sub.dtype != np.bool_ and top <= 1:
        # 0/1 labels: reinterpret as bool without a copy when the itemsize allows
        sub = sub.view(np.bool_) if sub.dtype.itemsize == 1 else sub.astype(np.bool_)
    nbins = n_classes**r
    if use_dask is None:
        use_dask = inside > DASK_VOXELS
    if nbins <= _DENSE_BINS:
        if sub.size == 0:
            hist = np.zeros(nbins, dtype=np.int64)
        elif use_dask and sub.ndim >= 2:
            import dask.array as da

            chunks = (r, min(chunk_z, sub.shape[1])) + sub.shape[2:]
            arr = da.from_array(sub, chunks=chunks)
            hist = arr.map_blocks(
                _hist_block,
                n_classes,
                nbins,
                dtype=np.int64,
                drop_axis=[0, *range(2, sub.ndim)],
                new_axis=[1],
                chunks=((1,) * arr.numblocks[1], (nbins,)),
            ).sum(axis=0).compute()
        else:
            hist = np.bincount(pattern_codes(sub, n_classes).ravel(), minlength=nbins).astype(np.int64)
        hist[0] += spatial - inside
        codes = np.flatnonzero(hist).astype(np.int64)
        counts = hist[codes].astype(np.int64)
    else:
        codes, counts = np.unique(pattern_codes(sub, n_classes), return_counts=True)
        codes = codes.astype(np.int64)
        counts = counts.astype(np.int64)
        if spatial > inside:
            if codes.size and codes[0] == 0:
                counts[0] += spatial - inside
            else:
                codes = np.concatenate([[0], codes]).astype(np.int64)
                counts = np.concatenate([[spatial - inside], counts]).astype(np.int64)
    return VotePatterns(table=_decode(codes, n_classes, r), counts=counts, codes=codes, n_classes=n_classes)
