"""One entry per trainable model kind: how a version of it is trained, and how it is validated
and promoted (segmenter: Dice vs consensus; PULASki: GED vs the raters). Tasks and commands call
these, so a new kind is added here once. Shape prior: denoising Dice on corrupted validation labels."""

from __future__ import annotations

from collections.abc import Callable

from core.errors import InvalidInput
from core.models import Job, Project
from learning.models import ModelKind, ModelVersion
from learning.services import pulaski, shape_prior, training

__all__ = ["train", "evaluate"]

Progress = Callable[[float, str], None]


def train(*, project: Project, kind: str, device, job: Job | None = None,  # noqa: ANN001
          progress: Progress | None = None) -> ModelVersion:
    """Train and register a candidate version of ``kind``."""
    if kind == ModelKind.SEGMENTER:
        return training.run_training(project=project, kind=kind, device=device, job=job, progress=progress)
    if kind == ModelKind.PULASKI:
        return pulaski.run_training(project=project, device=device, job=job, progress=progress)
    if kind == ModelKind.SHAPE_DAE:
        return shape_prior.run_training(project=project, device=device, job=job, progress=progress)
    raise InvalidInput(f"model kind {kind!r} cannot be trained here; trainable: {', '.join(ModelKind.values)}")


def evaluate(*, version: ModelVersion, device, progress: Progress | None = None) -> dict:  # noqa: ANN001
    """Validate a candidate and promote it if it beats the promoted version of its kind."""
    if version.kind == ModelKind.PULASKI:
        return pulaski.evaluate_and_promote(version=version, device=device, progress=progress)
    if version.kind == ModelKind.SHAPE_DAE:
        return shape_prior.evaluate_and_promote(version=version, device=device, progress=progress)
    return training.evaluate_and_promote(version=version, device=device, progress=progress)
