"""Slice reads from the volume store vs nibabel loading the whole .nii.gz and slicing.

Question: how fast does an annotator's viewer get one axial / coronal / sagittal plane of a
512x512x600 int16 CT, and how big is the store? ``--sweep`` compares chunk shapes, sharding and
codecs (the figures behind ``core/storage/layout.py``; table in ``core/storage/CHUNKS.md``).

Usage: python bench/slices.py [--repeats N] [--sweep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import emit, env_info, log, summarize  # noqa: E402
from core.geometry import Geometry  # noqa: E402
from core.storage import IMAGE_LAYOUT, Layout, create_volume, open_volume  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REAL_CT = DATA / "totalseg-example" / "example_ct.nii.gz"
PHANTOM_SHAPE = (600, 512, 512)
SEED = 0
ORIENTATIONS = ("axial", "coronal", "sagittal")
CACHE = Path(tempfile.gettempdir()) / "concord-bench"


def make_phantom(shape: tuple[int, int, int] = PHANTOM_SHAPE, seed: int = SEED) -> np.ndarray:
    """CT-like int16 (Z, Y, X) in HU: air, an elliptic body whose size varies with z, a bone ring,
    two soft-tissue organs and Gaussian noise (sd 20 HU) so compression is realistic."""
    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    y, x = np.mgrid[0:ny, 0:nx].astype(np.float32)
    cy, cx = ny / 2, nx / 2
    out = np.empty(shape, dtype=np.int16)
    for z in range(nz):
        s = 0.75 + 0.2 * np.sin(np.pi * z / nz)
        r = ((y - cy) / (0.35 * ny * s)) ** 2 + ((x - cx) / (0.45 * nx * s)) ** 2
        sl = np.full((ny, nx), -1000.0, dtype=np.float32)
        sl[r < 1] = 40.0
        sl[(r > 0.8) & (r < 0.88)] = 700.0
        sl[((y - cy + 30) / 60) ** 2 + ((x - cx - 60) / 80) ** 2 < 1] = 60.0
        sl[((y - cy - 20) / 40) ** 2 + ((x - cx + 70) / 45) ** 2 < 1] = 25.0
        sl += rng.normal(0, 20, size=(ny, nx)).astype(np.float32)
        out[z] = np.clip(sl, -1024, 3071).astype(np.int16)
    return out


def phantom_nifti(arr: np.ndarray, spacing: tuple[float, float, float]) -> Path:
    """The phantom as .nii.gz (cached across runs: gzip of 300 MB takes a while)."""
    import nibabel as nib

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"phantom_{'x'.join(map(str, arr.shape))}_seed{SEED}.nii.gz"
    if not path.exists():
        log(f"writing phantom NIfTI {path} ...")
        geom = Geometry(spacing=spacing)
        tmp = path.with_name(path.name + ".part.nii.gz")
        nib.save(nib.Nifti1Image(arr.transpose(2, 1, 0), geom.nifti_affine()), str(tmp))
        os.replace(tmp, path)
    return path


def nifti_slice(path: Path, axis: str, index: int) -> np.ndarray:
    """Baseline: what a NIfTI-based tool does, load the whole volume, then cut a plane."""
    import nibabel as nib

    a = np.asarray(nib.load(str(path)).dataobj).transpose(2, 1, 0)  # (Z, Y, X)
    return [a[index], a[:, index], a[:, :, index]][ORIENTATIONS.index(axis)]


def store_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def time_slices(url: str, shape: tuple[int, int, int], *, repeats: int, seed: int = 1) -> dict[str, list[float]]:
    """Per orientation, durations (s) of ``repeats`` read_slice calls at random indices (warmed up)."""
    rng = np.random.default_rng(seed)
    vol = open_volume(url)
    out: dict[str, list[float]] = {}
    for axis, n in zip(ORIENTATIONS, shape):
        for i in rng.integers(0, n, 3):
            vol.read_slice(axis, int(i))
        ts = []
        for i in rng.integers(0, n, repeats):
            t0 = time.perf_counter()
            vol.read_slice(axis, int(i))
            ts.append(time.perf_counter() - t0)
        out[axis] = ts
    return out


def sweep(phantom: np.ndarray, ct: np.ndarray | None, *, repeats: int) -> list[dict]:
    """Chunk/shard/codec grid: slice p50 per orientation on the phantom, size ratio on both."""
    chunk_shards = [
        ((64, 64, 64), None), ((64, 64, 64), (128, 256, 256)),
        ((32, 128, 128), None), ((32, 128, 128), (64, 512, 512)),
        ((16, 256, 256), None), ((16, 256, 256), (64, 512, 512)),
        ((1, 512, 512), None), ((1, 512, 512), (32, 512, 512)),
        ((32, 64, 64), None), ((32, 32, 32), None),
    ]
    codecs = [("zstd", 3), ("zstd", 5), ("blosc-lz4", 1), ("blosc-lz4", 5), ("blosc-zstd", 1)]
    grid = [Layout(c, s, "zstd", 1) for c, s in chunk_shards]
    grid += [Layout(c, s, codec, lvl) for c, s in chunk_shards[:3] for codec, lvl in codecs]
    rows = []
    root = Path(tempfile.mkdtemp(prefix="concord-sweep-"))
    try:
        for lay in grid:
            url = str(root / "p.zarr")
            t0 = time.perf_counter()
            create_volume(url, phantom, Geometry((0.8, 0.8, 1.0)), levels=1, layout=lay)
            write_s = time.perf_counter() - t0
            ratio = store_bytes(Path(url)) / phantom.nbytes
            p50 = {a: 1e3 * summarize(t)["p50"] for a, t in time_slices(url, phantom.shape, repeats=repeats).items()}
            shutil.rmtree(url)
            ct_ratio = None
            if ct is not None:
                create_volume(url, ct, Geometry((1.5, 1.5, 1.5)), levels=1, layout=lay)
                ct_ratio = store_bytes(Path(url)) / ct.nbytes
                shutil.rmtree(url)
            row = {"layout": lay.label(), "write_s": round(write_s, 2), "ratio_phantom": round(ratio, 3),
                   "ratio_real_ct": None if ct_ratio is None else round(ct_ratio, 3),
                   **{f"{a}_p50_ms": round(v, 2) for a, v in p50.items()}, "max_p50_ms": round(max(p50.values()), 2)}
            log(str(row))
            rows.append(row)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return rows


def load_real_ct() -> tuple[np.ndarray, Geometry] | None:
    if not REAL_CT.exists():
        log(f"real CT not found at {REAL_CT}: skipping its part")
        return None
    import nibabel as nib

    img = nib.load(str(REAL_CT))
    return np.asarray(img.dataobj).transpose(2, 1, 0).copy(), Geometry.from_nifti_affine(img.affine)


def run(*, repeats: int = 20, do_sweep: bool = False) -> dict:
    log("building phantom ...")
    phantom = make_phantom()
    spacing = (0.8, 0.8, 1.0)
    real = load_real_ct()
    result: dict = {"bench": "slices", "repeats": repeats, "shape": list(PHANTOM_SHAPE), "dtype": "int16",
                    "layout": IMAGE_LAYOUT.label()}
    if do_sweep:
        result["sweep"] = sweep(phantom, None if real is None else real[0], repeats=repeats)

    nii = phantom_nifti(phantom, spacing)
    root = Path(tempfile.mkdtemp(prefix="concord-bench-"))
    try:
        url = str(root / "phantom.zarr")
        log("writing phantom store ...")
        t0 = time.perf_counter()
        create_volume(url, phantom, Geometry(spacing))
        result["create_s"] = time.perf_counter() - t0
        vol = open_volume(url)
        result["store_ratio_phantom"] = store_bytes(root / "phantom.zarr" / "0") / phantom.nbytes

        log("baseline: nibabel whole-volume load + slice ...")
        base = []
        for k, axis in enumerate(ORIENTATIONS * max(1, min(repeats, 9) // 3)):
            idx = PHANTOM_SHAPE[ORIENTATIONS.index(axis)] // 2 + k
            t0 = time.perf_counter()
            plane = nifti_slice(nii, axis, idx)
            base.append(time.perf_counter() - t0)
            if not np.array_equal(plane, vol.read_slice(axis, idx)):
                raise AssertionError(f"{axis} slice {idx} differs between nibabel and Concord")
        log("concord: read_slice ...")
        times = time_slices(url, PHANTOM_SHAPE, repeats=repeats)
        stats = {a: summarize(t) for a, t in times.items()}
        all_concord = summarize([t for ts in times.values() for t in ts])
        result["baseline_s"] = summarize(base)["p50"]
        result["concord_s"] = all_concord["p50"]
        result["speedup"] = result["baseline_s"] / result["concord_s"]
        result["p50_ms"] = {a: 1e3 * s["p50"] for a, s in stats.items()}
        result["p99_ms"] = {a: 1e3 * s["p99"] for a, s in stats.items()}
        result["min_ms"] = {a: 1e3 * s["min"] for a, s in stats.items()}

        if real is not None:
            arr, geom = real
            curl = str(root / "ct.zarr")
            create_volume(curl, arr, geom)
            result["store_ratio_real_ct"] = store_bytes(root / "ct.zarr" / "0") / arr.nbytes
            result["real_ct_shape"] = list(arr.shape)
            result["real_ct_dtype"] = str(arr.dtype)
            if not np.array_equal(open_volume(curl).read(verify=True), arr):
                raise AssertionError("real CT round trip differs")
        else:
            result["store_ratio_real_ct"] = None
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result.update(env_info())
    return result


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--sweep", action="store_true", help="compare chunk shapes, sharding and codecs first")
    args = ap.parse_args()
    emit(run(repeats=args.repeats, do_sweep=args.sweep))
