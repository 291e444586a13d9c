"""Bench: PULASki's training settings, judged on validation patients (never the test patients).

Takes ``bench/uncertainty.py``'s split for ``--seed`` (360 LIDC crops, 25% of the patients held out for
test), holds out 20% of the *training* patients again, trains PULASki on the rest with the given
settings (``--distance`` sinkhorn or hausdorff, or focal_tversky for the probabilistic U-Net
baseline; KL weight ``--beta``, the divergence's ``--blur``,
``--latent-dim``, ``--iterations``, ``--prior-weight``; and the prior's sampling temperature,
``--temperatures``, the latent drawn as mu + T sigma eps) on every reader's masks (``Case.readers``),
and reports on the held-out training patients the figures of ``bench/uncertainty.py``: GED per outlined
slice against all readers, Hungarian IoU, and how often a sample is non-empty on slices that j of the
readers outlined (ideal j / 4). A choice made here can then be reported once on the test patients. A
tuning aid with no time goal: its ``speedup`` is null.

    python bench/pulaski_tuning.py --seed 0 [--beta 1] [--blur 2] [--latent-dim 6] [--iterations 1500]
        [--temperatures 1,0.5] [--channels 16,32,64,128] [--extra-train] [--lr-schedule cosine]
        [--batch-size 8] [--res-units 1] [--ema-decay 0.999] [--distance hausdorff] [--dims 3 --patch 8,64,64]

With ``--dims 3`` both nets train on 3D patches (``learning.data.training_patches``, as ``bench/uncertainty.py
--prob-dims 3``) and each validation case is sampled as one block; the 3D-case GED and Hungarian IoU (each
sample a whole crop against the case's non-empty raters) are reported beside the slice figures.
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
from bench.uncertainty import (  # noqa: E402
    all_readers,
    case_figures,
    per_case,
    prob_net_for,
    prob_samples,
    prob_training_items,
    slice_figures,
)

from learning.nets.prob_unet import (  # noqa: E402
    ProbTrainConfig,
    ProbUNetConfig,
    binarise_samples,
    train_prob_unet,
)
from learning.simulation import default_data_path, load_cases, split_by_patient  # noqa: E402
from learning.simulation.harness import case_slices  # noqa: E402


def run(*, data: Path, seed: int, beta: float, blur: float, latent_dim: int, iterations: int,
        prior_weight: float = 0.0, temperatures: tuple[float, ...] = (1.0,), n_samples: int = 16, threads: int = 1,
        channels: tuple[int, ...] = (8, 16, 32), extra_train: bool = False, lr_schedule: str = "constant",
        batch_size: int = 8, res_units: int = 1, ema_decay: float = 0.0,
        distance: str = "sinkhorn", dims: int = 2, patch: tuple[int, int, int] = (8, 64, 64),
        output_prior: float | None = None, lr: float = 1e-3, warmup: int = 0,
        train_seed: int | None = None, restarts: int = 0) -> dict[str, object]:
    if dims == 3 and temperatures != (1.0,):
        raise ValueError("--temperatures other than 1 need --dims 2: a 3D net is sampled at temperature 1")
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    cases = load_cases(data, crop=64, min_slices=1, max_cases=360, rng=np.random.default_rng([seed, 0]))
    tr, te = split_by_patient([c.patient_id for c in cases], test_fraction=0.25, rng=np.random.default_rng([seed, 1]))
    fit, val = split_by_patient([cases[i].patient_id for i in tr], test_fraction=0.2, rng=np.random.default_rng([seed, 2]))
    fit_c, val_c = [cases[i] for i in tr[fit]], [cases[i] for i in tr[val]]
    if extra_train:  # the crops outside the bench's 360 whose patients are neither validation nor test patients
        held = {cases[i].patient_id for i in te} | {c.patient_id for c in val_c}
        pool = {c.case_id for c in cases}
        fit_c += [c for c in load_cases(data, crop=64, min_slices=1)
                  if c.case_id not in pool and c.patient_id not in held]
    xtr, rtr = prob_training_items(fit_c, [c.readers(4) for c in fit_c], dims=dims, patch=patch, seed=seed)
    net = prob_net_for(distance, ProbUNetConfig(spatial_dims=dims, channels=channels, strides=(2,) * (len(channels) - 1),
                                                features=8, latent_dim=latent_dim, num_res_units=res_units))
    if output_prior is not None:
        net = replace(net, output_prior=output_prior)
    train_seed = seed if train_seed is None else train_seed  # weights, batches, flips, latents; split stays --seed
    cfg = ProbTrainConfig(loss=distance, iterations=iterations, batch_size=batch_size, seed=train_seed, beta=beta,
                          blur=blur, prior_weight=prior_weight, lr=lr, lr_schedule=lr_schedule, ema_decay=ema_decay,
                          warmup_iterations=warmup, restarts=restarts, net=net)
    trace: list[dict[str, float]] = []

    def progress(fraction: float, info: dict[str, float]) -> None:  # every 50 steps: shows a collapse as it happens
        trace.append({"step": round(fraction * iterations), **{k: round(float(v), 4) for k, v in info.items()}})
        log(f"step {trace[-1]['step']}: " + " ".join(f"{k} {v:.3f}" for k, v in info.items()))

    res = train_prob_unet(cfg, xtr, rtr, device=torch.device("cpu"), progress=progress)
    model = res.model.eval()
    kind = "baseline" if distance == "focal_tversky" else "PULASki"
    log(f"{kind} ({distance}) trained on {len(fit_c)} cases in {res.elapsed_s:.0f}s "
        f"in {dims}D on {len(xtr)} items of shape {xtr.shape[2:]} (beta {beta}, blur {blur}, latent {latent_dim}, "
        f"output prior {net.output_prior}; {res.restarts} collapsed run(s) discarded)")
    x, owner = case_slices(val_c)
    n = len(val_c)
    readers = all_readers(val_c, 4)
    figures = {}
    for t in temperatures:
        gen = torch.Generator().manual_seed(seed)
        s = prob_samples(model, x, owner, n_samples, gen, temperature=t)
        sb = np.concatenate([binarise_samples(c, slice_wise=dims == 2) for c in per_case(s, owner, n, axis=1)], axis=1)
        f = figures[str(t)] = slice_figures(sb, readers)
        # raw sample probabilities: a collapsed net has every voxel far below 0.5, not just near it
        f["mean_prob"], f["max_prob"] = float(np.mean(s)), float(np.max(s))
        cf = case_figures(sb, owner, val_c)
        f["ged_cases"], f["hungarian_iou_cases"] = cf["ged"], cf["hungarian_iou"]
        shape = "n/a (every sample empty)" if f["shape_iou_nonempty"] is None else f"{f['shape_iou_nonempty']:.3f}"
        log(f"validation, T {t}: GED {f['ged_slices']:.3f} HIoU {f['hungarian_iou_slices']:.3f} on {f['slices']} "
            f"slices; 3D cases GED {f['ged_cases']:.3f} HIoU {f['hungarian_iou_cases']:.3f}; "
            f"non-empty by readers {f['nonempty_by_readers']}; shape IoU of non-empty samples {shape}; "
            f"sample probability mean {f['mean_prob']:.4f} max {f['max_prob']:.3f}")
    return {"bench": "pulaski_tuning", "speedup": None, "seed": seed, "beta": beta, "blur": blur,
            "prior_weight": prior_weight,
            "latent_dim": latent_dim, "iterations": iterations, "channels": list(channels),
            "extra_train": extra_train, "lr_schedule": lr_schedule, "batch_size": batch_size,
            "res_units": res_units, "ema_decay": ema_decay, "distance": distance, "dims": dims,
            "patch": list(patch) if dims == 3 else None, "output_prior": net.output_prior, "lr": lr,
            "warmup": warmup, "train_seed": train_seed, "restarts": restarts, "restarts_used": res.restarts,
            "train_presence": res.train_presence,
            "fit_cases": len(fit_c),
            "validation_cases": n, "loss_trace": trace,
            "by_temperature": figures, "elapsed_s": time.perf_counter() - t0}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_data_path())
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--beta", type=float, default=1.0)
    ap.add_argument("--blur", type=float, default=2.0)
    ap.add_argument("--latent-dim", type=int, default=6)
    ap.add_argument("--iterations", type=int, default=1500)
    ap.add_argument("--prior-weight", type=float, default=0.0, help="PULASki's distance on prior samples too")
    ap.add_argument("--temperatures", default="1", help="comma-separated prior sampling temperatures")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--samples", type=int, default=16,
                    help="samples per slice (16: the figures recorded in RESULTS; bench/uncertainty.py draws 50, as PHiSeg)")
    ap.add_argument("--channels", default="8,16,32", help="U-Net and encoder widths per level")
    ap.add_argument("--extra-train", action="store_true",
                    help="also train on the crops outside the bench's 360 whose patients are not held out")
    ap.add_argument("--warmup", type=int, default=0,
                    help="first N of --iterations on the baseline's Focal-Tversky + KL (warmup_iterations)")
    ap.add_argument("--train-seed", type=int, default=None,
                    help="seed of the weights and batches (default --seed); the patient split stays --seed's")
    ap.add_argument("--restarts", type=int, default=0,
                    help="retrain from seed + 1, ... while the net is collapsed on its training items (restarts)")
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    ap.add_argument("--lr-schedule", choices=("constant", "cosine"), default="constant")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--res-units", type=int, default=1, help="residual units per U-Net block")
    ap.add_argument("--ema-decay", type=float, default=0.0,
                    help="return a moving average of the weights (0: the last step's, as published)")
    ap.add_argument("--distance", choices=("sinkhorn", "hausdorff", "focal_tversky"), default="sinkhorn",
                    help="PULASki's statistical distance between samples and raters, or focal_tversky: the "
                         "probabilistic U-Net baseline (one rater per item)")
    ap.add_argument("--dims", type=int, choices=(2, 3), default=2, help="2D slices or 3D patches")
    ap.add_argument("--patch", default="8,64,64", help="3D training patch z,y,x (with --dims 3)")
    ap.add_argument("--output-prior", type=float, default=None,
                    help="foreground probability fcomb's output starts at (default: the bench's, 0.02 for "
                         "PULASki, 0.5 for the baseline)")
    a = ap.parse_args()
    print(json.dumps(run(data=a.data, seed=a.seed, beta=a.beta, blur=a.blur, latent_dim=a.latent_dim,
                         iterations=a.iterations, threads=a.threads, prior_weight=a.prior_weight, n_samples=a.samples,
                         temperatures=tuple(float(t) for t in a.temperatures.split(",")),
                         channels=tuple(int(c) for c in a.channels.split(",")), extra_train=a.extra_train,
                         lr_schedule=a.lr_schedule, batch_size=a.batch_size, res_units=a.res_units, ema_decay=a.ema_decay,
                         distance=a.distance, dims=a.dims, patch=tuple(int(c) for c in a.patch.split(",")),
                         output_prior=a.output_prior, lr=a.lr,
                         warmup=a.warmup, train_seed=a.train_seed, restarts=a.restarts)))
