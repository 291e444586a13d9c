"""Pre-segmentation: the promoted segmenter's probability map and mask written into a case's
group, slab by slab, then published on the case (drafts start from it)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from django.db import transaction

from annotation.models import LabelVersion
from core.errors import Conflict, NotFound
from core.models import Case, CaseStatus, Project
from core.storage import LabelStore, open_volume
from learning.infer import predict
from learning.models import ModelKind, ModelVersion, Prediction
from learning.readers import StoreImageReader
from learning.services.registry import promoted
from learning.services.training import load_version

__all__ = ["presegment_case", "presegment_project", "unlabelled_cases"]

Progress = Callable[[float, str], None]


class _ProbabilityLabelWriter:
    """Writes each finished Z slab of foreground probability as uint8 (P x 255) into a label."""

    def __init__(self, label: LabelStore) -> None:
        self.label = label

    def write(self, region, probs: np.ndarray) -> None:  # noqa: ANN001
        fg = probs[1] if probs.ndim == 4 and probs.shape[0] == 2 else probs
        if fg.ndim == 4:  # multi-class: probability of "any structure"
            fg = 1.0 - fg[0]
        self.label.write_region(tuple(region), np.clip(np.rint(fg * 255), 0, 255).astype(np.uint8))


def presegment_case(*, case: Case, version: ModelVersion, device, model=None, config=None) -> Prediction:
    """Predict the case with ``version`` (idempotent: an existing prediction is returned)."""
    existing = Prediction.objects.filter(case=case, model_version=version).first()
    if existing is not None:
        return existing
    if model is None:
        config, model = load_version(version)
    store = open_volume(case.volume.store_url, mode="r+")
    prob_name, seg_name = f"prob-m{version.pk}", f"preseg-m{version.pk}"
    for name in (prob_name, seg_name):  # leftovers of an interrupted run are redone
        if name in store.label_names():
            store.delete_label(name)
    prob_label = store.create_label(prob_name, None)
    try:
        prob = predict(StoreImageReader(store), model, config=config.infer_config(), device=device,
                       out=_ProbabilityLabelWriter(prob_label))
        fg = prob if prob.ndim == 3 else (prob[1] if prob.shape[0] == 2 else prob.argmax(0))
        seg = (fg >= 0.5).astype(np.uint8) if prob.ndim == 3 or prob.shape[0] == 2 else fg.astype(np.uint8)
        store.create_label(seg_name, seg)
        with transaction.atomic():
            row = Prediction.objects.create(case=case, model_version=version, probability_label=prob_name,
                                            segmentation_label=seg_name)
            Case.objects.filter(pk=case.pk).update(presegmentation_label=seg_name)
        return row
    except Exception:
        for name in (prob_name, seg_name):
            if name in store.label_names():
                store.delete_label(name)
        raise


def unlabelled_cases(project: Project):  # noqa: ANN201
    labelled = LabelVersion.objects.filter(case__project=project).values("case")
    return (Case.objects.filter(project=project, status=CaseStatus.NEW).exclude(pk__in=labelled)
            .select_related("volume").order_by("-priority", "created_at", "id"))


def presegment_project(*, project: Project, device, case_ids: list[int] | None = None,
                       progress: Progress | None = None) -> dict:
    """Pre-segment the unlabelled cases (or ``case_ids``) with the promoted segmenter."""
    report = progress or (lambda f, m: None)
    version = promoted(project, ModelKind.SEGMENTER)
    if version is None:
        raise NotFound(f"project {project.slug} has no promoted segmenter yet: train one first")
    cases = list(Case.objects.filter(project=project, pk__in=case_ids).select_related("volume")
                 if case_ids else unlabelled_cases(project))
    if case_ids and len(cases) != len(set(case_ids)):
        raise Conflict(f"some of the cases {case_ids} are not in project {project.slug}")
    config, model = load_version(version)
    done = []
    for n, case in enumerate(cases, 1):
        done.append(presegment_case(case=case, version=version, device=device, model=model, config=config).pk)
        report(n / len(cases), f"{n}/{len(cases)} cases")
    return {"model_version": version.pk, "predictions": done, "cases": [c.pk for c in cases]}
