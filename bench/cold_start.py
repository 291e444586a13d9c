"""Bench: which first batch teaches a segmenter most when nothing is labelled yet?

The cold start decides the first point of every learning curve. This bench trains the active-learning
harness's segmenter (``learning.simulation``, same data, split, training and evaluation as
``bench/active_learning.py``) on the first batch chosen by each cold-start method
(``learning.acquisition.COLD_START_METHODS``: TypiClust, k-center greedy, random; all on the cheap
image features of each case's middle slice) and reports the Dice against consensus on held-out
patients, over several seeds. A quality bench with no time goal: its ``speedup`` is null.

    python bench/cold_start.py [--data PATH] [--seeds 8] [--batch 8] [--iterations 300] [--max-cases 200]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import log  # noqa: E402

from learning.acquisition import COLD_START_METHODS  # noqa: E402
from learning.device import pick_device  # noqa: E402
from learning.simulation import SimulationConfig, default_data_path, load_cases, simulate_cases  # noqa: E402


def run(
    *,
    data: Path,
    seeds: int = 8,
    batch: int = 8,
    iterations: int = 300,
    max_cases: int = 200,
    methods: tuple[str, ...] = COLD_START_METHODS,
    device: str | None = None,
    threads: int = 1,
) -> dict[str, object]:
    torch.set_num_threads(threads)
    dev = pick_device(device)
    cfg = replace(SimulationConfig(), rounds=0, batch=batch, iterations=iterations, max_cases=max_cases,
                  full_data=False)
    t0 = time.perf_counter()
    dice: dict[str, list[float]] = {m: [] for m in methods}
    ged: dict[str, list[float]] = {m: [] for m in methods}
    for seed in range(seeds):
        cases = load_cases(data, crop=cfg.crop, min_slices=cfg.min_slices, max_cases=cfg.max_cases,
                           rng=np.random.default_rng([seed, 0]))
        for m in methods:
            # any non-random strategy: at round 0 only the cold start acts
            r = simulate_cases(cases, strategy="kcenter", seed=seed, config=replace(cfg, cold_start=m), device=dev,
                               log=lambda _msg: None)
            dice[m].append(r.records[0].dice)
            ged[m].append(r.records[0].ged)
        log(f"seed {seed}: " + ", ".join(f"{m} {dice[m][-1]:.3f}" for m in methods)
            + f" ({time.perf_counter() - t0:.0f}s)")
    summary = {
        m: {"dice_mean": float(np.mean(dice[m])), "dice_sd": float(np.std(dice[m])), "dice": dice[m],
            "ged_mean": float(np.mean(ged[m]))}
        for m in methods
    }
    for m, s in summary.items():
        log(f"{m:>10}: round-0 Dice {s['dice_mean']:.3f} ± {s['dice_sd']:.3f} over {seeds} seeds; GED {s['ged_mean']:.3f}")
    wins = {m: f"{sum(a > b for a, b in zip(dice[m], dice['random']))}/{seeds}" for m in methods
            if m != "random" and "random" in dice}
    return {
        "bench": "cold_start",
        "speedup": None,
        "methods": summary,
        "beats_random_seeds": wins,
        "seeds": seeds,
        "batch": batch,
        "iterations": iterations,
        "max_cases": max_cases,
        "elapsed_s": time.perf_counter() - t0,
        "device": str(dev),
        "threads": threads,
        "torch": torch.__version__,
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_data_path())
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--batch", type=int, default=8, help="cases in the first batch")
    ap.add_argument("--iterations", type=int, default=300, help="segmenter steps")
    ap.add_argument("--max-cases", type=int, default=200)
    ap.add_argument("--methods", default=",".join(COLD_START_METHODS))
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    methods = tuple(a.methods.split(","))
    bad = [m for m in methods if m not in COLD_START_METHODS]
    if bad:
        ap.error(f"--methods: unknown {', '.join(bad)}; known: {', '.join(COLD_START_METHODS)}")
    print(json.dumps(run(data=a.data, seeds=a.seeds, batch=a.batch, iterations=a.iterations, max_cases=a.max_cases,
                         methods=methods, device=a.device, threads=a.threads)))
