"""PULASki in the platform: train on every rater's masks, validate by GED, score cases by sample diversity.

PULASki (Chatterjee et al.) learns the raters' disagreement, not one consensus: each training item
pairs N sample maps with the N raters' masks under a Sinkhorn (or Hausdorff) divergence plus the
KL term (``learning.nets.prob_unet``). By default it trains in 2D on axial slices (every rater
outlines each slice), padded to one in-plane size, on the slices with any rater's foreground and as
many without. With ``"net": {"spatial_dims": 3}`` it trains on 3D patches (``"patch"``, default
16 x 64 x 64), half centred on a rater's foreground voxel and half anywhere, and samples a case as
one 3D block over the requested slices: one latent draw per sample for the whole block, so a sample
is one coherent 3D segmentation. A block larger than ``MAX_BLOCK_VOXELS`` is run in z-parts
(``prob_unet.sample_volume``): the prior is still the whole block's (computed exactly part by part),
each sample's latent is drawn once and decodes every part; a part's U-Net features are computed with
a small halo, and as the U-Net normalises per instance, faint seams can remain at the cuts. Samples
are binarised at 0.5 without specks under ``MIN_COMPONENT`` voxels (``prob_unet.binarise_samples``: per
slice for a 2D net, in 3D for a 3D net). A version is validated by the generalised energy
distance between 8 samples and the raters' masks of the fixed validation cases (lower is better)
and promoted like the segmenter, unless its samples are empty on every validation slice the raters
outlined (``collapse_reason``: such a collapsed version is rejected, with the reason in its metrics);
the promoted version's sample diversity per case is an acquisition score (``pulaski_ged``).

Project overrides live under ``train_config["pulaski"]`` (``ProbTrainConfig`` fields, ``net`` for
``ProbUNetConfig``, ``patch`` for 3D), e.g. ``{"pulaski": {"iterations": 2000, "loss": "hausdorff"}}``
or ``{"pulaski": {"net": {"spatial_dims": 3}, "patch": [16, 96, 96]}}``.
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
from learning.configs import PATCH_3D, pulaski_settings
from learning.data import NormConfig, common_in_plane, normalise, pad_in_plane, training_patches, training_slices
from learning.models import ModelKind, ModelVersion
from learning.nets.prob_unet import (
    ProbUNet,
    ProbUNetConfig,
    binarise_samples,
    build_prob_unet,
    sample,
    sample_volume,
    summarise_samples,
    train_prob_unet,
)
from learning.services.training import (
    build_config,
    collapse_reason,
    decide_promotion,
    inputs_key_of,
    rater_masks,
    register_version,
    training_split,
)
from learning.services.weights import load_weights

__all__ = ["run_training", "evaluate_and_promote", "load", "case_samples", "case_diversity",
           "SAMPLES", "PATCH_3D", "MAX_BLOCK_VOXELS"]

Progress = Callable[[float, str], None]
SAMPLES = 8  # samples per slice at validation and scoring (PULASki's cost target: <= 2x a pass at 8)
_BATCH = 64  # slices per sampling call
MAX_BLOCK_VOXELS = 8 * 2**20  # 3D sampling: voxels per block (8 samples x 8 Mi x 4 B = 256 MiB of output)


def run_training(*, project: Project, device, job: Job | None = None, progress: Progress | None = None) -> ModelVersion:
    """Train a PULASki candidate on every rater-labelled case outside the validation set; register it."""
    report = progress or (lambda f, m: None)
    state, data, val = training_split(project)
    train = [(d.case, rm) for d in data if d.case.pk not in val and (rm := rater_masks(d.case)) is not None]
    if not train:
        raise InvalidInput(f"project {project.slug}: no rater-labelled case outside the validation set; "
                           "PULASki learns from the raters' own masks")
    norm = build_config(project, data, overrides=state.train_config).normalisation
    cfg, patch = pulaski_settings(state.train_config.get("pulaski"), seed=project.pk)
    hw = common_in_plane([c.volume.shape for c, _ in train], cfg.net.divisor)
    n_raters = max(m.shape[0] for _, (m, _) in train)
    config = {"train": cfg.to_dict(), "normalisation": norm.to_dict(), "in_plane": list(hw), "n_raters": n_raters}
    if patch is not None:
        config["patch"] = list(patch)
    trained_on = sorted(k for _, (_, keys) in train for k in keys)
    inputs_key = inputs_key_of(config, trained_on, sorted(val))
    existing = ModelVersion.objects.filter(project=project, kind=ModelKind.PULASKI, inputs_key=inputs_key).first()
    if existing is not None:
        return existing
    images = [normalise(open_volume(c.volume.store_url).read(0), norm) for c, _ in train]
    rng = np.random.default_rng(cfg.seed)
    rater_stacks = [m for _, (m, _) in train]
    if patch is None:
        x, y = training_slices(images, rater_stacks, hw=hw, n_raters=n_raters, rng=rng)
    else:
        x, y = training_patches(images, rater_stacks, patch=patch, n_raters=n_raters, rng=rng)
    items = "slices" if patch is None else f"{'x'.join(map(str, patch))} patches"
    report(0.02, f"training PULASki on {len(x)} {items} of {len(train)} cases, {n_raters} raters per item")
    result = train_prob_unet(cfg, x, y, device=device,
                             progress=lambda f, info: report(0.02 + 0.95 * f, f"loss {info['loss']:.4f}"))
    buf = io.BytesIO()
    torch.save(result.model.state_dict(), buf)
    version = register_version(
        project=project, kind=ModelKind.PULASKI, config=config, weights=buf.getvalue(), trained_on=trained_on,
        validation_cases=sorted(val), n_labelled=len(data), job=job, inputs_key=inputs_key,
        metrics={"loss_last50": float(np.mean(result.losses[-50:])), "iterations": cfg.iterations,
                 "elapsed_s": result.elapsed_s, ("n_slices" if patch is None else "n_patches"): len(x),
                 "restarts": result.restarts, "train_presence": result.train_presence})
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
    ``zs`` of a raw ``(Z, Y, X)`` image (the U-Net features are computed once per slice batch, or per
    3D block for a 3D net)."""
    if model.config.spatial_dims == 3:
        return _block_samples(image, model, config, zs=np.asarray(zs, dtype=np.int64), device=device, n=n, seed=seed)
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


def _block_samples(image: np.ndarray, model: ProbUNet, config: dict, *, zs: np.ndarray, device, n: int,
                   seed: int) -> np.ndarray:
    """3D sampling over the slab of slices ``zs`` spans: ``(n, len(zs), Y, X)``."""
    if len(zs) == 0:
        return np.zeros((n, 0, *image.shape[1:]), np.float32)
    z0, z1 = int(zs.min()), int(zs.max()) + 1
    x = normalise(image[z0:z1], NormConfig.from_dict(config["normalisation"]))
    probs = sample_volume(model.to(device), x, n, generator=torch.Generator().manual_seed(seed), device=device,
                          max_voxels=MAX_BLOCK_VOXELS)
    return probs[:, zs - z0]


def case_diversity(image: np.ndarray, model: ProbUNet, config: dict, *, zs: np.ndarray, device) -> float:
    """Sample diversity of a case: mean pairwise 1 - IoU among 8 samples over ``zs`` (0 if none)."""
    if len(zs) == 0:
        return 0.0
    probs = case_samples(image, model, config, zs=zs, device=device)
    return float(summarise_samples(probs, slice_wise=model.config.spatial_dims == 2).ged)


def evaluate_and_promote(*, version: ModelVersion, device, progress: Progress | None = None) -> dict:
    """GED (8 samples vs the raters' masks, on the slices any rater outlined) on the fixed validation
    cases; promote the version if its mean is below the promoted PULASki's."""
    report = progress or (lambda f, m: None)
    config, model = load(version)
    per_case: dict[int, float] = {}
    drawn = with_foreground = 0  # (sample, outlined slice) pairs, and those where the sample has foreground
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
        binary = binarise_samples(probs, slice_wise=model.config.spatial_dims == 2)
        per_case[case.pk] = float(ged(binary, raters))
        drawn += binary.shape[0] * binary.shape[1]
        with_foreground += int(binary.reshape(*binary.shape[:2], -1).any(-1).sum())
        report(k / max(1, len(cases)), f"validated {k} cases")
    value = float(np.mean(list(per_case.values()))) if per_case else None
    presence = with_foreground / drawn if drawn else None
    return decide_promotion(version, metric="val_ged", value=value, per_case=per_case, higher_is_better=False,
                            follow_up=(jobs.SCORE,), refuse=collapse_reason(
                                presence, "every sample is empty on every validation slice the raters outlined"),
                            extra={"val_sample_presence": presence})
