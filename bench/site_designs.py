"""Bench: which synthetic-site design makes a bias experiment induce a real gap in BOTH directions?

On VALIDATION patients only (``bench/uncertainty.py``'s seed-0 training patients, split again by
patient), for each candidate way of rendering two sites (``learning.simulation.sites``), trains the
harness's segmenter on one site's cases only (each site, ``--repeats`` times) and reports the true
ΔDSC (site A - site B, 3D Dice against the majority consensus) with the audit's bootstrap CI and
permutation p-value (``learning.quality.compare_groups``). No RCA and
no audit: this chooses the experiment, it does not measure the audit. A design fit for a bias
experiment gives a clearly positive Δ for A-only training and a clearly negative one for B-only.
The adopted design is ``SITE_DESIGNS["two_protocols"]`` (bench/RESULTS-learning.md, 2026-12-07).

    python bench/site_designs.py [--designs new_scanner,two_protocols,none] [--splits 0,1] [--iterations 400]
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

from annotation.metrics.overlap import dice  # noqa: E402
from learning.device import pick_device  # noqa: E402
from learning.quality import compare_groups  # noqa: E402
from learning.simulation import SimulationConfig, default_data_path, load_cases, split_by_patient  # noqa: E402
from learning.simulation.harness import consensus_of, predict_probs, train_segmenter  # noqa: E402
from learning.simulation.sites import SITE_DESIGNS, SiteShift, assign_sites, with_sites  # noqa: E402

# candidates tried beside the two named designs (the 2026-12-07 table)
CANDIDATES: dict[str, dict[str, SiteShift]] = {
    **SITE_DESIGNS,
    "none": {},
    "bright_vs_dark": {"A": SiteShift(gamma=0.55, gain=0.85, offset=0.15, blur=0.0, noise=0.03),
                       "B": SiteShift(gamma=1.8, gain=0.85, offset=0.0, blur=0.0, noise=0.03)},
    "offset": {"A": SiteShift(gamma=1.0, gain=0.7, offset=0.0, blur=0.0, noise=0.0),
               "B": SiteShift(gamma=1.0, gain=0.7, offset=0.3, blur=0.0, noise=0.0)},
}


def run(*, data: Path, designs: list[str], splits: list[int], repeats: int = 2, iterations: int = 400,
        max_cases: int = 360, device: str | None = None, threads: int = 1) -> dict[str, object]:
    torch.set_num_threads(threads)
    dev = pick_device(device)
    t0 = time.perf_counter()
    cases = load_cases(data, crop=64, min_slices=1, max_cases=max_cases, rng=np.random.default_rng([0, 0]))
    tr, _ = split_by_patient([c.patient_id for c in cases], test_fraction=0.25, rng=np.random.default_rng([0, 1]))
    pool = [cases[i] for i in tr]  # bench/uncertainty.py's seed-0 training patients; its test patients unused
    cfg = replace(SimulationConfig(), iterations=iterations)
    out: dict[str, list[dict[str, object]]] = {d: [] for d in designs}
    for split in splits:
        a, b = split_by_patient([c.patient_id for c in pool], test_fraction=0.3, rng=np.random.default_rng([split, 99]))
        sites = assign_sites([c.patient_id for c in pool], np.random.default_rng([split, 11]))
        fit_c, val_c = [pool[i] for i in a], [pool[i] for i in b]
        fit_l = [consensus_of(c.raters, "majority") for c in fit_c]
        val_l = [consensus_of(c.raters, "majority") for c in val_c]
        is_b = np.array([sites[c.patient_id] == "B" for c in val_c])
        for name in designs:
            fit_s = with_sites(fit_c, sites, CANDIDATES[name], np.random.default_rng([split, 12]))
            val_s = with_sites(val_c, sites, CANDIDATES[name], np.random.default_rng([split, 13]))
            for rep in range(repeats):
                for group in ("A", "B"):
                    sel = [i for i, c in enumerate(fit_s) if c.attributes["site"] == group]
                    m = train_segmenter([fit_s[i] for i in sel], [fit_l[i] for i in sel], cfg, 7 + 100 * rep, dev)
                    td = np.array([dice((p >= 0.5).astype(np.uint8), lab)
                                   for p, lab in zip(predict_probs(m, val_s, dev), val_l)])
                    delta, lo, hi, p = compare_groups(td[~is_b], td[is_b], rng=np.random.default_rng(5))
                    row = {"split": split, "trained_on": group, "repeat": rep, "dice_a": float(td[~is_b].mean()),
                           "dice_b": float(td[is_b].mean()), "delta": delta, "ci": [lo, hi], "p": p}
                    out[name].append(row)
                    log(f"{name} split {split} trained on {group} (repeat {rep}): Δ {row['delta']:+.3f} "
                        f"p {row['p']:.3f} ({time.perf_counter() - t0:.0f}s)")
    return {"bench": "site_designs", "speedup": None, "designs": out, "iterations": iterations,
            "splits": splits, "repeats": repeats, "elapsed_s": time.perf_counter() - t0, "device": str(dev)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_data_path())
    ap.add_argument("--designs", default="new_scanner,two_protocols,none", help=f"of {sorted(CANDIDATES)}")
    ap.add_argument("--splits", default="0,1", help="validation splits of the training patients")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=400, help="segmenter steps (the bias experiment's)")
    ap.add_argument("--max-cases", type=int, default=360)
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    names = a.designs.split(",")
    unknown = sorted(set(names) - set(CANDIDATES))
    if unknown:
        ap.error(f"unknown site design(s) {unknown}; choose from {sorted(CANDIDATES)}")
    print(json.dumps(run(data=a.data, designs=names, splits=[int(s) for s in a.splits.split(",")],
                         repeats=a.repeats, iterations=a.iterations, max_cases=a.max_cases,
                         device=a.device, threads=a.threads)))
