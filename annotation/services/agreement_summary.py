"""Project-wide agreement summary (the ``agreement`` command and exports of the manager view)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np

from annotation.models import LabelKind, LabelVersion
from annotation.services.consensus import compute_agreement
from core.models import Case, Project

__all__ = ["project_agreement"]


def project_agreement(project: Project, *, progress: Callable[[int, int], None] | None = None) -> dict:
    """Compute (and store) the agreement of each case with >= 2 raters; summarise per case and rater."""
    case_ids = (LabelVersion.objects.filter(case__project=project, kind=LabelKind.RATER)
                .values("case").distinct().values_list("case", flat=True))
    cases = list(Case.objects.filter(pk__in=case_ids).select_related("volume", "project").order_by("id"))
    out_cases, per_rater = [], defaultdict(lambda: defaultdict(list))
    for n, case in enumerate(cases, 1):
        if LabelVersion.objects.filter(case=case, kind=LabelKind.RATER).values("rater").distinct().count() < 2:
            continue
        report = compute_agreement(case).report
        names = report["rater_names"]
        structures = {}
        for label, st in report["structures"].items():
            structures[label] = {
                "pairwise_dice": st["dice"], "pairwise_hd95_mm": st["hd95_mm"],
                "fleiss_kappa": st["fleiss_kappa"], "mean_pairwise_dice": st["mean_pairwise_dice"],
                "staple": {name: {"sensitivity": st["staple_sensitivity"][i],
                                  "specificity": st["staple_specificity"][i]} for i, name in enumerate(names)},
            }
            for i, name in enumerate(names):
                others = [d for j, d in enumerate(st["dice"][i]) if j != i and d is not None]
                per_rater[name]["dice"].append(float(np.mean(others)) if others else np.nan)
                per_rater[name]["sensitivity"].append(st["staple_sensitivity"][i])
                per_rater[name]["specificity"].append(st["staple_specificity"][i])
        first = next(iter(structures.values()))
        out_cases.append({"case_id": case.pk, "name": case.name, "raters": names,
                          "mean_dice": report["case_agreement"], "fleiss_kappa": first["fleiss_kappa"],
                          "structures": structures})
        if progress:
            progress(n, len(cases))
    raters = {name: {"cases": len(v["dice"]), "mean_dice": float(np.nanmean(v["dice"])),
                     "sensitivity": float(np.mean(v["sensitivity"])),
                     "specificity": float(np.mean(v["specificity"]))} for name, v in sorted(per_rater.items())}
    return {"project": project.slug, "cases": out_cases, "raters": raters}
