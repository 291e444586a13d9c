"""Training, evaluation and promotion of project models, with lineage (worker side: imports torch).

Starting, queueing and rolling back trainings is ``learning.services.registry`` (no torch, so the
web process stays light).

- ``run_training`` builds the dataset from the store (readers, no whole-volume loads of training
  images), trains, writes the weights to the store and registers a candidate version. The same
  inputs (config + exact label versions + validation cases) give the same version: a rerun
  returns the existing row instead of a duplicate.
- ``evaluate_and_promote`` scores a candidate on the project's fixed validation cases and promotes
  it only if it beats the promoted version; ``rollback`` re-promotes the previous one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from annotation.metrics.consensus import majority_vote
from annotation.metrics.overlap import dice
from annotation.models import LabelKind, LabelVersion
from core import jobs
from core.errors import InvalidInput
from core.models import Case, Job, Project
from core.storage import open_volume
from learning.configs import segmenter_config, voxel_dtype
from learning.data import ArrayReader, TrainItem
from learning.infer import predict
from learning.models import CurvePoint, ModelStatus, ModelVersion, ProjectLearning
from learning.readers import StoreImageReader, StoreLabelReader
from learning.services.registry import learning_state, promoted
from learning.services.weights import load_weights, save_weights
from learning.train import TrainConfig, load_model, train

__all__ = ["labelled_cases", "build_config", "run_training", "evaluate_and_promote", "load_version",
           "validation_ids", "training_split", "inputs_key_of", "register_version", "decide_promotion",
           "collapse_reason", "rater_masks"]

Progress = Callable[[float, str], None]


@dataclass(eq=False)
class Labelled:
    """A labelled case and the exact label versions its training target comes from.

    The target is read from the store on first use: PULASki and the split need only the case and the
    keys (PULASki reads every rater's mask itself), so listing the labelled cases reads no label.
    """

    case: Case
    versions: tuple[LabelVersion, ...]  # one consensus / adjudicated version, or each rater's newest

    @property
    def keys(self) -> tuple[str, ...]:
        """The exact label versions the target comes from (their ids)."""
        return tuple(str(v.pk) for v in self.versions)

    def mask(self) -> np.ndarray:
        """The whole target as a ``(Z, Y, X)`` bool foreground mask."""
        return self.target.read(tuple(slice(0, s) for s in self.target.shape)) > 0

    @cached_property
    def target(self) -> ArrayReader | StoreLabelReader:
        """The consensus (or adjudicated) label, else the raters' majority vote (ties: background)."""
        store = open_volume(self.case.volume.store_url)
        spacing = tuple(self.case.volume.spacing)
        if self.versions[0].kind in (LabelKind.CONSENSUS, LabelKind.ADJUDICATED):
            return StoreLabelReader(store.open_label(self.versions[0].store_label), spacing)
        stack = np.stack([store.open_label(v.store_label).read() for v in self.versions])
        target = majority_vote(stack) if len(self.versions) > 1 else stack[0]
        return ArrayReader(np.ascontiguousarray(target, dtype=np.uint8), spacing)


def _newest_per_rater(versions) -> list[LabelVersion]:  # noqa: ANN001
    """Each rater's newest submitted version among ``versions`` (oldest first), in id order."""
    newest: dict[int, LabelVersion] = {}
    for v in versions:
        if v.kind == LabelKind.RATER:
            newest[v.rater_id] = v
    return sorted(newest.values(), key=lambda v: v.pk)


def _target(case: Case) -> Labelled | None:
    """Consensus (or adjudicated) label when published, else the raters' majority vote (not read yet)."""
    versions = list(LabelVersion.objects.filter(case=case).order_by("created_at", "id"))
    consensus = [v for v in versions if v.kind in (LabelKind.CONSENSUS, LabelKind.ADJUDICATED)]
    chosen = consensus[-1:] or _newest_per_rater(versions)
    if not chosen:
        return None
    return Labelled(case, tuple(chosen))


def rater_masks(case: Case) -> tuple[np.ndarray, tuple[str, ...]] | None:
    """``(R, Z, Y, X)`` uint8 {0, 1} masks of each rater's newest submitted version of the case (in
    version id order) and those versions' keys; None when no rater has submitted."""
    chosen = _newest_per_rater(LabelVersion.objects.filter(case=case, kind=LabelKind.RATER).order_by("created_at", "id"))
    if not chosen:
        return None
    store = open_volume(case.volume.store_url)
    return (np.stack([(store.open_label(v.store_label).read() > 0).astype(np.uint8) for v in chosen]),
            tuple(str(v.pk) for v in chosen))


def labelled_cases(project: Project) -> list[Labelled]:
    ids = LabelVersion.objects.filter(case__project=project).values("case").distinct()
    cases = Case.objects.filter(pk__in=ids).select_related("volume").order_by("id")
    return [t for c in cases if (t := _target(c)) is not None]


def build_config(project: Project, data: list[Labelled], *, overrides: dict | None = None, seed: int = 0) -> TrainConfig:
    """The segmenter's config for the labelled cases' volumes (``learning.configs.default_train_config``)
    with the project's overrides."""
    return segmenter_config([c.case.volume.shape for c in data], voxel_dtype([c.case.volume.dtype for c in data]),
                            overrides, seed=seed)


def validation_ids(state: ProjectLearning, data: list[Labelled]) -> list[int]:
    """The project's fixed validation cases, chosen once (seeded by the project id) and kept."""
    if not state.validation_case_ids:
        ids = sorted(d.case.pk for d in data)
        rng = np.random.default_rng(state.project_id)
        n = max(1, round(0.2 * len(ids)))
        state.validation_case_ids = sorted(int(i) for i in rng.choice(ids, size=n, replace=False))
        state.save(update_fields=["validation_case_ids"])
    return list(state.validation_case_ids)


def _item(d: Labelled) -> TrainItem:
    return TrainItem(image=StoreImageReader(open_volume(d.case.volume.store_url)), label=d.target)


def training_split(project: Project) -> tuple[ProjectLearning, list[Labelled], set[int]]:
    """(learning state, every labelled case, the fixed validation case ids); refuses < 2 labelled cases."""
    state = learning_state(project)
    data = labelled_cases(project)
    if len(data) < 2:
        raise InvalidInput(f"project {project.slug} has {len(data)} labelled case(s); training needs at least 2")
    return state, data, set(validation_ids(state, data))


def run_training(*, project: Project, kind: str, device, job: Job | None = None,
                 progress: Progress | None = None) -> ModelVersion:
    """Train a new candidate on every labelled case outside the validation set and register it."""
    report = progress or (lambda f, m: None)
    state, data, val_ids = training_split(project)
    train_data = [d for d in data if d.case.pk not in val_ids]
    val_data = [d for d in data if d.case.pk in val_ids]
    if not train_data:
        raise InvalidInput(f"project {project.slug}: every labelled case is a validation case; label more cases")
    config = build_config(project, data, overrides=state.train_config)
    trained_on = sorted(k for d in train_data for k in d.keys)
    inputs_key = inputs_key_of(config.to_dict(), trained_on, sorted(val_ids))
    existing = ModelVersion.objects.filter(project=project, kind=kind, inputs_key=inputs_key).first()
    if existing is not None:
        return existing  # same inputs, same artefact: a redelivered or repeated job
    report(0.02, f"training on {len(train_data)} cases, validating on {len(val_data)}")
    result = train(config, [_item(d) for d in train_data], [_item(d) for d in val_data], device=device,
                   progress=lambda f, info: report(0.02 + 0.9 * f, f"epoch {info.get('epoch', '?')}"))
    version = register_version(
        project=project, kind=kind, config=config.to_dict(), weights=result.state_dict, trained_on=trained_on,
        validation_cases=sorted(val_ids), n_labelled=len(data), job=job, inputs_key=inputs_key,
        metrics={"train_val_dice": _finite(result.best_val_dice), "best_epoch": result.best_epoch,
                 "iterations": result.iterations, "elapsed_s": result.elapsed_s,
                 "history": [dict(h) for h in result.history][-50:]})
    report(1.0, f"registered {kind} v{version.number}")
    return version


def inputs_key_of(config: dict, trained_on: list[str], validation_cases: list[int]) -> str:
    """Identity of a training's inputs: the same config, label versions and validation cases give
    the same key, so a redelivered job finds the version it already registered."""
    return hashlib.sha256(json.dumps({"config": config, "trained_on": trained_on, "val": sorted(validation_cases)},
                                     sort_keys=True).encode()).hexdigest()


def register_version(*, project: Project, kind: str, config: dict, weights: bytes, trained_on: list[str],
                     validation_cases: list[int], n_labelled: int, job: Job | None, inputs_key: str,
                     metrics: dict) -> ModelVersion:
    """Store the weights, register a candidate version (child of the promoted one) and queue its
    evaluation, in one transaction; a concurrent twin with the same inputs wins and is returned."""
    url, sha = save_weights(weights)
    parent = promoted(project, kind)
    try:
        with transaction.atomic():
            number = (ModelVersion.objects.filter(project=project, kind=kind).aggregate(n=Max("number"))["n"] or 0) + 1
            version = ModelVersion.objects.create(
                project=project, kind=kind, number=number, config=config, weights_url=url,
                weights_sha256=sha, trained_on=trained_on, validation_cases=validation_cases,
                n_labelled_cases=n_labelled, parent=parent, job=job, inputs_key=inputs_key, metrics=metrics)
            ProjectLearning.objects.filter(project=project).update(labels_at_last_training=_label_count(project))
            jobs.enqueue(jobs.EVALUATE, project=project, model_version_id=version.pk)
    except IntegrityError:
        return ModelVersion.objects.get(project=project, kind=kind, inputs_key=inputs_key)
    return version


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _label_count(project: Project) -> int:
    return LabelVersion.objects.filter(case__project=project).values("case").distinct().count()


def load_version(version: ModelVersion):  # noqa: ANN201
    """(TrainConfig, model) of a registered version, weights checksum-verified."""
    config = TrainConfig.from_dict(version.config)
    return config, load_model(config, load_weights(version.weights_url, version.weights_sha256))


def evaluate_and_promote(*, version: ModelVersion, device, progress: Progress | None = None) -> dict:
    """Dice of the version on the fixed validation cases; promote it if it beats the promoted one."""
    report = progress or (lambda f, m: None)
    config, model = load_version(version)
    infer = config.infer_config()
    scores = {}
    outlined = predicted = 0  # validation cases with foreground in the target, and those the model found any in
    cases = Case.objects.filter(pk__in=version.validation_cases).select_related("volume")
    for n, case in enumerate(cases, 1):
        labelled = _target(case)
        if labelled is None:
            continue
        prob = predict(StoreImageReader(open_volume(case.volume.store_url)), model, config=infer, device=device)
        pred = (prob >= 0.5) if prob.ndim == 3 else prob.argmax(0) > 0
        target = labelled.mask()
        scores[case.pk] = float(dice(pred, target))
        if target.any():
            outlined += 1
            predicted += bool(pred.any())
        report(n / max(1, len(version.validation_cases)), f"validated {n} cases")
    mean = float(np.mean(list(scores.values()))) if scores else None
    presence = predicted / outlined if outlined else None
    return decide_promotion(version, metric="val_dice", value=mean, per_case=scores, higher_is_better=True,
                            follow_up=(jobs.PRESEGMENT, jobs.SCORE),
                            refuse=collapse_reason(presence, "every prediction is empty on every validation case "
                                                             "with a label"),
                            extra={"val_prediction_presence": presence})


def collapse_reason(presence: float | None, what: str) -> str | None:
    """Why a version is refused as collapsed, or None.

    Why: a net can collapse to empty outputs (3D PULASki on LIDC seed 1: its loss never left its
    starting level; a segmenter stuck on background everywhere). Its metric is still finite, so it
    would be promoted as a project's first version, pre-segment nothing and rank every case as
    certain. ``presence`` is the share of validation outputs with foreground where the labels have
    some; only 0 is refused (a sparse but live version is left to the metric); None (nothing to
    check) is not. ``what`` says which outputs were empty, for the reason.
    """
    return f"collapsed: {what}" if presence == 0.0 else None


def decide_promotion(version: ModelVersion, *, metric: str, value: float | None, per_case: dict,
                     higher_is_better: bool, follow_up: tuple[str, ...], refuse: str | None = None,
                     extra: dict | None = None) -> dict:
    """Promote ``version`` if its validation ``metric`` beats the promoted version's (retiring that
    one and queueing ``follow_up`` jobs), else reject it; add a learning-curve point either way.

    ``refuse``: a reason to reject whatever the metric says (a degenerate model can still score, and a
    project's first version has nothing to lose against), stored as ``metrics["rejected_because"]``.
    ``extra``: further validation figures stored beside the metric.
    """
    with transaction.atomic():
        # one decision at a time per project (the learning state row is the lock), and once only per
        # version: a redelivered or concurrent evaluation returns the recorded outcome
        ProjectLearning.objects.select_for_update().get_or_create(project=version.project)
        me = ModelVersion.objects.get(pk=version.pk)
        if me.status != ModelStatus.CANDIDATE:
            done = {"model_version": me.pk, metric: me.metrics.get(metric), "promoted": me.status == ModelStatus.PROMOTED,
                    f"compared_{metric}": me.metrics.get(f"compared_{metric}"), "already_decided": True}
            reason = me.metrics.get("rejected_because")
            return {**done, "rejected_because": reason} if reason is not None else done
        current = ModelVersion.objects.filter(
            project=version.project, kind=version.kind, status=ModelStatus.PROMOTED).first()
        best = (current.metrics.get(metric) if current else None)
        better = refuse is None and value is not None and (
            current is None or best is None or (value > best if higher_is_better else value < best))
        metrics = {**version.metrics, **(extra or {}), metric: value, f"{metric}_per_case": per_case,
                   "compared_with": current.pk if current else None, f"compared_{metric}": best}
        if refuse is not None:
            metrics["rejected_because"] = refuse
        if better:
            if current is not None:
                ModelVersion.objects.filter(pk=current.pk).update(status=ModelStatus.RETIRED)
            ModelVersion.objects.filter(pk=version.pk).update(status=ModelStatus.PROMOTED, metrics=metrics,
                                                             promoted_at=timezone.now())
            for name in follow_up:
                jobs.enqueue(name, project=version.project, project_id=version.project_id)
        else:
            ModelVersion.objects.filter(pk=version.pk).update(status=ModelStatus.REJECTED, metrics=metrics)
        CurvePoint.objects.create(project=version.project, model_version=version,
                                  n_labelled=version.n_labelled_cases,
                                  metrics={metric: value, "promoted": better, "kind": version.kind})
    out = {"model_version": version.pk, metric: value, "promoted": better, f"compared_{metric}": best}
    return {**out, "rejected_because": refuse} if refuse is not None else out
