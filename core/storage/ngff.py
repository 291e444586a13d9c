"""OME-NGFF 0.5 metadata (the ``"ome"`` attribute of zarr v3 groups) for Concord volumes.

Concord's arrays are (Z, Y, X); NGFF lists axes and transforms in that same order, so
``scale`` here is ``geometry.spacing_zyx`` times each level's downsampling factor.
Only this module knows the NGFF dictionary shapes.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "NGFF_VERSION",
    "multiscales",
    "image_attrs",
    "labels_attrs",
    "label_image_attrs",
    "level_paths",
    "label_names",
]

NGFF_VERSION = "0.5"
_AXES = [{"name": n, "type": "space", "unit": "millimeter"} for n in ("z", "y", "x")]


def multiscales(
    name: str,
    spacing_zyx: tuple[float, float, float],
    factors: list[tuple[int, int, int]],
    *,
    method: str,
) -> list[dict[str, Any]]:
    """The ``multiscales`` list for one pyramid.

    Args:
        spacing_zyx: level-0 voxel spacing in mm, (z, y, x).
        factors: cumulative downsampling factor per level, (z, y, x); level 0 is (1, 1, 1).
        method: how coarse levels were made ("mean" for images, "nearest" for labels).

    The translation puts each coarse voxel's centre on the centre of the level-0 block it averages.
    """
    datasets = []
    for i, f in enumerate(factors):
        scale = [float(s * k) for s, k in zip(spacing_zyx, f)]
        trans = [float(s * (k - 1) / 2.0) for s, k in zip(spacing_zyx, f)]
        transforms: list[dict[str, Any]] = [{"type": "scale", "scale": scale}]
        if any(trans):
            transforms.append({"type": "translation", "translation": trans})
        datasets.append({"path": str(i), "coordinateTransformations": transforms})
    return [
        {
            "name": name,
            "axes": list(_AXES),
            "datasets": datasets,
            "type": method,
            "metadata": {"method": method, "factors": [list(f) for f in factors]},
        }
    ]


def image_attrs(ms: list[dict[str, Any]]) -> dict[str, Any]:
    return {"version": NGFF_VERSION, "multiscales": ms}


def labels_attrs(names: list[str]) -> dict[str, Any]:
    """Attributes of the ``labels/`` group: the list of label images it holds."""
    return {"version": NGFF_VERSION, "labels": list(names)}


def label_image_attrs(
    ms: list[dict[str, Any]], colors: dict[int, tuple[int, ...]] | None
) -> dict[str, Any]:
    """Attributes of one label image: its pyramid plus ``image-label`` (colours, source image).

    Args:
        colors: label value -> RGBA (0..255); an RGB triple gets alpha 255.
    """
    entries = []
    for value, rgba in sorted((colors or {}).items()):
        c = [int(v) for v in rgba]
        if len(c) == 3:
            c.append(255)
        if len(c) != 4 or not all(0 <= v <= 255 for v in c):
            raise ValueError(f"colour for label {value} must be RGB or RGBA in 0..255, got {rgba}")
        entries.append({"label-value": int(value), "rgba": c})
    return {
        "version": NGFF_VERSION,
        "multiscales": ms,
        "image-label": {"colors": entries, "source": {"image": "../../"}},
    }


def level_paths(ome: dict[str, Any]) -> list[str]:
    """Dataset paths of the first multiscales entry, finest first."""
    return [d["path"] for d in ome["multiscales"][0]["datasets"]]


def label_names(ome: dict[str, Any] | None) -> list[str]:
    return list((ome or {}).get("labels", []))
