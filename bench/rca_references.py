"""Bench: how many references does an RCA estimate need?

RCA (``learning.quality.rca``) predicts a case's Dice as the MAXIMUM Dice of its prediction carried
onto each of the ``k`` most similar labelled references, so a small ``k`` biases the estimate low.
This bench registers every predicted-foreground slice of the test cases to its ``--max-k`` nearest
references once and reports, for each smaller ``k`` (the nearest-first prefix), Pearson r, MAE and
mean bias of the case estimate (max over references, and the mean for comparison) against the true
Dice: the paper's max, the mean, and RCA's estimator (``learning.quality.rca.rca_estimate``: the mean
of the top 5% of the k values, a robust max). ``--dump`` keeps every value for other estimators.
Same data, split and segmenter as ``bench/uncertainty.py`` (seed 0: 360 cases, 600 steps).
``--split validation`` leaves the test patients out altogether: 20% of the *training* patients are
held out, the segmenter trains and the references come from the rest, so a choice of ``k``,
estimator or registration can be made there and then reported once on the test patients.
A quality bench with no time goal: its ``speedup`` is null.

    python bench/rca_references.py [--max-k 60] [--refs 300] [--split test|validation]
        [--transform affine|bspline] [--dump PATH]
    python bench/rca_references.py --from-dump PATH    # the figures of a dump again
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
from scipy.stats import pearsonr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import log  # noqa: E402
from bench.uncertainty import per_case, references  # noqa: E402

from annotation.metrics.overlap import dice  # noqa: E402
from learning.quality.rca import RCA_K, RCA_TRANSFORM, area_weighted, rca_estimate, rca_predict  # noqa: E402
from learning.simulation import SimulationConfig, default_data_path, load_cases, split_by_patient  # noqa: E402
from learning.simulation.harness import case_slices, consensus_of, train_segmenter  # noqa: E402
from learning.uncertainty import foreground_probability  # noqa: E402


ESTIMATORS = {"max": np.max, "mean": np.mean, "rca": rca_estimate}


def case_estimate(rows: list[tuple[float, list[float]]], k: int, how: str) -> float:
    """A case's estimate from each predicted slice's estimate over its k nearest references,
    by ``learning.quality.rca.rca_case_slices``' rule (``area_weighted``)."""
    return area_weighted([a for a, _ in rows], [float(ESTIMATORS[how](d[:k])) for _, d in rows])


def run(*, data: Path, max_k: int = 60, n_refs: int = 300, seed: int = 0, threads: int = 1,
        split: str = "test", transform: str = RCA_TRANSFORM, dump: Path | None = None) -> dict[str, object]:
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    cases = load_cases(data, crop=64, min_slices=1, max_cases=360, rng=np.random.default_rng([seed, 0]))
    tr, te = split_by_patient([c.patient_id for c in cases], test_fraction=0.25, rng=np.random.default_rng([seed, 1]))
    if split == "validation":
        fit, val = split_by_patient([cases[i].patient_id for i in tr], test_fraction=0.2,
                                    rng=np.random.default_rng([seed, 2]))
        tr, te = tr[fit], tr[val]
    elif split != "test":
        raise ValueError(f"split must be 'test' or 'validation', got {split!r}")
    train_c, test_c = [cases[i] for i in tr], [cases[i] for i in te]
    train_l = [consensus_of(c.raters, "majority") for c in train_c]
    test_l = [consensus_of(c.raters, "majority") for c in test_c]
    seg = train_segmenter(train_c, train_l, replace(SimulationConfig(), iterations=600), seed, torch.device("cpu"))
    x, owner = case_slices(test_c)
    with torch.inference_mode():
        p = foreground_probability(seg(x)).numpy()
    preds = [(q >= 0.5).astype(np.uint8) for q in per_case(p, owner, len(test_c))]
    true = np.array([dice(a, b) for a, b in zip(preds, test_l)])
    log(f"segmenter trained ({time.perf_counter() - t0:.0f}s); test Dice {true.mean():.3f}")
    refs_img, refs_lab, ref_feats = references(train_c, train_l, n_refs, np.random.default_rng([seed, 7]))
    per: list[list[tuple[float, list[float]]]] = []
    for c, pr in zip(test_c, preds):
        img = c.image.astype(np.float32)
        areas = pr.reshape(pr.shape[0], -1).sum(1)
        per.append([(float(areas[z]), rca_predict(img[z], pr[z], refs_img, refs_lab, k=max_k, transform=transform,
                                                   ref_features=ref_feats).dices.tolist())
                    for z in np.nonzero(areas)[0]])
    log(f"RCA with {max_k} references per slice, {transform} ({time.perf_counter() - t0:.0f}s)")
    if dump is not None:
        dump.parent.mkdir(parents=True, exist_ok=True)
        dump.write_text(json.dumps({"true": true.tolist(), "per": per, "split": split, "transform": transform,
                                    "max_k": max_k}))
    return {"bench": "rca_references", "speedup": None, "figures": figures_of(per, true, max_k), "default_k": RCA_K,
            "split": split, "transform": transform, "test_cases": len(test_c), "references": len(refs_img),
            "test_mean_dice": float(true.mean()), "elapsed_s": time.perf_counter() - t0, "threads": threads,
            "torch": torch.__version__}


def figures_of(per: list[list[tuple[float, list[float]]]], true: np.ndarray, max_k: int) -> dict[str, dict[str, float]]:
    """r, MAE and bias of each estimator's case estimates against the true Dice, for each k up to ``max_k``."""
    figures: dict[str, dict[str, float]] = {}
    for k in sorted({1, 3, 5, 10, 20, 30, 40, 60, RCA_K, max_k} & set(range(1, max_k + 1))):
        for how in ESTIMATORS:
            est = np.array([case_estimate(rows, k, how) for rows in per])
            f = figures[f"{how}_k{k}"] = {"r": float(pearsonr(est, true).statistic),
                                          "mae": float(np.abs(est - true).mean()), "bias": float((est - true).mean())}
            log(f"{how:>4} over k={k:>2}: r {f['r']:.3f} MAE {f['mae']:.3f} bias {f['bias']:+.3f}")
    return figures


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_data_path())
    ap.add_argument("--max-k", type=int, default=60)
    ap.add_argument("--refs", type=int, default=300, help="reference slices drawn from the training cases")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--split", choices=["test", "validation"], default="test",
                    help="validation: held-out training patients; the test patients are not touched")
    ap.add_argument("--transform", choices=["rigid", "affine", "bspline"], default=RCA_TRANSFORM)
    ap.add_argument("--dump", type=Path, help="write every slice's per-reference Dice values here (JSON)")
    ap.add_argument("--from-dump", type=Path, help="only summarise a --dump file (no training, no registration)")
    a = ap.parse_args()
    if a.from_dump:
        d = json.loads(a.from_dump.read_text())
        print(json.dumps({"bench": "rca_references", "speedup": None, "split": d["split"], "transform": d["transform"],
                          "test_cases": len(d["true"]),
                          "figures": figures_of(d["per"], np.array(d["true"]), d.get("max_k", 60))}))
        sys.exit(0)
    print(json.dumps(run(data=a.data, max_k=a.max_k, n_refs=a.refs, threads=a.threads, split=a.split,
                         transform=a.transform, dump=a.dump)))
