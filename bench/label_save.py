"""Persisting a one-slice label edit: LabelStore.write_region vs rewriting the whole label as .nii.gz.

Question: how long does a draft autosave take after a brush stroke on one slice of a
512x512x600 uint8 label? Baseline is what MONAI Label does: nibabel writes the whole label
as NIfTI-gzip. Concord rewrites only the chunks the slice touches. ``--sweep`` compares label
chunk shapes for edits in all three orientations (figures in ``core/storage/CHUNKS.md``).

Usage: python bench/label_save.py [--repeats N] [--sweep]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import emit, env_info, log, summarize  # noqa: E402
from core.geometry import Geometry  # noqa: E402
from core.storage import LABEL_LAYOUT, Layout, create_volume, open_volume  # noqa: E402

SHAPE = (600, 512, 512)
SEED = 0
GEOM = Geometry((0.8, 0.8, 1.0))


def make_label(shape: tuple[int, int, int] = SHAPE, seed: int = SEED) -> np.ndarray:
    """uint8 (Z, Y, X) with a few ellipsoidal organs (labels 1..4), seeded."""
    rng = np.random.default_rng(seed)
    out = np.zeros(shape, dtype=np.uint8)
    z, y, x = (np.arange(n, dtype=np.float32) for n in shape)
    for lab in range(1, 5):
        c = [rng.uniform(0.3, 0.7) * n for n in shape]
        r = [rng.uniform(0.05, 0.15) * n for n in shape]
        zz = ((z - c[0]) / r[0]) ** 2
        for k in np.nonzero(zz < 1)[0]:
            m = ((y[:, None] - c[1]) / r[1]) ** 2 + ((x[None, :] - c[2]) / r[2]) ** 2 < 1 - zz[k]
            out[k][m] = lab
    return out


def stroke(plane: np.ndarray, rng: np.random.Generator, radius: int = 15) -> np.ndarray:
    """The plane with a disc painted label 5 at a random place (centre of a 32x32 plane: its middle)."""
    p = plane.copy()
    lo = np.minimum(radius + 1, np.array(p.shape) // 2)
    cy, cx = rng.integers(lo, np.maximum(lo + 1, np.array(p.shape) - lo))
    yy, xx = np.ogrid[: p.shape[0], : p.shape[1]]
    p[(yy - cy) ** 2 + (xx - cx) ** 2 < radius**2] = 5
    return p


def time_edits(label, ref: np.ndarray, axis: int, *, repeats: int, seed: int = 2, bbox: bool = False) -> list[float]:
    """Durations (s) of write_region for one edited plane along ``axis`` (0 axial, 1 coronal, 2 sagittal).

    ``bbox=True`` writes only the stroke's 32x32 bounding box within the plane (what a viewer that
    tracks the brush would send) instead of the whole plane.
    """
    rng = np.random.default_rng(seed)
    ts = []
    for k in range(repeats + 2):
        i = int(rng.integers(0, ref.shape[axis]))
        region = [slice(0, n) for n in ref.shape]
        region[axis] = slice(i, i + 1)
        if bbox:
            for a in range(3):
                if a != axis:
                    c = int(rng.integers(16, ref.shape[a] - 16))
                    region[a] = slice(c - 16, c + 16)
        region = tuple(region)
        new = np.expand_dims(stroke(np.take(ref[region], 0, axis=axis), rng, radius=12 if bbox else 15), axis)
        t0 = time.perf_counter()
        label.write_region(region, new)
        dt = time.perf_counter() - t0
        ref[region] = new
        if k >= 2:  # first two are warm-up
            ts.append(dt)
    return ts


def run(*, repeats: int = 20, do_sweep: bool = False) -> dict:
    import nibabel as nib

    log("building label ...")
    lab = make_label()
    result: dict = {"bench": "label_save", "repeats": repeats, "shape": list(SHAPE), "dtype": "uint8",
                    "label_layout": LABEL_LAYOUT.label(), "edit": "one full axial plane with a brush disc"}
    root = Path(tempfile.mkdtemp(prefix="concord-label-"))
    try:
        vol_url = str(root / "v.zarr")
        create_volume(vol_url, np.zeros(SHAPE, dtype=np.int16), GEOM, levels=1)
        vol = open_volume(vol_url, "r+")

        layouts = [LABEL_LAYOUT]
        if do_sweep:
            layouts = [Layout((1, 512, 512)), Layout((8, 256, 256)), Layout((16, 128, 128)), Layout((32, 64, 64)),
                       Layout((64, 64, 64)), Layout((1, 512, 512), None, "blosc-lz4", 5)]
            result["sweep"] = []
        for k, lay in enumerate(layouts):
            label = vol.create_label(f"draft{k}", lab, layout=lay)
            ref = lab.copy()
            p50 = {}
            for axis, name in enumerate(("axial", "coronal", "sagittal")):
                # off-axis edits rewrite many (1, 512, 512) chunks: fewer repeats keep the run short
                p50[name] = summarize(time_edits(label, ref, axis, repeats=repeats if axis == 0 else max(3, repeats // 4)))
            if not np.array_equal(label.read(), ref):
                raise AssertionError("label content differs from the numpy reference after edits")
            if do_sweep:
                row = {"layout": lay.label(), **{f"{a}_p50_ms": round(1e3 * s["p50"], 2) for a, s in p50.items()}}
                log(str(row))
                result["sweep"].append(row)
            if lay == LABEL_LAYOUT:
                result["concord_s"] = p50["axial"]["p50"]
                result["p50_ms"] = {a: 1e3 * s["p50"] for a, s in p50.items()}
                result["p99_ms"] = {a: 1e3 * s["p99"] for a, s in p50.items()}
                result["min_ms"] = {a: 1e3 * s["min"] for a, s in p50.items()}
                result["stroke_bbox_p50_ms"] = {
                    name: 1e3 * summarize(time_edits(label, ref, axis, repeats=repeats, seed=3, bbox=True))["p50"]
                    for axis, name in enumerate(("axial", "coronal", "sagittal"))
                }
                final = ref
            vol.delete_label(f"draft{k}")

        log("baseline: nibabel writes the whole label as .nii.gz ...")
        base = []
        for k in range(max(3, min(repeats, 5))):
            path = root / f"label{k}.nii.gz"
            t0 = time.perf_counter()
            nib.save(nib.Nifti1Image(final.transpose(2, 1, 0), GEOM.nifti_affine()), str(path))
            base.append(time.perf_counter() - t0)
        back = np.asarray(nib.load(str(path)).dataobj).transpose(2, 1, 0)
        if not np.array_equal(back, final):
            raise AssertionError("baseline NIfTI differs from the edited label")
        result["baseline_s"] = summarize(base)["p50"]
        result["baseline_min_s"] = summarize(base)["min"]
        result["speedup"] = result["baseline_s"] / result["concord_s"]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result.update(env_info())
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--sweep", action="store_true", help="compare label chunk shapes first")
    args = ap.parse_args()
    emit(run(repeats=args.repeats, do_sweep=args.sweep))
