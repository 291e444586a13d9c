"""Pre-segmentation: Concord's slab-by-slab ``predict`` (zarr in, zarr out) vs bare MONAI sliding window.

Question: what does reading the volume from a chunked store and writing probabilities slab by slab
(bounded memory) cost over calling MONAI's ``sliding_window_inference`` on an in-memory array?
Input: a seeded CT-like int16 volume of (Z, Y, X) = (128, 256, 256), a 3D MONAI UNet with channels
16-32-64-128, strides 2-2-2 (random weights: speed, not accuracy), roi 64x128x128, overlap 0.25,
separable gaussian blending (the same weight map for both; MONAI's own gaussian map clamps the 3D
product at 1e-3, so it blends window edges differently: that difference is reported too).

Usage: python bench/inference.py [--repeats N] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import zarr
from monai.inferers import sliding_window_inference

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import emit, env_info, log, summarize  # noqa: E402
from learning.data import ArrayReader, NormConfig, normalise  # noqa: E402
from learning.device import pick_device  # noqa: E402
from learning.infer import InferConfig, predict, weight_map  # noqa: E402
from learning.nets import NetConfig, build_segmenter  # noqa: E402
from learning.seed import seed_everything  # noqa: E402

SHAPE = (128, 256, 256)
ROI = (64, 128, 128)
SEED = 0
NET = NetConfig(spatial_dims=3, channels=(16, 32, 64, 128), strides=(2, 2, 2), num_res_units=2)
NORM = NormConfig(mode="window", window=(-1000.0, 400.0))


def make_volume(shape: tuple[int, int, int] = SHAPE, seed: int = SEED) -> np.ndarray:
    """CT-like int16 (Z, Y, X): air, an elliptic body, a few denser blobs, noise."""
    rng = np.random.default_rng(seed)
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    body = ((y - shape[1] / 2) / (0.4 * shape[1])) ** 2 + ((x - shape[2] / 2) / (0.45 * shape[2])) ** 2 < 1
    vol = np.where(body, 40.0, -1000.0) + np.zeros((shape[0], 1, 1))
    for _ in range(6):
        c = rng.uniform(0.2, 0.8, 3) * shape
        r = rng.uniform(5, 15)
        vol[((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2) < r * r] = 200.0
    vol += rng.normal(0, 20, shape)
    return vol.astype(np.int16)


class _ZarrWriter:
    """Writes each finished slab into a zarr array (what the pre-segmentation task does)."""

    def __init__(self, array: zarr.Array) -> None:
        self.array = array

    def write(self, region: tuple[slice, slice, slice], probs: np.ndarray) -> None:
        self.array[region] = probs


def run(*, repeats: int = 5, device: str | None = "cpu") -> dict[str, float | str]:
    dev = pick_device(device)
    seed_everything(SEED)
    model = build_segmenter(NET).to(dev).eval()
    volume = make_volume()
    cfg = InferConfig(roi_size=ROI, sw_batch_size=4, overlap=0.25, mode="gaussian", normalisation=NORM)
    wmap = weight_map(ROI, cfg.mode, cfg.sigma_scale).to(dev)
    use_amp = dev.type == "cuda"
    tmp = tempfile.TemporaryDirectory(prefix="concord-bench-infer-")
    src = zarr.create_array(Path(tmp.name) / "image.zarr", shape=SHAPE, chunks=(32, 128, 128), dtype="int16")
    src[:] = volume
    dst = zarr.create_array(Path(tmp.name) / "prob.zarr", shape=SHAPE, chunks=(16, 128, 128), dtype="float32")

    def baseline(weights: torch.Tensor | None = wmap) -> np.ndarray:
        x = torch.from_numpy(normalise(volume, NORM))[None, None].to(dev)
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
            logits = sliding_window_inference(
                x, ROI, cfg.sw_batch_size, model, overlap=cfg.overlap, mode=cfg.mode, roi_weight_map=weights
            )
        return torch.softmax(logits[0].float(), 0)[1].cpu().numpy()

    def concord() -> np.ndarray:
        predict(ArrayReader(src), model, config=cfg, device=dev, out=_ZarrWriter(dst), keep=False)
        return np.asarray(dst[:])

    log(f"warm-up on {dev} ...")
    ref, got = baseline(), concord()
    diff = float(np.abs(ref - got).max())
    default = baseline(None)
    diff_default = float(np.abs(default - got).max())
    mean_diff_default = float(np.abs(default - got).mean())
    log(f"max abs difference {diff:.2e} (same weight map), {diff_default:.2e} (vs MONAI's own gaussian map)")
    tb, tc = [], []
    for r in range(repeats):  # interleaved, so background load hits both alike
        t0 = time.perf_counter()
        baseline()
        tb.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        predict(ArrayReader(src), model, config=cfg, device=dev, out=_ZarrWriter(dst), keep=False)
        tc.append(time.perf_counter() - t0)
        log(f"repeat {r + 1}/{repeats}: monai {tb[-1]:.2f} s, concord {tc[-1]:.2f} s")
    sb, sc = summarize(tb), summarize(tc)
    tmp.cleanup()
    info = env_info()
    return {
        "bench": "inference",
        "shape_zyx": "x".join(map(str, SHAPE)),
        "roi": "x".join(map(str, ROI)),
        "baseline": "monai sliding_window_inference on in-memory array",
        "baseline_s": round(sb["p50"], 3),
        "baseline_min_s": round(sb["min"], 3),
        "concord_s": round(sc["p50"], 3),
        "concord_min_s": round(sc["min"], 3),
        "speedup": round(sb["p50"] / sc["p50"], 3),
        "max_abs_diff": diff,
        "max_abs_diff_vs_monai_default_gaussian": diff_default,
        "mean_abs_diff_vs_monai_default_gaussian": mean_diff_default,
        "speedup_min": round(sb["min"] / sc["min"], 3),
        "repeats": repeats,
        "amp": use_amp,
        "torch_threads": torch.get_num_threads(),
        **info,
        "device": info["device"] if dev.type == "cuda" else "cpu",
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    a = p.parse_args()
    emit(run(repeats=a.repeats, device=a.device))
