"""Scoring and acquisition: what the promoted segmenter says of each case, and the queue order.

For every case the promoted model predicts with Monte-Carlo dropout (predictive entropy, the
baseline MONAI Label uses) and yields bottleneck features; the features of the training cases fit
an OOD model (Mahalanobis on PCA-reduced features). Unlabelled cases are then ranked by the
scores (with flip-TTA variance) combined as the project's acquisition policy says (weights or Borda
rank aggregation; a diverse top batch by k-center greedy, or random) and their priorities set,
which is the order "next case" serves. Labelled cases get an RCA-estimated Dice (never their own
label) beside their true Dice, and the bias audit compares subgroups of case attributes.
Per-case work runs through Dask (core.compute).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import torch
from django.db import transaction

from annotation.metrics.overlap import dice
from core import compute
from core.models import Case, CaseStatus, Project
from core.storage import open_volume
from learning.acquisition import SCORE_NAMES, AcquisitionPolicy, cold_start, combine, normalise, select_batch
from learning.data import normalise as normalise_intensity
from learning.infer import predict
from learning.models import BiasAudit, CaseScore, ModelKind, ModelVersion
from learning.nets import bottleneck_and_statistics
from learning.quality import EnsembleOOD, bias_audit, image_features, middle_slice_features, rca_case_slices, rca_predict
from learning.services import pulaski, shape_prior
from learning.services.registry import learning_state, promoted
from learning.services.training import labelled_cases, load_version
from learning.services.weights import thread_cached
from learning.uncertainty import aggregate, predictive_entropy, volume_tta_probs

__all__ = ["score_project", "attribute_groups", "MC_PASSES"]

MC_PASSES = 5
#: Slices (evenly spaced) whose 2D network features are averaged into a case's diversity and OOD
#: features: the middle slice alone can miss what makes a volume unusual (the harness averages all).
FEATURE_SLICES = 8
#: Added to the priority of the selected batch: combined scores lie in 0..1, so with a boost of 1 a
#: case left out of a diverse batch with combined score 1 tied a batch case scored 0.
BATCH_BOOST = 2.0
#: References per RCA estimate for whole volumes: one 3D registration costs about as much as a
#: hundred 2D slice registrations, so the audit keeps 5 there; thin crops use RCA_K (60) per slice,
#: the setting chosen on LIDC validation patients (bench/rca_references.py). Fewer references bias RCA low.
RCA_K_VOLUME = 5
Progress = Callable[[float, str], None]


def _all_or_raise(results: list) -> list:
    """``core.compute.map_collect``'s results, or its first failure raised."""
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise errors[0]
    return results


def _pulaski_slices(mean: np.ndarray) -> np.ndarray:
    """Where PULASki samples a case: every slice of a thin stack, else the segmenter's foreground
    slices and their neighbours (sampling 600 empty slices of a CT says nothing)."""
    if mean.shape[0] <= 32:
        return np.arange(mean.shape[0])
    fg = (mean >= 0.5).any(axis=(1, 2))
    near = fg | np.roll(fg, 1) | np.roll(fg, -1)
    return np.flatnonzero(near)


def _score_case(case: Case, *, version: ModelVersion, device, pulaski_version: ModelVersion | None = None,  # noqa: ANN001
                shape_version: ModelVersion | None = None) -> dict:
    config, model = thread_cached(version.pk, lambda: load_version(version))
    image = open_volume(case.volume.store_url).read(0).astype(np.float32)
    infer = config.infer_config()
    samples = []
    for k in range(MC_PASSES):
        torch.manual_seed(k)
        samples.append(predict(image, model, config=infer, device=device, mc_dropout=True))
    samples = np.stack([s if s.ndim == 3 else s[1] for s in samples])
    mean = samples.mean(0)
    entropy = aggregate(predictive_entropy(samples), how="mean")

    def predict_fg(volume: np.ndarray) -> np.ndarray:
        p = predict(volume, model, config=infer, device=device)
        return p if p.ndim == 3 else p[1]

    tta = aggregate(volume_tta_probs(image, predict_fg).var(0), how="fg_ratio", foreground=mean)
    diversity = None
    if pulaski_version is not None:
        pconfig, pmodel = thread_cached(pulaski_version.pk, lambda: pulaski.load(pulaski_version))
        diversity = pulaski.case_diversity(image, pmodel, pconfig, zs=_pulaski_slices(mean), device=device)
    anatomical = None
    if shape_version is not None:
        sconfig, dae = thread_cached(shape_version.pk, lambda: shape_prior.load(shape_version))
        anatomical = shape_prior.case_anatomical(mean, dae, sconfig, device=device)
    x = normalise_intensity(image, config.normalisation)
    model.eval()
    with torch.inference_mode():
        if config.spatial_dims == 2:  # up to FEATURE_SLICES evenly spaced slices (with their context), averaged
            zs = np.unique(np.linspace(0, image.shape[0] - 1, min(FEATURE_SLICES, image.shape[0])).round().astype(int))
            k = config.context_slices // 2
            t = torch.from_numpy(x[np.clip(zs[:, None] + np.arange(-k, k + 1), 0, image.shape[0] - 1)]).float()
        else:
            t = torch.from_numpy(x[None, None]).float()
        bottleneck, stats = bottleneck_and_statistics(model.to(device), t.to(device))  # one forward pass
        feats = bottleneck.mean(0).cpu().numpy()
        ood_feats = [f.mean(0).cpu().numpy().astype(np.float32) for f in stats]
    return {"case_id": case.pk, "mc_entropy": float(entropy), "tta_variance": float(tta), "pulaski_ged": diversity,
            "anatomical": anatomical,
            "features": feats.astype(np.float32), "ood_features": ood_feats,
            "image_features": middle_slice_features(image), "pred": (mean >= 0.5).astype(np.uint8), "image": image}


def attribute_groups(cases: list[Case]) -> dict[str, np.ndarray]:
    """Audit attributes per case: categorical ones as is, slice thickness in two groups (<= 1.5 mm)."""
    out: dict[str, list[str]] = {}
    keys = {k for c in cases for k in c.attributes}
    for key in sorted(keys):
        values = [c.attributes.get(key) for c in cases]
        if key in ("slice_thickness", "slice_spacing"):
            out[f"{key}_group"] = ["thin" if v is not None and float(v) <= 1.5 else "thick" for v in values]
        elif key in ("sex", "site", "manufacturer", "contrast", "contrast_used", "body_part", "model"):
            out[key] = ["unknown" if v is None else str(v) for v in values]
    return {k: np.asarray(v) for k, v in out.items() if len(set(v)) > 1}


def score_project(*, project: Project, device, seed: int = 0, progress: Progress | None = None) -> dict:
    """Score every case with the promoted segmenter, set queue priorities, run the bias audit."""
    report = progress or (lambda f, m: None)
    rng = np.random.default_rng(seed)
    policy = AcquisitionPolicy.from_dict(learning_state(project).acquisition)
    version = promoted(project, ModelKind.SEGMENTER)
    pool = list(Case.objects.filter(project=project, status=CaseStatus.NEW).select_related("volume")
                .exclude(label_versions__isnull=False))
    if version is None:  # cold start, no model yet: the most typical case of each cluster of cheap image features
        feats = np.stack([middle_slice_features(open_volume(c.volume.store_url).read(0).astype(np.float32))
                          for c in pool]) if pool else np.zeros((0, 1))
        first = set(cold_start(len(pool), min(policy.batch, len(pool)), rng=rng, features=feats,
                               method="random" if policy.strategy == "random" else "typiclust").tolist()) if pool else set()
        with transaction.atomic():
            for i, c in enumerate(pool):
                Case.objects.filter(pk=c.pk).update(priority=1.0 if i in first else 0.0)
        return {"cold_start": True, "queued_first": [pool[i].pk for i in sorted(first)]}
    labelled = labelled_cases(project)
    cases = pool + [d.case for d in labelled]
    def tick(n: int, total: int) -> None:
        report(0.8 * n / max(total, 1), f"scored {n}/{total} cases")

    results = _all_or_raise(compute.map_collect(partial(_score_case, version=version, device=device,
                                                        pulaski_version=promoted(project, ModelKind.PULASKI),
                                                        shape_version=promoted(project, ModelKind.SHAPE_DAE)),
                                                cases, progress=tick))
    by_id = {r["case_id"]: r for r in results}
    train_ids = {d.case.pk for d in labelled if d.case.pk not in version.validation_cases}
    # Mahalanobis over every encoder level's pre-normalisation statistics (learning.quality.ood says why)
    ood = None
    if len(train_ids) >= 3:
        levels = [np.stack(f) for f in zip(*(by_id[i]["ood_features"] for i in sorted(train_ids)))]
        ood = EnsembleOOD(n_components=8).fit(levels)
    for r in results:
        r["ood_mahalanobis"] = float(ood.score([f[None] for f in r["ood_features"]])[0]) if ood else None
    # the queue, by the project's acquisition policy: combined scores, the (diverse) top batch first
    combined, first = np.zeros(len(pool)), set()
    if pool:
        weights = {k: w for k, w in policy.active_weights().items() if by_id[pool[0].pk].get(k) is not None}
        scores = {k: np.array([by_id[c.pk][k] for c in pool], dtype=np.float64) for k in weights}
        strategy = policy.strategy if scores or policy.strategy in ("random", "diversity", "typical") else "diversity"
        if scores:  # 0..1, higher first; ties and the "random" strategy keep a random order below the batch
            combined = normalise(combine(scores, weights=weights, method=policy.method) + 1e-9 * rng.random(len(pool)))
        # "typical" clusters the cheap image features (what the cold start and the simulation harness use:
        # fixed, unlike the bottleneck features of a model trained on few cases); the others the bottleneck
        key = "image_features" if strategy == "typical" else "features"
        feats = np.stack([by_id[c.pk][key] for c in pool])
        lab_feats = np.stack([by_id[d.case.pk][key] for d in labelled]) if labelled else None
        first = set(select_batch(scores, feats, batch=min(policy.batch, len(pool)), strategy=strategy,
                                 weights=weights, combine_method=policy.method, rng=rng,
                                 labelled_features=lab_feats).tolist())
    with transaction.atomic():
        for i, c in enumerate(pool):
            pr = float(combined[i]) + (BATCH_BOOST if i in first else 0.0)
            Case.objects.filter(pk=c.pk).update(priority=pr)
        pool_index = {c.pk: i for i, c in enumerate(pool)}
        for r in results:
            i = pool_index.get(r["case_id"])
            CaseScore.objects.update_or_create(case_id=r["case_id"], model_version=version, defaults={
                "scores": {k: r[k] for k in SCORE_NAMES},
                "combined": None if i is None else float(combined[i])})
    report(0.85, "bias audit")
    audit = _audit(project, version, labelled, by_id, rng) if len(labelled) >= 4 else None
    return {"model_version": version.pk, "scored": len(results), "queued": len(pool),
            "audit": audit.pk if audit else None}


def _audit(project: Project, version: ModelVersion, labelled, by_id: dict, rng: np.random.Generator) -> BiasAudit:
    """RCA-estimated vs true Dice of the labelled cases, compared across attribute groups."""
    images = [by_id[d.case.pk]["image"] for d in labelled]
    targets = [d.mask() for d in labelled]
    # thin crops are estimated in 2D against every other case's outlined slices: gather those slices and
    # their similarity features once, not once per case
    owner: list[int] = []
    ref_img: list[np.ndarray] = []
    ref_lab: list[np.ndarray] = []
    if any(im.shape[0] < 16 for im in images):
        for j, (im, t) in enumerate(zip(images, targets)):
            for z in np.flatnonzero(t.any(axis=(1, 2))):
                owner.append(j)
                ref_img.append(im[z])
                ref_lab.append(t[z].astype(np.uint8))
    ref_feats = np.stack([image_features(r) for r in ref_img]) if ref_img else None
    preds = [by_id[d.case.pk]["pred"] for d in labelled]

    def rca_of(i: int) -> float:  # RCA never sees the case's own label: the others' only
        if images[i].shape[0] < 16:
            keep = [s for s, j in enumerate(owner) if j != i]
            return rca_case_slices(images[i], preds[i], [ref_img[s] for s in keep], [ref_lab[s] for s in keep],
                                   ref_features=ref_feats[keep]) if keep else 0.0
        others = [j for j in range(len(labelled)) if j != i]
        return rca_predict(images[i], preds[i], [images[j] for j in others],
                           [targets[j].astype(np.uint8) for j in others], k=RCA_K_VOLUME).predicted_dice

    # registrations release the GIL: the cases run in parallel (core.compute)
    est = [float(r) for r in _all_or_raise(compute.map_collect(rca_of, range(len(labelled))))]
    true = [float(dice(p > 0, t)) for p, t in zip(preds, targets)]
    per_case = [{"case_id": d.case.pk, "rca_dice": e, "true_dice": td, "attributes": d.case.attributes}
                for d, e, td in zip(labelled, est, true)]
    groups = attribute_groups([d.case for d in labelled])
    result = bias_audit(np.array(est), groups, rng=rng, true_dice=np.array(true), n_boot=500, n_perm=500)
    return BiasAudit.objects.create(project=project, model_version=version, result=result.to_dict(),
                                    per_case=per_case)


