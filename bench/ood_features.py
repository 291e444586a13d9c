"""Bench: which network features should the OOD distance use? Chosen on validation splits only.

The OOD distance (``learning.quality.ood``) scores a case by how far its features lie from the
training cases'. This bench compares, on VALIDATION patients carved out of the training patients of
``bench/uncertainty.py``'s split (its test patients are never touched), the bottleneck pooled over
space (``learning.nets.bottleneck_features``: the usual choice, ``FeatureOOD``) with every encoder
level's pre-normalisation means (``learning.nets.encoder_statistics`` + ``EnsembleOOD``: Concord's).
Per split it trains the harness's segmenter on the rest of the training patients and reports AUROC
for (a) failed validation cases (Dice < 0.5 against consensus), (b) validation cases rendered by a
synthetic second scanner (``learning.simulation.sites``) against the same cases as acquired, and
(c) failed cases when half the validation patients come from that scanner. Mahalanobis and kNN
after whitened PCA. A quality bench with no time goal: its ``speedup`` is null.

    python bench/ood_features.py [--data PATH] [--splits 3] [--max-cases 360] [--iterations 600]
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
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import log  # noqa: E402

from annotation.metrics.overlap import dice  # noqa: E402
from learning.device import pick_device  # noqa: E402
from learning.quality import EnsembleOOD, FeatureOOD  # noqa: E402
from learning.simulation import SimulationConfig, default_data_path, load_cases, split_by_patient  # noqa: E402
from learning.simulation.harness import (  # noqa: E402
    case_features,
    case_ood_features,
    consensus_of,
    predict_probs,
    train_segmenter,
)
from learning.simulation.sites import SITE_DESIGNS, assign_sites, with_sites  # noqa: E402

METHODS = ("mahalanobis", "knn")
FEATURES = ("bottleneck", "encoder_ensemble")


def case_dice(model, cases, labels, dev) -> np.ndarray:  # noqa: ANN001
    return np.array([dice((p >= 0.5).astype(np.uint8), lab) for p, lab in zip(predict_probs(model, cases, dev), labels)])


def run(*, data: Path, splits: int = 3, max_cases: int = 360, iterations: int = 600, val_fraction: float = 0.3,
        device: str | None = None, threads: int = 1) -> dict[str, object]:
    torch.set_num_threads(threads)
    dev = pick_device(device)
    t0 = time.perf_counter()
    # the same cases and train/test split as bench/uncertainty.py (seed 0); only its training patients here
    cases = load_cases(data, crop=64, min_slices=1, max_cases=max_cases, rng=np.random.default_rng([0, 0]))
    tr, _ = split_by_patient([c.patient_id for c in cases], test_fraction=0.25, rng=np.random.default_rng([0, 1]))
    pool = [cases[i] for i in tr]
    per_split = []
    for s in range(splits):
        a, b = split_by_patient([c.patient_id for c in pool], test_fraction=val_fraction,
                                rng=np.random.default_rng([s, 99]))
        fit_c, val_c = [pool[i] for i in a], [pool[i] for i in b]
        fit_l = [consensus_of(c.raters, "majority") for c in fit_c]
        val_l = [consensus_of(c.raters, "majority") for c in val_c]
        seg = train_segmenter(fit_c, fit_l, replace(SimulationConfig(), iterations=iterations), s, dev)
        sites = assign_sites([c.patient_id for c in val_c], np.random.default_rng([s, 11]))
        val_s = with_sites(val_c, sites, SITE_DESIGNS["new_scanner"], np.random.default_rng([s, 13]))
        is_b = np.array([c.attributes["site"] == "B" for c in val_s])
        tasks = {"failed": (val_c, case_dice(seg, val_c, val_l, dev) < 0.5),
                 "second_scanner": (val_s, is_b),
                 "failed_two_sites": (val_s, case_dice(seg, val_s, val_l, dev) < 0.5)}
        models = {"bottleneck": (FeatureOOD(16, 5).fit(case_features(seg, fit_c, dev)), case_features),
                  "encoder_ensemble": (EnsembleOOD(16, 5).fit(case_ood_features(seg, fit_c, dev)), case_ood_features)}
        res: dict[str, dict[str, dict[str, float]]] = {}
        for task, (task_cases, labels) in tasks.items():
            res[task] = {}
            for name, (ood, feats_of) in models.items():
                f = feats_of(seg, task_cases, dev)
                one_class = not 0 < labels.sum() < len(labels)  # e.g. no validation case failed
                res[task][name] = {m: float("nan") if one_class else float(roc_auc_score(labels, ood.score(f, method=m)))
                                   for m in METHODS}
        per_split.append(res)
        log(f"split {s}: {len(fit_c)} fit / {len(val_c)} validation cases; {json.dumps(res)} "
            f"({time.perf_counter() - t0:.0f}s)")
    summary = {task: {name: {m: float(np.mean([r[task][name][m] for r in per_split])) for m in METHODS}
                      for name in FEATURES} for task in per_split[0]}
    log(f"mean over {splits} splits: {json.dumps(summary)}")
    return {"bench": "ood_features", "speedup": None, "mean_auroc": summary, "per_split": per_split,
            "splits": splits, "iterations": iterations, "max_cases": max_cases,
            "elapsed_s": time.perf_counter() - t0, "device": str(dev), "threads": threads, "torch": torch.__version__}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_data_path())
    ap.add_argument("--splits", type=int, default=3, help="validation splits of the training patients")
    ap.add_argument("--max-cases", type=int, default=360)
    ap.add_argument("--iterations", type=int, default=600, help="segmenter steps")
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    print(json.dumps(run(data=a.data, splits=a.splits, max_cases=a.max_cases, iterations=a.iterations,
                         device=a.device, threads=a.threads)))
