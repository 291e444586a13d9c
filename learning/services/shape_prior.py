"""The shape prior in the platform: a denoising autoencoder on the project's consensus shapes, and
anatomically-aware uncertainty from it (Adiga Vasudeva et al.).

The DAE (``learning.nets.shape_dae``: no skips, a 4-channel bottleneck) learns to map corrupted
label slices back to clean ones; a prediction far from its own reconstruction has a shape no rater
would draw. It trains in 2D on axial slices of the consensus (or majority) labels of the training
cases (the outlined slices and a tenth as many empty ones), padded to one in-plane size. A version
is validated by how well it restores corrupted validation slices (Dice of the reconstruction with
the clean slice, fixed corruption seed; higher is better) and promoted like the segmenter. Once
promoted, the scoring job adds ``anatomical``: the squared difference between the segmenter's mean
probability map and its reconstruction, per predicted-foreground voxel (``fg_ratio``).

Project overrides live under ``train_config["shape_dae"]``: ``iterations``, ``batch_size``, ``lr``
and ``net`` (``ShapeDAEConfig`` fields).
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import torch

from annotation.metrics.overlap import dice
from core import jobs
from core.errors import InvalidInput
from core.models import Job, Project
from learning.configs import shape_dae_settings
from learning.data import common_in_plane, pad_in_plane
from learning.models import ModelKind, ModelVersion
from learning.nets.shape_dae import ShapeDAE, ShapeDAEConfig, build_shape_dae, corrupt, reconstruct, train_shape_dae
from learning.services.training import (
    decide_promotion,
    inputs_key_of,
    labelled_cases,
    register_version,
    training_split,
)
from learning.services.weights import load_weights
from learning.uncertainty import aggregate, anatomical_uncertainty

__all__ = ["run_training", "evaluate_and_promote", "load", "label_slices", "case_anatomical"]

Progress = Callable[[float, str], None]
MAX_SLICES = 8000
_VAL_SEED = 1234  # the same corruptions for every version, so validation figures compare


def label_slices(labels: list[np.ndarray], *, hw: tuple[int, int], rng: np.random.Generator,
                 empty_fraction: float = 0.1, max_slices: int = MAX_SLICES) -> np.ndarray:
    """``(S, H, W)`` uint8 axial slices of ``(Z, Y, X)`` labels: every outlined slice and
    ``empty_fraction`` as many empty ones (so "nothing there" stays a plausible shape), padded."""
    out = []
    for lab in labels:
        fg = lab.any(axis=(1, 2))
        pos, neg = np.flatnonzero(fg), np.flatnonzero(~fg)
        k = min(len(neg), int(np.ceil(empty_fraction * len(pos))))
        zs = np.sort(np.concatenate([pos, rng.choice(neg, size=k, replace=False)])) if k else pos
        out.append(pad_in_plane(lab[zs], hw, 0))
    s = np.concatenate(out).astype(np.uint8) if out else np.zeros((0, *hw), np.uint8)
    if len(s) > max_slices:
        s = s[np.sort(rng.choice(len(s), size=max_slices, replace=False))]
    return s


def run_training(*, project: Project, device, job: Job | None = None, progress: Progress | None = None) -> ModelVersion:
    """Train a shape-DAE candidate on the consensus slices of the training cases; register it."""
    report = progress or (lambda f, m: None)
    state, data, val = training_split(project)
    train = [d for d in data if d.case.pk not in val]
    if not train:
        raise InvalidInput(f"project {project.slug}: every labelled case is a validation case; label more cases")
    net, opt = shape_dae_settings(state.train_config.get("shape_dae"))
    hw = common_in_plane([d.case.volume.shape for d in train], net.divisor)
    config = {"net": net.to_dict(), **opt, "in_plane": list(hw)}
    trained_on = sorted(k for d in train for k in d.keys)
    inputs_key = inputs_key_of(config, trained_on, sorted(val))
    existing = ModelVersion.objects.filter(project=project, kind=ModelKind.SHAPE_DAE, inputs_key=inputs_key).first()
    if existing is not None:
        return existing
    rng = np.random.default_rng(project.pk)
    masks = label_slices([d.mask().astype(np.uint8) for d in train], hw=hw, rng=rng)
    if not masks.any():
        raise InvalidInput(f"project {project.slug}: the training cases' labels are empty; a shape prior needs shapes")
    report(0.02, f"training the shape prior on {len(masks)} label slices of {len(train)} cases")
    model = train_shape_dae(masks, config=net, iterations=opt["iterations"], batch_size=opt["batch_size"], lr=opt["lr"],
                            rng=rng, device=device,
                            progress=lambda f, info: report(0.02 + 0.95 * f, f"loss {info['loss']:.4f}"))
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    version = register_version(
        project=project, kind=ModelKind.SHAPE_DAE, config=config, weights=buf.getvalue(), trained_on=trained_on,
        validation_cases=sorted(val), n_labelled=len(data), job=job, inputs_key=inputs_key,
        metrics={"n_slices": len(masks), "iterations": opt["iterations"]})
    report(1.0, f"registered shape_dae v{version.number}")
    return version


def load(version: ModelVersion) -> tuple[dict, ShapeDAE]:
    """(stored config, eval-mode DAE on CPU) of a shape-prior version, weights checksum-verified."""
    if version.kind != ModelKind.SHAPE_DAE:
        raise InvalidInput(f"model version {version.pk} is a {version.kind}, not a shape prior")
    model = build_shape_dae(ShapeDAEConfig(**{**version.config["net"], "channels": tuple(version.config["net"]["channels"])}))
    state = torch.load(io.BytesIO(load_weights(version.weights_url, version.weights_sha256)), map_location="cpu",
                       weights_only=True)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:  # weights of an earlier DAE layout (transposed-convolution decoder)
        raise InvalidInput(f"shape prior v{version.number} was trained with an earlier DAE architecture; "
                           f"train a new shape prior ({str(e).splitlines()[0]})") from e
    return version.config, model.eval()


def _padded(config: dict, shape: tuple[int, ...]) -> tuple[int, int]:
    return common_in_plane([config["in_plane"], shape], 2 ** len(config["net"]["channels"]))


def case_anatomical(prob: np.ndarray, model: ShapeDAE, config: dict, *, device) -> float:
    """Anatomically-aware uncertainty of one case: ``(Z, Y, X)`` foreground probabilities -> the
    summed squared prediction-reconstruction difference per predicted-foreground voxel."""
    hw = _padded(config, prob.shape)
    u = anatomical_uncertainty(pad_in_plane(prob.astype(np.float32), hw, 0.0), model, device=device)
    return aggregate(u[:, : prob.shape[1], : prob.shape[2]], how="fg_ratio", foreground=prob)


def evaluate_and_promote(*, version: ModelVersion, device, progress: Progress | None = None) -> dict:
    """Denoising Dice on corrupted consensus slices of the fixed validation cases; promote if higher."""
    report = progress or (lambda f, m: None)
    config, model = load(version)
    ids = set(version.validation_cases)
    val = [d for d in labelled_cases(version.project) if d.case.pk in ids]
    per_case: dict[int, float] = {}
    rng = np.random.default_rng(_VAL_SEED)
    for k, d in enumerate(val, 1):
        lab = d.mask().astype(np.uint8)
        zs = np.flatnonzero(lab.any(axis=(1, 2)))
        if len(zs) == 0:
            continue
        hw = _padded(config, lab.shape)
        clean = pad_in_plane(lab[zs], hw, 0)
        noisy = np.stack([corrupt(m, rng) for m in clean])
        per_case[d.case.pk] = dice(reconstruct(model, noisy, device=device) >= 0.5, clean)
        report(k / max(1, len(val)), f"validated {k} cases")
    value = float(np.mean(list(per_case.values()))) if per_case else None
    return decide_promotion(version, metric="val_denoise_dice", value=value, per_case=per_case,
                            higher_is_better=True, follow_up=(jobs.SCORE,))

