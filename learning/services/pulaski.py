"""PULASki in the platform: train on every rater's masks, validate by GED, score cases by sample diversity.

PULASki (Chatterjee et al.) learns the raters' disagreement, not one consensus: each training item
pairs N sample maps with the N raters' masks under a Sinkhorn (or Hausdorff) divergence plus the
KL term (``learning.nets.prob_unet``). Here it trains in 2D on axial slices (the transport problems
stay small and every rater outlines each slice), padded to one in-plane size, on the slices with
any rater's foreground and as many without. A version is validated by the generalised energy
distance between 8 samples and the raters' masks of the fixed validation cases (lower is better)
and promoted like the segmenter; the promoted version's sample diversity per case is an
acquisition score (``pulaski_ged``).

Project overrides live under ``train_config["pulaski"]`` (``ProbTrainConfig`` fields, ``net`` for
``ProbUNetConfig``), e.g. ``{"pulaski": {"iterations": 2000, "loss": "hausdorff"}}``.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import torch

from annotation.metrics.ged import ged
from core import jobs
from core.errors import InvalidInput
from core.models import Case, Job, Project
from core.storage import open_volume
from learning.data import NormConfig, common_in_plane, normalise, pad_in_plane
from learning.models import ModelKind, ModelVersion
from learning.nets.prob_unet import (
    ProbTrainConfig,
    ProbUNet,
    ProbUNetConfig,
    build_prob_unet,
    sample,
    summarise_samples,
    train_prob_unet,
)
from learning.services.training import (
    build_config,
    decide_promotion,
    inputs_key_of,
    rater_masks,
    register_version,
    training_split,
)
from learning.services.weights import load_weights

__all__ = ["run_training", "evaluate_and_promote", "load", "case_samples", "case_diversity", "training_slices",
           "SAMPLES", "MAX_SLICES"]

Progress = Callable[[float, str], None]
SAMPLES = 8  # samples per slice at validation and scoring (PULASki's cost target: <= 2x a pass at 8)
MAX_SLICES = 4000  # training slices kept (random subset) so memory stays bounded on big projects
_BATCH = 64  # slices per sampling call


def _train_config(overrides: dict, seed: int) -> ProbTrainConfig:
    # 1500 steps: on LIDC at 400 the samples had collapsed to one mask (diversity 0.005); 3000 was no
    # better than 1500 (bench/RESULTS-learning.md)
    d = {"loss": "sinkhorn", "iterations": 1500, "batch_size": 8, "seed": seed, **(overrides or {})}
    net = {"spatial_dims": 2, **(d.pop("net", None) or {})}
    try:
        return ProbTrainConfig(**d, net=ProbUNetConfig.from_dict(net))
    except (TypeError, ValueError) as e:
        raise InvalidInput(f"train_config.pulaski: {e}") from e


def training_slices(images: list[np.ndarray], masks: list[np.ndarray], *, hw: tuple[int, int], n_raters: int,
                    rng: np.random.Generator, max_slices: int = MAX_SLICES) -> tuple[np.ndarray, np.ndarray]:
    """Axial training slices of several cases.

    Args:
        images: per case ``(Z, Y, X)`` normalised float32 images.
        masks: per case ``(R, Z, Y, X)`` uint8 rater masks (R may differ between cases).
        hw: common in-plane size (>= every case's).
        n_raters: raters per item; a case with fewer cycles through its raters (as the LIDC papers do).
        rng: which background slices and which subset are kept.
        max_slices: cap on the number of slices.

    Returns:
        ``(S, 1, H, W)`` float32 images and ``(S, n_raters, H, W)`` uint8 masks: every slice with any
        rater's foreground and as many random slices without.
    """
    xs, ys = [], []
    for image, m in zip(images, masks, strict=True):
        fg = m.any(axis=(0, 2, 3))
        pos = np.flatnonzero(fg)
        neg = np.flatnonzero(~fg)
        neg = rng.choice(neg, size=min(len(neg), max(1, len(pos))), replace=False) if len(neg) else neg
        zs = np.sort(np.concatenate([pos, neg]))
        stack = m[np.arange(n_raters) % m.shape[0]][:, zs].transpose(1, 0, 2, 3)  # (S, N, Y, X)
        xs.append(pad_in_plane(image[zs][:, None], hw, float(image.min())))
        ys.append(pad_in_plane(stack, hw, 0))
    x, y = np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.uint8)
    if len(x) > max_slices:
        keep = np.sort(rng.choice(len(x), size=max_slices, replace=False))
        x, y = x[keep], y[keep]
    return x, y


def run_training(*, project: Project, device, job: Job | None = None, progress: Progress | None = None) -> ModelVersion:
    """Train a PULASki candidate on every rater-labelled case outside the validation set; register it."""
    report = progress or (lambda f, m: None)
    state, data, val = training_split(project)
    train = [(d.case, rm) for d in data if d.case.pk not in val and (rm := rater_masks(d.case)) is not None]
    if not train:
        raise InvalidInput(f"project {project.slug}: no rater-labelled case outside the validation set; "
                           "PULASki learns from the raters' own masks")
    norm = build_config(project, data, overrides=state.train_config).normalisation
    cfg = _train_config(state.train_config.get("pulaski", {}), seed=project.pk)
    hw = common_in_plane([c.volume.shape for c, _ in train], cfg.net.divisor)
    n_raters = max(m.shape[0] for _, (m, _) in train)
    config = {"train": cfg.to_dict(), "normalisation": norm.to_dict(), "in_plane": list(hw), "n_raters": n_raters}
    trained_on = sorted(k for _, (_, keys) in train for k in keys)
    inputs_key = inputs_key_of(config, trained_on, sorted(val))
    existing = ModelVersion.objects.filter(project=project, kind=ModelKind.PULASKI, inputs_key=inputs_key).first()
    if existing is not None:
        return existing
    images = [normalise(open_volume(c.volume.store_url).read(0), norm) for c, _ in train]
    x, y = training_slices(images, [m for _, (m, _) in train], hw=hw, n_raters=n_raters,
                           rng=np.random.default_rng(cfg.seed))
    report(0.02, f"training PULASki on {len(x)} slices of {len(train)} cases, {n_raters} raters per item")
    result = train_prob_unet(cfg, x, y, device=device,
                             progress=lambda f, info: report(0.02 + 0.95 * f, f"loss {info['loss']:.4f}"))
    buf = io.BytesIO()
    torch.save(result.model.state_dict(), buf)
    version = register_version(
        project=project, kind=ModelKind.PULASKI, config=config, weights=buf.getvalue(), trained_on=trained_on,
        validation_cases=sorted(val), n_labelled=len(data), job=job, inputs_key=inputs_key,
        metrics={"loss_last50": float(np.mean(result.losses[-50:])), "iterations": cfg.iterations,
                 "elapsed_s": result.elapsed_s, "n_slices": len(x)})
    report(1.0, f"registered pulaski v{version.number}")
    return version


def load(version: ModelVersion) -> tuple[dict, ProbUNet]:
    """(stored config, eval-mode model on CPU) of a PULASki version, weights checksum-verified."""
    if version.kind != ModelKind.PULASKI:
        raise InvalidInput(f"model version {version.pk} is a {version.kind}, not a PULASki model")
    model = build_prob_unet(ProbUNetConfig.from_dict(version.config["train"]["net"]))
    state = torch.load(io.BytesIO(load_weights(version.weights_url, version.weights_sha256)), map_location="cpu",
                       weights_only=True)
    model.load_state_dict(state)
    return version.config, model.eval()


def case_samples(image: np.ndarray, model: ProbUNet, config: dict, *, zs: np.ndarray, device,
                 n: int = SAMPLES, seed: int = 0) -> np.ndarray:
    """``(n, len(zs), Y, X)`` float32 foreground probabilities of ``n`` samples on the axial slices
    ``zs`` of a raw ``(Z, Y, X)`` image (the U-Net features are computed once per slice batch)."""
    norm = NormConfig.from_dict(config["normalisation"])
    x = normalise(image[np.asarray(zs, dtype=np.int64)], norm)
    # the training size, or larger for a case larger than the training ones
    hw = common_in_plane([config["in_plane"], x.shape], ProbUNetConfig.from_dict(config["train"]["net"]).divisor)
    xp = torch.from_numpy(pad_in_plane(x[:, None], hw, float(x.min()) if x.size else 0.0))
    gen = torch.Generator().manual_seed(seed)
    model = model.to(device)
    out = [sample(model, xp[i:i + _BATCH].to(device), n, generator=gen).cpu() for i in range(0, len(xp), _BATCH)]
    probs = torch.cat(out, dim=1).numpy() if out else np.zeros((n, 0, *hw), np.float32)
    return probs[..., : image.shape[-2], : image.shape[-1]]


def case_diversity(image: np.ndarray, model: ProbUNet, config: dict, *, zs: np.ndarray, device) -> float:
    """Sample diversity of a case: mean pairwise 1 - IoU among 8 samples over ``zs`` (0 if none)."""
    if len(zs) == 0:
        return 0.0
    return float(summarise_samples(case_samples(image, model, config, zs=zs, device=device)).ged)


def evaluate_and_promote(*, version: ModelVersion, device, progress: Progress | None = None) -> dict:
    """GED (8 samples vs the raters' masks, on the slices any rater outlined) on the fixed validation
    cases; promote the version if its mean is below the promoted PULASki's."""
    report = progress or (lambda f, m: None)
    config, model = load(version)
    per_case: dict[int, float] = {}
    cases = list(Case.objects.filter(project=version.project, pk__in=version.validation_cases).select_related("volume"))
    for k, case in enumerate(cases, 1):
        rm = rater_masks(case)
        if rm is None:
            continue
        masks = rm[0]
        zs = np.flatnonzero(masks.any(axis=(0, 2, 3)))
        if len(zs) == 0:
            continue
        probs = case_samples(open_volume(case.volume.store_url).read(0), model, config, zs=zs, device=device)
        raters = masks[:, zs]
        raters = raters[raters.reshape(len(raters), -1).any(1)]
        per_case[case.pk] = float(ged((probs >= 0.5).astype(np.uint8), raters))
        report(k / max(1, len(cases)), f"validated {k} cases")
    value = float(np.mean(list(per_case.values()))) if per_case else None
    return decide_promotion(version, metric="val_ged", value=value, per_case=per_case, higher_is_better=False,
                            follow_up=(jobs.SCORE,))
