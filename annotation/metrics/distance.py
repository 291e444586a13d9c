"""Surface distances in millimetres between masks, with anisotropic voxel spacing.

Why: boundary disagreement (HD95, ASSD) is what raters argue about; Dice hides it on large organs.

Definitions (those of MONAI / medpy / the Medical Segmentation Decathlon):

- surface of a mask = mask XOR its erosion with face (6-) connectivity; voxels outside the array
  count as background, so a mask touching the array border has a surface there;
- ``d_ab`` = for every surface voxel of ``a``, the Euclidean distance (mm, voxel centres, spacing in
  ``(z, y, x)`` order) to the nearest surface voxel of ``b``; ``d_ba`` likewise;
- ``hausdorff`` = max(max d_ab, max d_ba); ``hd95`` = max(P95(d_ab), P95(d_ba)) (numpy's linear
  percentile); ``assd`` = (sum d_ab + sum d_ba) / (n_a + n_b);
- both masks empty: every distance is 0.0; exactly one empty: ``inf``.

Speed: the distance transforms run on the bounding box of the union of the masks plus a one-voxel
margin, never on the whole volume; with several raters each rater's transform is computed once and
reused for all its pairs (``surface_distance_matrices``). On large boxes (an organ, not a nodule) an
exact nearest-neighbour search between the surface point sets (k-d tree, in mm) replaces the
distance transform: its cost follows the number of surface voxels, not the box volume; the
distances are the same Euclidean distances between voxel centres. One tree per rater answers all
other raters' points in one batched, multi-threaded query. (scipy's ``distance_transform_edt``
holds the GIL, about 1.3 s per rater on a 4-million-voxel liver box, so the transforms are not
threaded.) Surfaces come from shifted ANDs, not ``binary_erosion``: the same voxels, faster.

Note on SimpleITK's ``HausdorffDistanceImageFilter``: it measures from every voxel of one mask to
the nearest *voxel* of the other, so a voxel of ``a`` lying inside ``b`` counts 0, whereas here a
surface voxel of ``a`` lying inside ``b`` counts its distance to ``b``'s surface. The two maxima agree
when the largest gap is where the masks do not overlap, and can differ otherwise (seen on LIDC
nodules: 1.63 vs 1.49 mm). ``voxel_hausdorff`` gives SimpleITK's definition; its *average*
distance is a different quantity from ``assd``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from annotation.metrics._inputs import as_mask, as_pair, as_stack, check_spacing
from annotation.metrics.patterns import foreground_box

__all__ = [
    "SurfaceDistanceMatrices",
    "surface",
    "surface_distances",
    "hausdorff",
    "voxel_hausdorff",
    "hd95",
    "assd",
    "surface_distance_matrices",
]


def surface(mask: np.ndarray) -> np.ndarray:
    """Surface voxels of a mask: mask XOR its erosion with face connectivity (outside = background).

    Args:
        mask: bool/int array of any dimension (nonzero = foreground).
    Returns:
        bool array of the same shape.
    """
    m = as_mask(mask)
    if m.ndim == 0 or m.size == 0:
        return m.copy()
    # erosion with the face-connected cross, outside = background: a voxel stays when it and its
    # 2*ndim face neighbours are foreground (shifted ANDs on a one-voxel background frame)
    p = np.pad(m, 1, mode="constant", constant_values=False)
    core = tuple(slice(1, -1) for _ in range(m.ndim))
    eroded = m.copy()
    for axis in range(m.ndim):
        lo = list(core)
        hi = list(core)
        lo[axis] = slice(0, -2)
        hi[axis] = slice(2, None)
        eroded &= p[tuple(lo)]
        eroded &= p[tuple(hi)]
    return m & ~eroded


def _crop_box(any_fg: np.ndarray, margin: int = 1) -> tuple[slice, ...] | None:
    """Bounding box of the foreground plus ``margin`` voxels, clipped to the array; None if empty."""
    box = []
    for axis in range(any_fg.ndim):
        other = tuple(i for i in range(any_fg.ndim) if i != axis)
        hit = np.flatnonzero(any_fg.any(axis=other))
        if hit.size == 0:
            return None
        box.append(slice(max(int(hit[0]) - margin, 0), min(int(hit[-1]) + margin + 1, any_fg.shape[axis])))
    return tuple(box)


def _fg_box(masks: np.ndarray) -> tuple[slice, ...] | None:
    """Bounding box (margin 1) of the union of a (R, ...) stack (``patterns.foreground_box``)."""
    return foreground_box(masks, margin=1)


def _pad(crop: np.ndarray) -> np.ndarray:
    """Pad by one background voxel so erosion at the array border behaves as 'outside is background'."""
    return np.pad(crop, 1, mode="constant", constant_values=False)


def surface_distances(
    a: np.ndarray, b: np.ndarray, *, spacing: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Distances from each surface voxel of one mask to the nearest surface voxel of the other.

    Args:
        a, b: masks of equal shape ``(Z, Y, X)`` (any dimension works), bool or integer.
        spacing: voxel size per array axis in mm, ``(z, y, x)``.
    Returns:
        ``(d_ab, d_ba)``: float64 1-D arrays in mm, of lengths n_surface(a) and n_surface(b).
        When one mask is empty the other's array is filled with ``inf``; both empty: two empty arrays.
    Raises:
        ValueError: shapes differ or spacing does not match.
    """
    a, b = as_pair(a, b)
    sp = check_spacing(spacing, a.ndim)
    box = _crop_box(a | b)
    if box is None:
        return np.zeros(0), np.zeros(0)
    sa = surface(_pad(a[box]))
    sb = surface(_pad(b[box]))
    if not sa.any() or not sb.any():
        return np.full(int(sa.sum()), np.inf), np.full(int(sb.sum()), np.inf)
    dt_b = ndimage.distance_transform_edt(~sb, sampling=sp)
    dt_a = ndimage.distance_transform_edt(~sa, sampling=sp)
    return dt_b[sa], dt_a[sb]


def _directed_stats(d_ab: np.ndarray, d_ba: np.ndarray, percentile: float) -> tuple[float, float, float]:
    """(hausdorff, hd-percentile, assd) from the two directed distance arrays, with the empty conventions."""
    if d_ab.size == 0 and d_ba.size == 0:
        return 0.0, 0.0, 0.0
    if d_ab.size == 0 or d_ba.size == 0 or np.isinf(d_ab).any() or np.isinf(d_ba).any():
        return float("inf"), float("inf"), float("inf")
    h = float(max(d_ab.max(), d_ba.max()))
    hp = float(max(np.percentile(d_ab, percentile), np.percentile(d_ba, percentile)))
    mean = float((d_ab.sum() + d_ba.sum()) / (d_ab.size + d_ba.size))
    return h, hp, mean


def hausdorff(a: np.ndarray, b: np.ndarray, *, spacing: Sequence[float]) -> float:
    """Symmetric Hausdorff distance between mask surfaces, mm (0.0 both empty, inf one empty).

    Args:
        a, b: masks of equal shape ``(Z, Y, X)``.
        spacing: voxel size in mm, ``(z, y, x)``.
    """
    return _directed_stats(*surface_distances(a, b, spacing=spacing), 95.0)[0]


def voxel_hausdorff(a: np.ndarray, b: np.ndarray, *, spacing: Sequence[float]) -> float:
    """Hausdorff distance between voxel sets (SimpleITK's ``HausdorffDistanceImageFilter``), mm.

    Directed distance = max over voxels of one mask of the distance to the nearest voxel of the
    other (0 inside it). Computed on the bounding box of both masks.

    Args:
        a, b: masks of equal shape ``(Z, Y, X)``.
        spacing: voxel size in mm, ``(z, y, x)``.
    Returns:
        Distance in mm; 0.0 when both masks are empty, inf when exactly one is.
    """
    a, b = as_pair(a, b)
    sp = check_spacing(spacing, a.ndim)
    box = _crop_box(a | b)
    if box is None:
        return 0.0
    ca, cb = a[box], b[box]
    if not ca.any() or not cb.any():
        return float("inf")
    d_ab = ndimage.distance_transform_edt(~cb, sampling=sp)[ca].max()
    d_ba = ndimage.distance_transform_edt(~ca, sampling=sp)[cb].max()
    return float(max(d_ab, d_ba))


def hd95(a: np.ndarray, b: np.ndarray, *, spacing: Sequence[float], percentile: float = 95.0) -> float:
    """95th-percentile Hausdorff distance, max of the two directed percentiles, mm.

    Args:
        a, b: masks of equal shape ``(Z, Y, X)``.
        spacing: voxel size in mm, ``(z, y, x)``.
        percentile: which percentile (95 by default).
    Returns:
        Distance in mm; 0.0 when both masks are empty, inf when exactly one is.
    """
    return _directed_stats(*surface_distances(a, b, spacing=spacing), percentile)[1]


def assd(a: np.ndarray, b: np.ndarray, *, spacing: Sequence[float]) -> float:
    """Average symmetric surface distance, mm (0.0 both empty, inf one empty).

    Args:
        a, b: masks of equal shape ``(Z, Y, X)``.
        spacing: voxel size in mm, ``(z, y, x)``.
    """
    return _directed_stats(*surface_distances(a, b, spacing=spacing), 95.0)[2]


_KDTREE_BOX_VOXELS = 2_000_000


def _fill_kdtree(
    surfaces: list[np.ndarray],
    sp: tuple[float, ...],
    percentile: float,
    workers: int,
    h: np.ndarray,
    hp: np.ndarray,
    md: np.ndarray,
) -> None:
    """Pairwise stats by nearest-neighbour queries between surface point sets (mm).

    One k-d tree per rater; each tree answers the surface points of all other raters in one
    batched query (``workers`` threads). Surface voxels shared with the tree's rater are at
    distance 0 and are not queried.
    """
    scale = np.asarray(sp)
    idx = [np.argwhere(s) for s in surfaces]
    r = len(surfaces)
    directed: dict[tuple[int, int], np.ndarray] = {}
    for j in range(r):
        if idx[j].shape[0] == 0:
            continue
        # leafsize 32, unbalanced: faster to build and to query on lattice points (exact either way)
        tree = cKDTree(idx[j] * scale, leafsize=32, balanced_tree=False, compact_nodes=False)
        parts, keys = [], []
        for i in range(r):
            if i == j or idx[i].shape[0] == 0:
                continue
            pts = idx[i]
            far = ~surfaces[j][tuple(pts.T)]
            d = np.zeros(pts.shape[0])
            directed[i, j] = d
            parts.append(pts[far])
            keys.append((i, far))
        if not parts:
            continue
        query = np.concatenate(parts) * scale
        dist = tree.query(query, workers=workers)[0] if query.shape[0] else np.zeros(0)
        start = 0
        for (i, far), part in zip(keys, parts):
            directed[i, j][far] = dist[start : start + part.shape[0]]
            start += part.shape[0]
    for i in range(r):
        for j in range(i + 1, r):
            if idx[i].shape[0] == 0 and idx[j].shape[0] == 0:
                stats = (0.0, 0.0, 0.0)
            elif idx[i].shape[0] == 0 or idx[j].shape[0] == 0:
                stats = (float("inf"),) * 3
            else:
                stats = _directed_stats(directed[i, j], directed[j, i], percentile)
            h[i, j], hp[i, j], md[i, j] = stats
            h[j, i], hp[j, i], md[j, i] = stats


@dataclass(frozen=True)
class SurfaceDistanceMatrices:
    """Pairwise surface-distance matrices between raters, (R, R) float64 in mm, zero diagonal."""

    hausdorff: np.ndarray
    hd95: np.ndarray
    assd: np.ndarray
    percentile: float = field(default=95.0)


def surface_distance_matrices(
    masks: np.ndarray,
    *,
    spacing: Sequence[float],
    percentile: float = 95.0,
    workers: int = 2,
    method: str = "auto",
) -> SurfaceDistanceMatrices:
    """Hausdorff, HD95 and ASSD for every pair of rater masks, one distance transform per rater.

    Args:
        masks: ``(R, Z, Y, X)`` stack, bool or integer (nonzero = foreground).
        spacing: voxel size in mm, ``(z, y, x)``.
        percentile: percentile for the ``hd95`` matrix.
        workers: threads for the k-d tree queries.
        method: ``"edt"`` (distance transform on the box), ``"kdtree"`` (surface point sets), or
            ``"auto"``: k-d tree when the box holds more than ``_KDTREE_BOX_VOXELS`` voxels.
    Returns:
        SurfaceDistanceMatrices with symmetric (R, R) matrices.
    """
    stack = as_stack(masks)
    r = stack.shape[0]
    sp = check_spacing(spacing, stack.ndim - 1)
    h = np.zeros((r, r))
    hp = np.zeros((r, r))
    md = np.zeros((r, r))
    box = _fg_box(stack)
    if box is None:
        return SurfaceDistanceMatrices(h, hp, md, percentile)
    surfaces = [surface(_pad(as_mask(stack[k][box]))) for k in range(r)]
    if method not in ("auto", "edt", "kdtree"):
        raise ValueError(f"method must be 'auto', 'edt' or 'kdtree', got {method!r}")
    if method == "kdtree" or (method == "auto" and surfaces[0].size > _KDTREE_BOX_VOXELS):
        _fill_kdtree(surfaces, sp, percentile, workers, h, hp, md)
        return SurfaceDistanceMatrices(h, hp, md, percentile)

    def _edt(s: np.ndarray) -> np.ndarray | None:
        return ndimage.distance_transform_edt(~s, sampling=sp).astype(np.float32) if s.any() else None

    # sequential: scipy's distance transform holds the GIL, so threads only add contention
    dts = [_edt(s) for s in surfaces]
    for i in range(r):
        for j in range(i + 1, r):
            if dts[i] is None and dts[j] is None:
                stats = (0.0, 0.0, 0.0)
            elif dts[i] is None or dts[j] is None:
                stats = (float("inf"),) * 3
            else:
                d_ij = dts[j][surfaces[i]].astype(np.float64)
                d_ji = dts[i][surfaces[j]].astype(np.float64)
                stats = _directed_stats(d_ij, d_ji, percentile)
            h[i, j], hp[i, j], md[i, j] = stats
            h[j, i], hp[j, i], md[j, i] = stats
    return SurfaceDistanceMatrices(h, hp, md, percentile)
