"""Training throughput: store-backed ``PatchDataset`` (zarr on disk) vs the same sampling on arrays in RAM.

Question: does reading each patch's region from chunked zarr arrays slow a real training loop, and how
much memory does it save? Input: 8 seeded volumes of (Z, Y, X) = (128, 256, 256) int16 with uint8 blob
labels, written once to zarr in a temp dir (chunks 64^3). Each variant runs in a fresh subprocess (so
its peak RSS is its own): ``store`` reads through ``ArrayReader(zarr.Array)``; ``memory`` first loads
every volume into NumPy, then samples identically. Both run N DiceCE/AdamW steps of a small 3D UNet on
64^3 patches, batch 2, after warm-up steps; patches/s = 2 / median step time (data + step), best of
``--rounds`` alternating runs (the training step dominates; ``*_data_s_per_batch`` isolates loading).
Memory: ``*_data_rss_mib`` is the RSS growth from opening/loading the data, ``*_peak_rss_delta_mib``
the peak over the whole loop (activations included, alike for both).

Usage: python bench/loader.py [--iterations N] [--workers K] [--volumes V]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import emit, env_info, log  # noqa: E402

SHAPE = (128, 256, 256)
CHUNKS = (64, 64, 64)
PATCH = (64, 64, 64)
SEED = 0


def _vm_hwm_mib() -> float:
    """Peak resident memory of this process (VmHWM), MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _vm_rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def make_dataset(root: Path, n: int, seed: int = SEED) -> None:
    """Write ``n`` image/label zarr pairs, slab by slab (the parent never holds a whole volume)."""
    import zarr

    rng = np.random.default_rng(seed)
    for i in range(n):
        img = zarr.create_array(root / f"img{i}.zarr", shape=SHAPE, chunks=CHUNKS, dtype="int16")
        lab = zarr.create_array(root / f"lab{i}.zarr", shape=SHAPE, chunks=CHUNKS, dtype="uint8")
        blobs = [(rng.uniform(0.15, 0.85, 3) * SHAPE, rng.uniform(6, 16)) for _ in range(5)]
        for z0 in range(0, SHAPE[0], CHUNKS[0]):
            z, y, x = np.ogrid[z0 : z0 + CHUNKS[0], : SHAPE[1], : SHAPE[2]]
            mask = np.zeros((CHUNKS[0], SHAPE[1], SHAPE[2]), dtype=bool)
            for c, r in blobs:
                mask |= ((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2) < r * r
            noise = rng.normal(0, 25, mask.shape)
            img[z0 : z0 + CHUNKS[0]] = (np.where(mask, 150.0, 20.0) + noise).astype(np.int16)
            lab[z0 : z0 + CHUNKS[0]] = mask.astype(np.uint8)


def _worker(variant: str, root: Path, n: int, iterations: int, warmup: int, workers: int) -> dict[str, float]:
    """One variant's training loop; returns patches/s and memory figures."""
    import torch
    import zarr
    from monai.losses import DiceCELoss

    from learning.data import ArrayReader, NormConfig, PatchDataset, TrainItem, make_loader
    from learning.nets import NetConfig, build_segmenter
    from learning.seed import seed_everything

    seed_everything(SEED)
    model = build_segmenter(NetConfig(channels=(8, 16, 32, 64), strides=(2, 2, 2), num_res_units=1))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True)
    rss0 = _vm_rss_mib()
    t_load = time.perf_counter()
    items = []
    for i in range(n):
        img, lab = zarr.open_array(root / f"img{i}.zarr", mode="r"), zarr.open_array(root / f"lab{i}.zarr", mode="r")
        if variant == "memory":
            img, lab = np.asarray(img[:]), np.asarray(lab[:])
        items.append(TrainItem(ArrayReader(img), ArrayReader(lab)))
    ds = PatchDataset(
        items, patch=PATCH, samples_per_item=64, pos_fraction=0.5, rng_seed=SEED,
        normalisation=NormConfig(mode="window", window=(-100.0, 300.0)),
    )
    t_load = time.perf_counter() - t_load
    rss_setup = _vm_rss_mib()
    loader = make_loader(ds, batch_size=2, num_workers=workers, seed=SEED)
    it = iter(loader)
    times, data_times = [], []
    for step in range(warmup + iterations):
        t0 = time.perf_counter()
        batch = next(it)
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(batch["image"]), batch["label"])
        loss.backward()
        opt.step()
        if step >= warmup:
            times.append(time.perf_counter() - t0)
            data_times.append(t1 - t0)
    per_step = np.asarray(times)
    return {
        "patches_per_s": float(2 / np.median(per_step)),
        "patches_per_s_mean": float(2 * len(per_step) / per_step.sum()),
        "data_s_per_batch": float(np.median(data_times)),
        "setup_s": t_load,
        "rss_before_mib": rss0,
        "setup_rss_delta_mib": rss_setup - rss0,
        "peak_rss_mib": _vm_hwm_mib(),
        "peak_rss_delta_mib": _vm_hwm_mib() - rss0,
    }


def run(
    *, iterations: int = 20, warmup: int = 3, workers: int = 0, volumes: int = 8, rounds: int = 2
) -> dict[str, float | str]:
    tmp = tempfile.TemporaryDirectory(prefix="concord-bench-loader-")
    root = Path(tmp.name)
    log(f"writing {volumes} volumes of {SHAPE} to {root} ...")
    make_dataset(root, volumes)
    results: dict[str, dict[str, float]] = {}
    for variant in ("memory", "store") * rounds:  # alternated; the faster round of each is kept
        log(f"running {variant} variant in a fresh process ...")
        cmd = [sys.executable, __file__, "--worker", variant, "--root", str(root), "--volumes", str(volumes),
               "--iterations", str(iterations), "--warmup", str(warmup), "--workers", str(workers)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=os.environ.copy())
        res = json.loads(out.stdout.strip().splitlines()[-1])
        log(f"  {variant}: {res}")
        if variant not in results or res["patches_per_s"] > results[variant]["patches_per_s"]:
            results[variant] = res
    tmp.cleanup()
    mem, store = results["memory"], results["store"]
    return {
        "bench": "loader",
        "baseline": "same PatchDataset sampling on NumPy arrays preloaded in RAM",
        "baseline_patches_per_s": round(mem["patches_per_s"], 3),
        "concord_patches_per_s": round(store["patches_per_s"], 3),
        "baseline_s": round(2 / mem["patches_per_s"], 4),
        "concord_s": round(2 / store["patches_per_s"], 4),
        "speedup": round(store["patches_per_s"] / mem["patches_per_s"], 3),
        "baseline_data_s_per_batch": round(mem["data_s_per_batch"], 4),
        "concord_data_s_per_batch": round(store["data_s_per_batch"], 4),
        "baseline_peak_rss_delta_mib": round(mem["peak_rss_delta_mib"], 1),
        "concord_peak_rss_delta_mib": round(store["peak_rss_delta_mib"], 1),
        "baseline_data_rss_mib": round(mem["setup_rss_delta_mib"], 1),
        "concord_data_rss_mib": round(store["setup_rss_delta_mib"], 1),
        "baseline_setup_s": round(mem["setup_s"], 2),
        "concord_setup_s": round(store["setup_s"], 2),
        "volumes": volumes,
        "shape_zyx": "x".join(map(str, SHAPE)),
        "patch": "x".join(map(str, PATCH)),
        "iterations": iterations,
        "loader_workers": workers,
        "rounds": rounds,
        **env_info(),
        "device": "cpu",
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--volumes", type=int, default=8)
    p.add_argument("--rounds", type=int, default=2, help="alternating runs per variant; the best is kept")
    p.add_argument("--worker", choices=("memory", "store"), help=argparse.SUPPRESS)
    p.add_argument("--root", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        emit(_worker(a.worker, Path(a.root), a.volumes, a.iterations, a.warmup, a.workers))
    else:
        emit(run(iterations=a.iterations, warmup=a.warmup, workers=a.workers, volumes=a.volumes, rounds=a.rounds))
