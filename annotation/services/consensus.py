"""Agreement and consensus of a case's raters: report, STAPLE / majority consensus, adjudication.

When a case has all its raters, its agreement report is computed; above the project's threshold
the STAPLE consensus is published and the case closes, below it the case is flagged for an
adjudicator, who publishes a consensus (STAPLE, majority vote or one chosen version).
"""

from __future__ import annotations

import uuid

import numpy as np
from django.db import transaction

from annotation.metrics.consensus import majority_vote
from annotation.metrics.report import agreement_report
from annotation.metrics.staple import staple
from annotation.models import CaseAgreement, LabelKind, LabelVersion
from annotation.services.drafts import latest_versions, open_store
from core.errors import Conflict, InvalidInput
from core.models import Case, CaseStatus

__all__ = ["rater_stack", "compute_agreement", "publish_consensus", "settle_case", "METHODS"]

METHODS = ("staple", "majority", "version")


def rater_stack(case: Case) -> tuple[np.ndarray, list[LabelVersion]]:
    """(R, Z, Y, X) uint8 stack of each rater's newest version, with the versions (sorted by rater)."""
    versions = sorted(latest_versions(case, kinds=[LabelKind.RATER]).values(), key=lambda v: v.rater.username)
    if len(versions) < 2:
        raise InvalidInput(f"case {case.pk} has {len(versions)} submitted rater(s); agreement needs 2")
    store = open_store(case)
    return np.stack([store.open_label(v.store_label).read() for v in versions]), versions


def _labels(case: Case, stack: np.ndarray) -> list[int]:
    schema = [int(s["value"]) for s in case.project.label_schema]
    present = set(np.unique(stack).tolist()) - {0}
    return sorted(set(schema) | present) or [1]


def compute_agreement(case: Case) -> CaseAgreement:
    """Compute and store the case's agreement report on its raters' newest versions."""
    stack, versions = rater_stack(case)
    spacing_zyx = case.volume.geometry.spacing_zyx
    report = agreement_report(stack, spacing=spacing_zyx, labels=_labels(case, stack),
                              rater_names=[v.rater.username for v in versions])
    data = report.to_dict()
    mean = float(report.case_agreement) if np.isfinite(report.case_agreement) else None
    flagged = mean is None or mean < case.project.agreement_threshold
    agreement, _ = CaseAgreement.objects.update_or_create(
        case=case, defaults={"report": data, "mean_dice": mean, "versions": [v.pk for v in versions],
                             "flagged": flagged})
    return agreement


def publish_consensus(*, case: Case, method: str, version_id: int | None = None, by=None) -> LabelVersion:
    """Publish a consensus version of the case and close it.

    Args:
        method: "staple" (binary or multi-class STAPLE), "majority", or "version" (adopt one
            rater's version, chosen by an adjudicator).
    """
    if method not in METHODS:
        raise InvalidInput(f"method {method!r}: expected one of {', '.join(METHODS)}")
    store = open_store(case, "r+")
    meta: dict = {"method": method}
    if method == "version":
        chosen = LabelVersion.objects.filter(case=case, pk=version_id).first()
        if chosen is None:
            raise InvalidInput(f"version {version_id} is not a label of case {case.pk}")
        array = store.open_label(chosen.store_label).read()
        meta["from_version"] = chosen.pk
    else:
        stack, versions = rater_stack(case)
        meta["from_versions"] = [v.pk for v in versions]
        binary = stack.max() <= 1
        if method == "majority":
            array = majority_vote(stack)
        else:
            result = staple(stack) if binary else staple(stack, n_classes=int(stack.max()) + 1)
            array = result.consensus
            meta["sensitivity"] = dict(zip([v.rater.username for v in versions],
                                           np.asarray(result.sensitivity).tolist()))
            meta["specificity"] = dict(zip([v.rater.username for v in versions],
                                           np.asarray(result.specificity).tolist()))
        # "undecided" multi-class voxels (value C) become background
        array = np.where(array > max(_labels(case, stack)), 0, array).astype(np.uint8)
    kind = LabelKind.ADJUDICATED if by is not None else LabelKind.CONSENSUS
    name = f"{kind}-{uuid.uuid4().hex[:12]}"
    label = store.create_label(name, array.astype(np.uint8), colors=None, source_version=None)
    try:
        with transaction.atomic():
            locked = Case.objects.select_for_update().get(pk=case.pk)
            parent = LabelVersion.objects.filter(case=case, kind__in=[LabelKind.CONSENSUS, LabelKind.ADJUDICATED]
                                                 ).order_by("-created_at", "-id").first()
            number = (LabelVersion.objects.filter(case=case, kind=kind).count()) + 1
            version = LabelVersion.objects.create(case=locked, rater=by, kind=kind, number=number, parent=parent,
                                                  store_label=name, checksum=label.checksum(), source=method,
                                                  meta=meta)
            Case.objects.filter(pk=case.pk).update(status=CaseStatus.CLOSED)
            CaseAgreement.objects.filter(case=case).update(flagged=False)
            return version
    except Exception:
        store.delete_label(name)
        raise


def settle_case(case: Case) -> dict:
    """After the last rater submits: report, then automatic STAPLE consensus or adjudication flag."""
    if case.status == CaseStatus.CLOSED:
        raise Conflict(f"case {case.pk} is already closed")
    agreement = compute_agreement(case)
    result = {"case_id": case.pk, "mean_dice": agreement.mean_dice, "flagged": agreement.flagged}
    if not agreement.flagged:
        result["consensus_version"] = publish_consensus(case=case, method="staple").pk
    return result
