"""Bench: do Concord's uncertainty and quality estimates track real errors on LIDC, and what do they cost?

On LIDC nodule crops (centre 64x64, 2D slices as samples, split by patient), trains a MONAI U-Net
segmenter (learning.train, dropout 0.1), PULASki (Sinkhorn, or ``--pulaski-distance hausdorff``) and the
Focal-Tversky probabilistic U-Net baseline (2D on slices, or with ``--prob-dims 3`` on 3D patches, each
test case sampled whole), and a shape DAE. The two probabilistic U-Nets are 4 levels deep
(``--prob-channels 16,32,64,128``) and train on every crop whose patient is not a test patient
(``--prob-extra-train``, default on; the other models keep the ``--max-cases`` pool): both chosen on
validation patients (``bench/pulaski_tuning.py``), both applied to PULASki and its baseline alike; the
baseline's KL weight (``--baseline-beta``) was chosen there too.
Then on TEST patients it reports:
  - GED (D^2, d = 1 - IoU, d(empty, empty) = 0) and Hungarian-matched IoU between ``--samples`` samples
    (50, as PHiSeg's LIDC evaluation draws; GED is a mean over all pairs, self-pairs included, so it falls
    as samples are added, and the slice GED of the first 16 is reported too, ``*_16_samples``) and the
    case's non-empty rater masks (3D per case), for PULASki and the baseline; and the same per 2D slice
    with any rater's foreground against all four readers' masks, empty ones included (the convention
    of the published LIDC figures). Samples are binarised at 0.5 without specks smaller than
    ``MIN_COMPONENT`` voxels (``binarise_samples``, as the platform does); the slice GED with the
    threshold alone is reported too (``*_raw``);
  - Spearman correlation of each case-level uncertainty with the segmenter's error (1 - Dice vs the
    majority consensus): PULASki voxel variance and sample diversity, anatomical (DAE) deviation,
    MC-dropout entropy (5 passes), flip-TTA variance, each aggregated as mean and as fg_ratio;
  - RCA predicted vs true Dice (Pearson r, MAE), 2D per-slice registration (affine, Mattes MI by default)
    to k = 60 references (``learning.quality.RCA_K``), the estimate the mean of the top 5% of their
    Dice values (``rca_estimate``);
  - a synthetic-bias experiment: segmenters trained on ONE subgroup only; the bias audit on RCA-estimated
    Dice predicts the sign of the true ΔDSC. Subgroups: LIDC's own attributes (contrast / no contrast,
    thin / thick slices; their true gaps are tiny) and two synthetic sites (half the patients each, their
    images rendered by two protocols that compress opposite ends of the intensity range,
    ``learning.simulation.sites``, ``--bias-site-design``), trained on each site ``--site-repeats`` times;
  - OOD AUROC (Mahalanobis and kNN after PCA) for detecting failed cases (Dice < 0.5), for detecting
    the synthetic site's cases (the usual OOD setting: a shift in acquisition) and for detecting failures
    among test cases seen at both sites; Concord's features (every encoder level's pre-normalisation
    means, ``learning.quality.EnsembleOOD``) beside the bottleneck alone;
  - each uncertainty's cost relative to one forward pass (median of repeats), every method run over
    the test slices in the same batches (``--infer-batch``).
The LAST stdout line is one JSON object; ``speedup`` = (MC-dropout cost / one pass) / (anatomical cost
/ one pass). ``--skip-rca`` leaves out the RCA and synthetic-bias parts (CPU registration with SimpleITK,
which it then need not import) and reports their figures as null. Costs on CUDA wait for the device.

    python bench/uncertainty.py [--data PATH] [--max-cases 360] [--seg-iterations 600] [--prob-iterations 1500]
                                [--skip-rca] [--prob-dims 3] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import log  # noqa: E402

from annotation.metrics.ged import ged, hungarian_iou, pairwise_iou_matrix  # noqa: E402
from annotation.metrics.overlap import dice  # noqa: E402
from learning.data import training_patches  # noqa: E402
from learning.device import pick_device  # noqa: E402
from learning.nets.prob_unet import (  # noqa: E402
    ProbTrainConfig,
    ProbUNetConfig,
    sample,
    binarise_samples,
    sample_volume,
    summarise_samples,
    train_prob_unet,
)
from learning.nets.shape_dae import ShapeDAEConfig, train_shape_dae  # noqa: E402
from learning.quality import (  # noqa: E402
    RCA_K,
    RCA_METRIC,
    RCA_TRANSFORM,
    EnsembleOOD,
    FeatureOOD,
    bias_audit,
    image_features,
    rca_case_slices,
)
from learning.simulation import SimulationConfig, default_data_path, load_cases, split_by_patient  # noqa: E402
from learning.simulation.sites import SITE_DESIGNS, assign_sites, with_sites  # noqa: E402
from learning.simulation.harness import (  # noqa: E402
    case_features,
    case_ood_features,
    case_slices,
    consensus_of,
    predict_probs,
    train_segmenter,
)
from learning.uncertainty import (  # noqa: E402
    aggregate,
    anatomical_uncertainty,
    foreground_probability,
    mc_dropout_probs,
    predictive_entropy,
    tta_probs,
)

DEFAULT_DATA = default_data_path()


def per_case(a: np.ndarray, owner: np.ndarray, n: int, axis: int = 0) -> list[np.ndarray]:
    return [np.take(a, np.nonzero(owner == i)[0], axis=axis) for i in range(n)]


def batched(fn, x: torch.Tensor, batch: int):
    """``fn`` over ``x`` in batches of ``batch`` slices (how inference runs: cache-sized batches)."""

    def call() -> None:
        for i in range(0, len(x), batch):
            fn(x[i : i + batch])

    return call


def timed_interleaved(fns: dict, repeats: int, device: torch.device) -> dict[str, float]:
    """Median wall time of each function, the functions called in turn in every repeat (after one
    warm-up round); on CUDA each call is waited for."""

    def call(fn) -> float:
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - t

    for fn in fns.values():
        call(fn)  # warm-up
    ts: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            ts[k].append(call(fn))
    return {k: float(np.median(v)) for k, v in ts.items()}


def prob_samples(model, x: torch.Tensor, owner: np.ndarray, n: int, generator: torch.Generator,
                 temperature: float = 1.0) -> np.ndarray:
    """``(n, S, Y, X)`` sample probabilities over the test slices ``x`` ``(S, 1, Y, X)``: by batches of
    slices for a 2D net (the prior's latents at ``temperature``, a tuning aid); for a 3D net each case as
    one block (``sample_volume``, never cut, temperature 1), one latent draw per sample for the whole case."""
    if model.config.spatial_dims == 2:
        return sample(model, x, n, generator=generator, temperature=temperature).cpu().numpy()
    if temperature != 1.0:
        raise ValueError(f"temperature {temperature}: a 3D net is sampled at temperature 1")
    blocks = [x[owner == i, 0].cpu().numpy() for i in range(int(owner.max()) + 1)]
    return np.concatenate([sample_volume(model, b, n, generator=generator, device=x.device, max_voxels=sys.maxsize)
                           for b in blocks], axis=1)


def over_seeds(runs: list[dict]) -> dict[str, object]:
    """Mean and sd over seeds of the headline figures; PULASki's wins over its baseline (lower GED)."""
    def pick(r: dict, path: str):
        for k in path.split("."):
            r = r.get(k) if isinstance(r, dict) else None
        return r

    paths = ["ged_pulaski", "ged_baseline", "ged_pulaski_slices", "ged_baseline_slices",
             "ged_pulaski_slices_raw", "ged_baseline_slices_raw",
             "ged_pulaski_slices_16_samples", "ged_baseline_slices_16_samples",
             "hungarian_iou_pulaski_slices", "hungarian_iou_baseline_slices", "best_spearman",
             "spearman.tta_variance.fg_ratio", "spearman.mc_entropy.fg_ratio", "rca_pearson_r", "rca_mae",
             "bias_sign_accuracy", "bias_sign_accuracy_significant_true_gaps", "ood_auroc.knn", "ood_auroc.mahalanobis", "ood_auroc_bottleneck.knn",
             "ood_auroc_site_shift.knn", "ood_auroc_site_shift.mahalanobis", "ood_auroc_site_shift_bottleneck.knn",
             "ood_auroc_failed_two_sites.knn", "ood_auroc_failed_two_sites_bottleneck.knn",
             "cost_rel_forward.anatomical", "cost_rel_forward.pulaski_8_vs_prob_forward", "test_mean_dice"]
    out: dict[str, object] = {}
    for path in paths:
        v = [pick(r, path) for r in runs]
        if all(isinstance(x, int | float) for x in v):
            out[path] = {"mean": float(np.mean(v)), "sd": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0}
    for kind in ("", "_slices"):
        out[f"pulaski_better{kind}"] = sum(r[f"ged_pulaski{kind}"] < r[f"ged_baseline{kind}"] for r in runs)
    out["n"] = len(runs)
    return out


def references(cases, labels, n_refs: int, rng: np.random.Generator) -> tuple[list, list, np.ndarray]:
    """RCA reference atlas: up to ``n_refs`` random labelled slices (image, consensus) and their features."""
    idx = [(i, z) for i, lab in enumerate(labels) for z in range(lab.shape[0]) if lab[z].any()]
    pick = rng.choice(len(idx), size=min(n_refs, len(idx)), replace=False)
    imgs = [cases[idx[j][0]].image[idx[j][1]].astype(np.float32) for j in pick]
    labs = [labels[idx[j][0]][idx[j][1]] for j in pick]
    return imgs, labs, np.stack([image_features(r) for r in imgs])


def all_readers(cases, n_readers: int) -> np.ndarray:
    """``(n_readers, S, Y, X)`` uint8: every reader's mask on every slice of ``cases``, the LIDC papers'
    convention for GED (Kohl et al. 2018, PHiSeg): a reader who did not outline the nodule is an empty
    mask, and so is each reader a case has fewer than ``n_readers``."""
    return np.concatenate([
        np.concatenate([r := c.readers(), np.zeros((n_readers - len(r), *r.shape[1:]), np.uint8)]) for c in cases
    ], axis=1)


def slice_figures(sb: np.ndarray, readers: np.ndarray) -> dict[str, object]:
    """Binary samples ``sb (n, S, Y, X)`` against ``readers (R, S, Y, X)`` on every slice that any reader
    outlined: mean GED, mean Hungarian IoU, and presence calibration: on the slices that j readers
    outlined, how often a sample is non-empty (ideal j / R: a model of the readers outlines as often
    as they do)."""
    outlined = np.flatnonzero(readers.any(axis=(0, 2, 3)))
    g = [ged(sb[:, z:z + 1], readers[:, z:z + 1]) for z in outlined]
    h = [hungarian_iou(sb[:, z:z + 1], readers[:, z:z + 1]) for z in outlined]
    n_out = readers[:, outlined].any(axis=(2, 3)).sum(0)
    nonempty = sb[:, outlined].any(axis=(2, 3)).mean(0)
    presence = {str(j): float(nonempty[n_out == j].mean()) for j in range(1, len(readers) + 1) if (n_out == j).any()}
    shape = []  # each non-empty sample's IoU with the non-empty reader it matches best
    for z in outlined:
        s_ne, r_ne = sb[:, z][sb[:, z].any(axis=(1, 2))], readers[:, z][readers[:, z].any(axis=(1, 2))]
        if len(s_ne):
            shape.extend(pairwise_iou_matrix(s_ne, r_ne).max(axis=1))
    return {"ged_slices": float(np.mean(g)), "hungarian_iou_slices": float(np.mean(h)),
            "nonempty_by_readers": presence, "shape_iou_nonempty": float(np.mean(shape)) if shape else None,
            "slices": len(outlined)}


_RCA_REFS: dict = {}


def _rca_init(refs: dict) -> None:
    """A pool worker's state: the reference atlas (sent once per worker, not once per case); one
    SimpleITK thread, since the cases run in parallel and a 64 x 64 registration gains nothing from two."""
    import SimpleITK as sitk

    sitk.ProcessObject_SetGlobalDefaultNumberOfThreads(1)
    _RCA_REFS.clear()
    _RCA_REFS.update(refs)


def _rca_case(job: tuple[np.ndarray, np.ndarray]) -> float:
    r = _RCA_REFS
    return rca_case_slices(job[0], job[1], r["img"], r["lab"], ref_features=r["feats"], k=r["k"], **r["registration"])


def rca_dice(cases, preds, refs_img, refs_lab, ref_feats, k: int, *, workers: int = 1, **registration) -> np.ndarray:
    """Each case's RCA estimate (``rca_case_slices``), over ``workers`` processes (the platform scores
    cases in parallel too, through Dask)."""
    refs = {"img": refs_img, "lab": refs_lab, "feats": ref_feats, "k": k, "registration": registration}
    jobs = [(c.image.astype(np.float32), p) for c, p in zip(cases, preds)]
    if workers <= 1:
        _rca_init(refs)
        return np.array([_rca_case(j) for j in jobs])
    with ProcessPoolExecutor(workers, mp_context=get_context("fork"), initializer=_rca_init, initargs=(refs,)) as ex:
        return np.array(list(ex.map(_rca_case, jobs)))


def prob_training_items(cases, readers: list[np.ndarray], *, dims: int, patch: tuple[int, int, int],
                        seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The probabilistic U-Nets' training items from ``cases`` and their ``(4, Z, Y, X)`` ``readers``: in
    2D every slice, ``(S, 1, Y, X)`` float32 with ``(S, 4, Y, X)`` uint8 masks; in 3D ``patch``-sized
    patches, half centred on a reader's foreground (what the platform's 3D PULASki trains on)."""
    x, owner = case_slices(cases)
    x = x.numpy()
    if dims == 2:
        return x, np.concatenate([r.transpose(1, 0, 2, 3) for r in readers]).astype(np.uint8)
    return training_patches([x[owner == i, 0] for i in range(len(cases))], readers, patch=patch, n_raters=4,
                            rng=np.random.default_rng([seed, 3]))


def case_figures(sb: np.ndarray, owner: np.ndarray, cases) -> dict[str, float]:
    """Binary samples ``sb (n, S, Y, X)`` over the slices of ``cases`` (``owner``: each slice's case), each
    sample a whole crop: mean GED and Hungarian IoU against each case's non-empty raters."""
    per = per_case(sb, owner, len(cases), axis=1)
    return {"ged": float(np.mean([ged(ss, c.raters) for ss, c in zip(per, cases)])),
            "hungarian_iou": float(np.mean([hungarian_iou(ss, c.raters) for ss, c in zip(per, cases)]))}


def prob_net_for(loss: str, net: ProbUNetConfig) -> ProbUNetConfig:
    """The net a probabilistic U-Net trained with ``loss`` starts from. PULASki's summed transport cost
    needs fcomb's output to start at a 0.02 foreground prior (at 0.5 it collapses to empty masks);
    Focal-Tversky starves at 0.02 and trains from 0.5 (both found on this data; bench/RESULTS-learning.md)."""
    return net if loss != "focal_tversky" else replace(net, output_prior=0.5)


def run(
    *,
    data: Path = DEFAULT_DATA,
    max_cases: int = 360,
    seg_iterations: int = 600,
    prob_iterations: int = 1500,
    dae_iterations: int = 300,
    dae_seeds: int = 3,
    prob_channels: tuple[int, ...] = (16, 32, 64, 128),
    prob_extra_train: bool = True,
    prob_features: int = 8,
    pulaski_distance: str = "sinkhorn",
    baseline_beta: float = 128.0,
    prob_dims: int = 2,
    prob_patch: tuple[int, int, int] = (8, 64, 64),
    bias_iterations: int = 400,
    n_samples: int = 50,
    rca_k: int = RCA_K,
    bias_rca_k: int = 5,
    rca_transform: str = RCA_TRANSFORM,
    rca_metric: str = RCA_METRIC,
    n_refs: int = 300,
    repeats: int = 5,
    seed: int = 0,
    device: str | None = None,
    threads: int = 1,
    rca_workers: int = 1,
    skip_rca: bool = False,
    infer_batch: int = 64,
    site_repeats: int = 2,
    bias_site_design: str = "two_protocols",
    missing_readers: str = "empty",
) -> dict[str, object]:
    torch.set_num_threads(threads)
    dev = pick_device(device)
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    cases = load_cases(data, crop=64, min_slices=1, max_cases=max_cases, rng=np.random.default_rng([seed, 0]))
    tr, te = split_by_patient([c.patient_id for c in cases], test_fraction=0.25, rng=np.random.default_rng([seed, 1]))
    train_c, test_c = [cases[i] for i in tr], [cases[i] for i in te]
    train_l = [consensus_of(c.raters, "majority") for c in train_c]
    test_l = [consensus_of(c.raters, "majority") for c in test_c]
    log(f"{len(cases)} cases: {len(train_c)} train, {len(test_c)} test ({time.perf_counter() - t0:.0f}s)")

    # ---- models
    cfg = replace(SimulationConfig(), iterations=seg_iterations)
    seg = train_segmenter(train_c, train_l, cfg, seed, dev)
    log(f"segmenter trained ({time.perf_counter() - t0:.0f}s)")

    def train_readers(c) -> np.ndarray:  # (4, Z, Y, X): the probabilistic U-Nets' targets
        return c.readers(4) if missing_readers == "empty" else c.raters[np.arange(4) % len(c.raters)]

    prob_c = train_c
    if prob_extra_train:  # the crops outside the pool whose patients are not test patients
        held, pool = {c.patient_id for c in test_c}, {c.case_id for c in cases}
        prob_c = train_c + [c for c in load_cases(data, crop=64, min_slices=1)
                            if c.case_id not in pool and c.patient_id not in held]
    xtr, rtr = prob_training_items(prob_c, [train_readers(c) for c in prob_c], dims=prob_dims, patch=prob_patch,
                                   seed=seed)
    log(f"probabilistic U-Nets train in {prob_dims}D on {len(xtr)} items of shape {xtr.shape[2:]} "
        f"from {len(prob_c)} cases")
    net = ProbUNetConfig(spatial_dims=prob_dims, channels=prob_channels, strides=(2,) * (len(prob_channels) - 1),
                         features=prob_features)
    prob = {}
    pk = pulaski_distance  # the key of PULASki's net and figures below
    for loss in (pk, "focal_tversky"):
        # the baseline's KL weight was chosen on validation patients (bench/pulaski_tuning.py): at 1, the
        # earlier value, the posterior drifts from the prior, whose samples decoded to specks on 2 of 3 seeds
        pc = ProbTrainConfig(loss=loss, iterations=prob_iterations, batch_size=8, seed=seed,
                             net=prob_net_for(loss, net),
                             beta=baseline_beta if loss == "focal_tversky" else 1.0)
        res = train_prob_unet(pc, xtr, rtr, device=dev,
                              progress=lambda f, d, n=loss: log(f"  {n} {f:.0%} loss {d['loss']:.3f}"))
        prob[loss] = res.model.to(dev).eval()
        log(f"{loss} prob U-Net trained in {res.elapsed_s:.0f}s")
    cons_slices = np.concatenate(train_l).astype(np.uint8)
    # several DAE seeds: on this data the anatomical score's correlation with error depends strongly on
    # the DAE's seed, so one seed would be a trend read from one draw; the first DAE is the one timed
    daes = [train_shape_dae(cons_slices, config=ShapeDAEConfig(spatial_dims=2), iterations=dae_iterations,
                            rng=np.random.default_rng([seed, 5 + j]), device=dev).to(dev) for j in range(dae_seeds)]
    dae = daes[0]
    log(f"{dae_seeds} shape DAE(s) trained ({time.perf_counter() - t0:.0f}s)")

    # ---- test predictions and uncertainties
    x, owner = case_slices(test_c)
    xd = x.to(dev)
    n = len(test_c)
    with torch.inference_mode():
        p = foreground_probability(seg(xd)).cpu().numpy()
    mc = mc_dropout_probs(seg, xd, n=5, seed=seed).cpu().numpy()
    tta = tta_probs(seg, xd).cpu().numpy()
    anat_maps = [anatomical_uncertainty(p, d, device=dev) for d in daes]  # the DAEs' one extra pass each
    gen = torch.Generator().manual_seed(seed)
    samples = {k: prob_samples(m, xd, owner, n_samples, gen) for k, m in prob.items()}
    probs_case = per_case(p, owner, n)
    preds = [(q >= 0.5).astype(np.uint8) for q in probs_case]
    true_dice = np.array([dice(pr, lab) for pr, lab in zip(preds, test_l)])
    err = 1.0 - true_dice

    # the LIDC papers' convention (Kohl et al. 2018, PHiSeg): 2D slices with any rater's foreground, all
    # four readers' masks including the empty ones (a reader who did not outline the nodule)
    n_readers = max(c.reader_count for c in cases)
    readers = all_readers(test_c, n_readers)
    outlined = np.flatnonzero(readers.any(axis=(0, 2, 3)))
    # both models' samples binarised alike: threshold 0.5, specks under MIN_COMPONENT voxels removed (per
    # slice for a 2D net, per case block for a 3D net); the raw GED (threshold only) is reported beside
    binary = {k: np.concatenate([binarise_samples(c, slice_wise=prob_dims == 2) for c in per_case(s, owner, n, axis=1)],
                                axis=1) for k, s in samples.items()}
    ged_res = {}
    for k, sb in binary.items():
        cf = case_figures(sb, owner, test_c)
        sf = slice_figures(sb, readers)
        raw = binarise_samples(samples[k], min_size=0)  # the threshold alone
        g2_raw = [ged(raw[:, z:z + 1], readers[:, z:z + 1]) for z in outlined]
        ged_res[k] = {**cf,
                      "ged_slices": sf["ged_slices"], "hungarian_iou_slices": sf["hungarian_iou_slices"],
                      "ged_slices_raw": float(np.mean(g2_raw)), "nonempty_by_readers": sf["nonempty_by_readers"],
                      "shape_iou_nonempty": sf["shape_iou_nonempty"],
                      # GED is a mean over all pairs, each sample with itself too (d = 0), so it falls as
                      # samples are added (Kohl et al. 2018, Fig. 3): the figure at 16 samples beside any other
                      "ged_slices_16_samples": slice_figures(sb[:16], readers)["ged_slices"]}
        log(f"{k}: non-empty samples on slices outlined by j of {n_readers} readers: "
            + ", ".join(f"j={j} {v:.2f}" for j, v in sf["nonempty_by_readers"].items()))
        log(f"{k}: GED {cf['ged']:.3f} Hungarian IoU {cf['hungarian_iou']:.3f} (3D cases, non-empty raters); "
            f"per outlined slice, all {n_readers} readers: GED {sf['ged_slices']:.3f} "
            f"Hungarian IoU {sf['hungarian_iou_slices']:.3f} "
            f"({len(outlined)} slices; GED {np.mean(g2_raw):.3f} without removing specks)")

    maps = {
        "mc_entropy": predictive_entropy(mc),
        "tta_variance": tta.var(0),
        "anatomical": anat_maps[0],
        "pulaski_variance": binary[pk].astype(np.float32).var(0),
    }

    def spearman_with_error(voxel_map: np.ndarray) -> dict[str, float]:
        """Spearman(case score, 1 - Dice) of a per-slice voxel map, per case aggregation."""
        mcase = per_case(voxel_map, owner, n)
        return {how: float(spearmanr([aggregate(u, how=how, foreground=q) for u, q in zip(mcase, probs_case)],
                                     err).statistic) for how in ("mean", "fg_ratio")}

    corr: dict[str, dict[str, float]] = {name: spearman_with_error(m) for name, m in maps.items()}
    anat_seeds = [spearman_with_error(m) for m in anat_maps]
    log(f"anatomical Spearman per DAE seed: {anat_seeds}")
    ps = per_case(binary[pk], owner, n, axis=1)
    div = np.array([summarise_samples(s, min_size=0).ged for s in ps])  # already binarised
    corr["pulaski_sample_diversity"] = {"mean": float(spearmanr(div, err).statistic)}
    for name, d in corr.items():
        log(f"Spearman(uncertainty, 1 - Dice) {name}: {d}")

    # ---- costs relative to one forward pass, every method over the same batches of test slices
    def fwd(xb):
        with torch.inference_mode():
            return foreground_probability(seg(xb))

    def prob_fwd(xb):
        with torch.inference_mode():
            prob[pk](xb)

    # interleaved: each repeat times every method once, so a drift in the machine's speed (other jobs,
    # clocks) hits all of them alike; medians per method
    methods = {
        "forward": fwd,
        "mc_dropout_5": lambda xb: mc_dropout_probs(seg, xb, n=5),
        "tta_4": lambda xb: tta_probs(seg, xb),
        "anatomical": lambda xb: anatomical_uncertainty(fwd(xb), dae, device=dev),
    }
    if prob_dims == 2:  # a 3D net takes whole cases, not batches of slices: its cost is not comparable
        methods |= {"prob_forward": prob_fwd, "pulaski_8": lambda xb: sample(prob[pk], xb, 8)}
    t = timed_interleaved({k: batched(f, xd, infer_batch) for k, f in methods.items()}, repeats, dev)
    costs = {
        "forward_s": t["forward"],
        "infer_batch": infer_batch,
        "mc_dropout_5": t["mc_dropout_5"] / t["forward"],
        "tta_4": t["tta_4"] / t["forward"],
        "anatomical": t["anatomical"] / t["forward"],
        "pulaski_8_vs_prob_forward": t["pulaski_8"] / t["prob_forward"] if prob_dims == 2 else None,
        "pulaski_8_vs_segmenter_forward": t["pulaski_8"] / t["forward"] if prob_dims == 2 else None,
    }
    log(f"costs: {costs}")

    # ---- RCA (CPU registration; left out, with the bias audit that uses it, by skip_rca)
    rca_r: float | None = None
    rca_mae: float | None = None
    rca_s_per_case: float | None = None
    rca_kw = {"k": rca_k, "transform": rca_transform, "metric": rca_metric, "workers": rca_workers}
    if skip_rca:
        log("RCA and synthetic-bias audit skipped (--skip-rca)")
    else:
        refs = references(train_c, train_l, n_refs, rng)
        t_rca = time.perf_counter()
        rca = rca_dice(test_c, preds, *refs, **rca_kw)
        rca_s = time.perf_counter() - t_rca
        rca_r = float(pearsonr(rca, true_dice).statistic)
        rca_mae = float(np.mean(np.abs(rca - true_dice)))
        rca_s_per_case = rca_s / n
        log(f"RCA: r {rca_r:.3f} MAE {rca_mae:.3f} ({rca_s:.0f}s for {n} cases)")

    # ---- OOD for failure detection: Concord's ensemble over every encoder level's pre-normalisation
    # statistics (learning.quality.EnsembleOOD), beside the bottleneck alone (the usual choice)
    fail = true_dice < 0.5
    ood = EnsembleOOD(n_components=16, k=5).fit(case_ood_features(seg, train_c, dev))
    ood_b = FeatureOOD(n_components=16, k=5).fit(case_features(seg, train_c, dev))
    fte, fte_b = case_ood_features(seg, test_c, dev), case_features(seg, test_c, dev)

    def aurocs(labels: np.ndarray, feats, feats_b) -> tuple[dict[str, float], dict[str, float]]:
        if not 0 < labels.sum() < len(labels):
            nan = {m: float("nan") for m in ("mahalanobis", "knn")}
            return nan, dict(nan)
        return ({m: float(roc_auc_score(labels, ood.score(feats, method=m))) for m in ("mahalanobis", "knn")},
                {m: float(roc_auc_score(labels, ood_b.score(feats_b, method=m))) for m in ("mahalanobis", "knn")})

    auroc, auroc_b = aurocs(fail, fte, fte_b)
    log(f"OOD AUROC (failed = Dice < 0.5, {int(fail.sum())}/{n} failed): encoder ensemble {auroc}, bottleneck {auroc_b}")

    # ---- a synthetic second site (learning.simulation.sites): a subgroup with a known shift
    sites = assign_sites([c.patient_id for c in cases], np.random.default_rng([seed, 11]))
    test_s = with_sites(test_c, sites, SITE_DESIGNS["new_scanner"], np.random.default_rng([seed, 13]))
    is_b = np.array([c.attributes["site"] == "B" for c in test_s])
    fte_s, fte_sb = case_ood_features(seg, test_s, dev), case_features(seg, test_s, dev)
    auroc_shift, auroc_shift_b = aurocs(is_b, fte_s, fte_sb)
    log(f"OOD AUROC (site-B test cases vs site A, segmenter trained on site-A-like images only): "
        f"encoder ensemble {auroc_shift}, bottleneck {auroc_shift_b}")
    # failures when a new scanner joins: the same test patients, half of them seen by site B
    dice_s = np.array([dice((q >= 0.5).astype(np.uint8), lab) for q, lab in zip(predict_probs(seg, test_s, dev), test_l)])
    fail_s = dice_s < 0.5
    auroc_mixed, auroc_mixed_b = aurocs(fail_s, fte_s, fte_sb)
    log(f"OOD AUROC (failed, test cases at two sites: {int(fail_s.sum())}/{n} failed, mean Dice site A "
        f"{dice_s[~is_b].mean():.3f} / B {dice_s[is_b].mean():.3f}): encoder ensemble {auroc_mixed}, bottleneck {auroc_mixed_b}")

    # ---- synthetic bias: train on one subgroup only, audit RCA-estimated Dice per group
    def thick(c) -> str:
        return "thick" if float(c.attributes.get("slice_thickness", 0) or 0) >= 2.5 else "thin"

    def contrast(c) -> str:
        return "contrast" if str(c.attributes.get("contrast_used", "0")) == "1" else "none"

    def site(c) -> str:
        return c.attributes["site"]

    bias = []
    if not skip_rca:
        # the bias experiment's sites: both rendered (two protocols), so either site's training biases it
        train_s = with_sites(train_c, sites, SITE_DESIGNS[bias_site_design], np.random.default_rng([seed, 12]))
        test_b = with_sites(test_c, sites, SITE_DESIGNS[bias_site_design], np.random.default_rng([seed, 13]))
        refs_s = references(train_s, train_l, n_refs, np.random.default_rng([seed, 14]))
        plan = [("contrast", contrast, train_c, test_c, refs, 0), ("thickness", thick, train_c, test_c, refs, 0)]
        plan += [("site", site, train_s, test_b, refs_s, r) for r in range(site_repeats)]
        for attr, fn, trc, tec, rf, rep in plan:
            labels_te = np.array([fn(c) for c in tec])
            for group in sorted(set(fn(c) for c in trc)):
                sel = [i for i, c in enumerate(trc) if fn(c) == group]
                if len(sel) < 8 or len(set(labels_te)) < 2:
                    continue
                m = train_segmenter([trc[i] for i in sel], [train_l[i] for i in sel],
                                    replace(cfg, iterations=bias_iterations), seed + 7 + 100 * rep, dev)
                xb, _ = case_slices(tec)
                with torch.inference_mode():
                    pb = foreground_probability(m(xb.to(dev))).cpu().numpy()
                pr = [(q >= 0.5).astype(np.uint8) for q in per_case(pb, owner, n)]
                td = np.array([dice(a, b) for a, b in zip(pr, test_l)])
                est = rca_dice(tec, pr, *rf, **(rca_kw | {"k": bias_rca_k}))
                audit = bias_audit(est, {attr: labels_te}, rng=np.random.default_rng([seed, 9, rep]), true_dice=td,
                                   n_boot=1000, n_perm=1000)
                c0 = audit.comparisons[0]
                bias.append({
                    "attribute": attr, "trained_on": group, "repeat": rep, "group_a": c0.group_a,
                    "group_b": c0.group_b, "n_train": len(sel), "est_delta": c0.delta,
                    "est_ci": [c0.ci_low, c0.ci_high], "est_p": c0.p_value,
                    "true_delta": c0.true_delta, "true_p": c0.true_p_value,
                    "sign_match": bool(np.sign(c0.delta) == np.sign(c0.true_delta or 0.0)),
                })
                log(f"bias {attr} trained on {group} (repeat {rep}): est Δ {c0.delta:+.3f} "
                    f"[{c0.ci_low:+.3f}, {c0.ci_high:+.3f}] p {c0.p_value:.3f}; "
                    f"true Δ {c0.true_delta:+.3f} p {c0.true_p_value:.3f}")

    def sign_accuracy(rows) -> float | None:
        return float(np.mean([b["sign_match"] for b in rows])) if rows else None

    sign_acc = sign_accuracy(bias)
    sign_acc_site = sign_accuracy([b for b in bias if b["attribute"] == "site"])
    sign_acc_real = sign_accuracy([b for b in bias if b["attribute"] != "site"])
    # where the true gap is itself significant there is a bias to find; elsewhere the sign is a coin toss
    real_gaps = [b for b in bias if b["true_p"] is not None and b["true_p"] < 0.05]
    sign_acc_gaps = sign_accuracy(real_gaps)

    best_corr = max((v for d in corr.values() for v in d.values()), default=float("nan"))
    return {
        "bench": "uncertainty",
        "speedup": costs["mc_dropout_5"] / costs["anatomical"],
        "ged_pulaski": ged_res[pk]["ged"],
        "ged_baseline": ged_res["focal_tversky"]["ged"],
        "hungarian_iou_pulaski": ged_res[pk]["hungarian_iou"],
        "hungarian_iou_baseline": ged_res["focal_tversky"]["hungarian_iou"],
        "ged_pulaski_slices": ged_res[pk]["ged_slices"],
        "ged_baseline_slices": ged_res["focal_tversky"]["ged_slices"],
        "hungarian_iou_pulaski_slices": ged_res[pk]["hungarian_iou_slices"],
        "hungarian_iou_baseline_slices": ged_res["focal_tversky"]["hungarian_iou_slices"],
        "ged_pulaski_slices_raw": ged_res[pk]["ged_slices_raw"],
        "ged_baseline_slices_raw": ged_res["focal_tversky"]["ged_slices_raw"],
        "ged_pulaski_slices_16_samples": ged_res[pk]["ged_slices_16_samples"],
        "ged_baseline_slices_16_samples": ged_res["focal_tversky"]["ged_slices_16_samples"],
        "n_samples": n_samples,
        "pulaski_distance": pk,
        "nonempty_by_readers_pulaski": ged_res[pk]["nonempty_by_readers"],
        "nonempty_by_readers_baseline": ged_res["focal_tversky"]["nonempty_by_readers"],
        "shape_iou_nonempty_pulaski": ged_res[pk]["shape_iou_nonempty"],
        "shape_iou_nonempty_baseline": ged_res["focal_tversky"]["shape_iou_nonempty"],
        "spearman": corr,
        "best_spearman": best_corr,
        "spearman_anatomical_per_dae_seed": anat_seeds,
        "rca_pearson_r": rca_r,
        "rca_mae": rca_mae,
        "rca_s_per_case": rca_s_per_case,
        "bias_sign_accuracy": sign_acc,
        "bias_sign_accuracy_synthetic_site": sign_acc_site,
        "bias_sign_accuracy_real_attributes": sign_acc_real,
        "bias_sign_accuracy_significant_true_gaps": sign_acc_gaps,
        "bias_significant_true_gaps": None if skip_rca else len(real_gaps),
        "bias_significant_true_gaps_flagged": None if skip_rca else sum(b["est_p"] < 0.05 and b["sign_match"] for b in real_gaps),
        # a null true gap should not be flagged: the audit's false alarms
        "bias_null_true_gaps": None if skip_rca else len(bias) - len(real_gaps),
        "bias_null_true_gaps_flagged": None if skip_rca else sum(b["est_p"] < 0.05 for b in bias if b not in real_gaps),
        "bias_experiments": None if skip_rca else bias,
        "skip_rca": skip_rca,
        "missing_readers": missing_readers,
        "rca_registration": {"transform": rca_transform, "metric": rca_metric, "k": rca_k, "k_bias_audit": bias_rca_k,
                             "workers": rca_workers},
        "ood_auroc": auroc,
        "ood_auroc_site_shift": auroc_shift,
        "ood_auroc_failed_two_sites": auroc_mixed,
        "ood_auroc_bottleneck": auroc_b,
        "ood_auroc_site_shift_bottleneck": auroc_shift_b,
        "ood_auroc_failed_two_sites_bottleneck": auroc_mixed_b,
        "failed_cases": int(fail.sum()),
        "cost_rel_forward": costs,
        "test_mean_dice": float(true_dice.mean()),
        "train_cases": len(train_c),
        "test_cases": n,
        "test_slices": int(len(x)),
        "seg_iterations": seg_iterations,
        "prob_iterations": prob_iterations,
        "prob_channels": list(prob_channels),
        "prob_features": prob_features,
        "prob_train_cases": len(prob_c),
        "prob_dims": prob_dims,
        "baseline_beta": baseline_beta,
        "bias_site_design": bias_site_design,
        "seed": seed,
        "elapsed_s": time.perf_counter() - t0,
        "device": str(dev),
        "threads": threads,
        "torch": torch.__version__,
    }


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--max-cases", type=int, default=360)
    ap.add_argument("--seg-iterations", type=int, default=600)
    ap.add_argument("--prob-iterations", type=int, default=1500)
    ap.add_argument("--dae-iterations", type=int, default=300)
    ap.add_argument("--bias-iterations", type=int, default=400)
    ap.add_argument("--samples", type=int, default=50, help="samples per image (PHiSeg's LIDC evaluation: 50)")
    # the platform's RCA settings (learning.quality.rca); rigid / mean_squares and k = 3 are the earlier,
    # weaker choices
    ap.add_argument("--rca-k", type=int, default=RCA_K, help="references per RCA estimate (RCA vs true Dice)")
    ap.add_argument("--bias-rca-k", type=int, default=5,
                    help="references per RCA estimate in the 8 bias-audit trainings (k = 20 there would take "
                         "the bench past its one-hour CPU budget)")
    ap.add_argument("--rca-transform", choices=["rigid", "affine", "bspline"], default=RCA_TRANSFORM)
    ap.add_argument("--rca-metric", choices=["mean_squares", "mutual_information"], default=RCA_METRIC)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--missing-readers", choices=["empty", "cycle"], default="empty",
                    help="the probabilistic U-Nets' targets for a reader who outlined nothing: an empty mask "
                         "(LIDC's convention, as GED counts it) or the present readers cycled (before 2026-11-28)")
    ap.add_argument("--seeds", type=int, default=1,
                    help="run seeds seed .. seed+N-1 (split, models, draws); the last line adds mean, sd and, for "
                         "PULASki vs its baseline, the seeds where PULASki is better")
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rca-workers", type=int, default=os.cpu_count() or 1,
                    help="processes for RCA's registrations (default: one per core; the torch parts run first)")
    ap.add_argument("--prob-channels", default="16,32,64,128",
                    help="probabilistic U-Nets' widths, comma-separated")
    ap.add_argument("--prob-features", type=int, default=8, help="channels of the U-Net output fed to fcomb")
    ap.add_argument("--prob-extra-train", action=argparse.BooleanOptionalAction, default=True,
                    help="train the probabilistic U-Nets on the LIDC crops outside the --max-cases pool too (those "
                         "whose patients are not test patients; default on); the segmenter and the rest keep the pool")
    ap.add_argument("--pulaski-distance", choices=["sinkhorn", "hausdorff"], default="sinkhorn",
                    help="PULASki's statistical distance between its samples and the raters (Sinkhorn: on test "
                         "patients Hausdorff gave 0.325 +- 0.066 slice GED against 0.294 +- 0.035, bench/RESULTS-learning.md)")
    ap.add_argument("--baseline-beta", type=float, default=128.0,
                    help="the Focal-Tversky baseline's KL weight (the KL is divided by the voxel count, so 128 on "
                         "64x64 slices weighs it 1/32 per image); chosen on validation patients over 1, 16, 64, 128, "
                         "512 and 4096 (bench/RESULTS-learning.md)")
    ap.add_argument("--prob-dims", type=int, choices=[2, 3], default=2,
                    help="PULASki and its baseline in 2D (slices) or 3D (patches; each test case sampled whole)")
    ap.add_argument("--prob-patch", default="8,64,64", help="3D training patch z,y,x (with --prob-dims 3)")
    ap.add_argument("--dae-seeds", type=int, default=3, help="shape DAEs trained (seeds) for the anatomical Spearman")
    ap.add_argument("--infer-batch", type=int, default=64, help="slices per inference batch in the cost timings")
    ap.add_argument("--site-repeats", type=int, default=2,
                    help="trainings per site in the synthetic-site bias experiment (each site once per repeat)")
    ap.add_argument("--bias-site-design", choices=sorted(SITE_DESIGNS), default="two_protocols",
                    help="how the bias experiment's two sites render images (learning.simulation.sites; the OOD "
                         "second-scanner tasks always use new_scanner)")
    ap.add_argument("--skip-rca", action="store_true",
                    help="leave out RCA and the synthetic-bias audit (CPU registration); their figures are null")
    a = ap.parse_args()
    kwargs = dict(data=a.data, max_cases=a.max_cases, seg_iterations=a.seg_iterations,
                  prob_iterations=a.prob_iterations, dae_iterations=a.dae_iterations,
                  bias_iterations=a.bias_iterations, n_samples=a.samples, rca_k=a.rca_k, bias_rca_k=a.bias_rca_k,
                  rca_transform=a.rca_transform, rca_metric=a.rca_metric, repeats=a.repeats, device=a.device,
                  threads=a.threads, rca_workers=a.rca_workers, skip_rca=a.skip_rca, infer_batch=a.infer_batch,
                  site_repeats=a.site_repeats, bias_site_design=a.bias_site_design, missing_readers=a.missing_readers,
                  dae_seeds=a.dae_seeds, prob_channels=tuple(int(c) for c in a.prob_channels.split(",")),
                  prob_extra_train=a.prob_extra_train,
                  prob_features=a.prob_features, pulaski_distance=a.pulaski_distance,
                  baseline_beta=a.baseline_beta, prob_dims=a.prob_dims,
                  prob_patch=tuple(int(c) for c in a.prob_patch.split(",")))
    runs = [run(seed=a.seed + i, **kwargs) for i in range(a.seeds)]
    for r in runs[:-1]:
        print(json.dumps(r))  # every seed's figures; the last line is the last seed's, with the summary
    res = runs[-1] if a.seeds == 1 else {**runs[-1], "seeds": [r["seed"] for r in runs], "over_seeds": over_seeds(runs)}
    print(json.dumps(res))
