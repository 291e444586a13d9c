"""Numbers for project managers: progress, throughput, agreement over time and by rater."""

from __future__ import annotations

from collections import defaultdict
from statistics import median

import numpy as np
from django.db.models import Count

from annotation.models import Assignment, AssignmentStatus, CaseAgreement
from core.models import Case, CaseStatus, Job, Project

__all__ = ["project_stats", "AGREEMENT_BINS"]

AGREEMENT_BINS = [round(x, 1) for x in np.linspace(0, 1, 11)]


def _rater_performance(agreements: list[CaseAgreement]) -> list[dict]:
    """Mean STAPLE sensitivity/specificity and mean pairwise Dice of each rater over cases."""
    sens, spec, dice = defaultdict(list), defaultdict(list), defaultdict(list)
    for a in agreements:
        names = a.report.get("rater_names", [])
        for s in a.report.get("structures", {}).values():
            for i, name in enumerate(names):
                sens[name].append(s["staple_sensitivity"][i])
                spec[name].append(s["staple_specificity"][i])
                row = [d for j, d in enumerate(s["dice"][i]) if j != i and d is not None]
                if row:
                    dice[name].append(float(np.mean(row)))
    return [{"rater": r, "cases": len(sens[r]), "sensitivity": float(np.mean(sens[r])),
             "specificity": float(np.mean(spec[r])),
             "mean_dice": float(np.mean(dice[r])) if dice[r] else None} for r in sorted(sens)]


def _throughput(project: Project) -> list[dict]:
    out = []
    rows = (Assignment.objects.filter(case__project=project, status=AssignmentStatus.SUBMITTED)
            .exclude(rater__is_active=False).select_related("rater").order_by("rater__username"))
    by_rater: dict[str, list] = defaultdict(list)
    for a in rows:
        by_rater[a.rater.username].append(a)
    for name, items in by_rater.items():
        durations = [(a.submitted_at - a.created_at).total_seconds() for a in items if a.submitted_at]
        span_h = max((max(a.submitted_at for a in items) - min(a.created_at for a in items)).total_seconds()
                     / 3600, 1e-9)
        out.append({"rater": name, "submitted": len(items), "cases_per_hour": len(items) / span_h,
                    "median_minutes_per_case": median(durations) / 60 if durations else None})
    return out


def project_stats(project: Project) -> dict:
    """The manager dashboard's data for one project."""
    by_status = dict(Case.objects.filter(project=project).values_list("status").annotate(n=Count("id")))
    agreements = list(CaseAgreement.objects.filter(case__project=project).order_by("computed_at"))
    means = [a.mean_dice for a in agreements if a.mean_dice is not None]
    hist, _ = np.histogram(means, bins=AGREEMENT_BINS) if means else (np.zeros(10, int), None)
    daily: dict[str, list[float]] = defaultdict(list)
    for a in agreements:
        if a.mean_dice is not None:
            daily[a.computed_at.date().isoformat()].append(a.mean_dice)
    jobs = Job.objects.filter(project=project).order_by("-created_at")[:20]
    return {
        "progress": {"total": sum(by_status.values()), "new": by_status.get(CaseStatus.NEW, 0),
                     "in_progress": by_status.get(CaseStatus.IN_PROGRESS, 0),
                     "closed": by_status.get(CaseStatus.CLOSED, 0),
                     "assignments_open": Assignment.objects.filter(case__project=project,
                                                                   status=AssignmentStatus.ASSIGNED).count()},
        "throughput": _throughput(project),
        "agreement_over_time": [{"date": d, "mean_dice": float(np.mean(v)), "cases": len(v)}
                                for d, v in sorted(daily.items())],
        "agreement_distribution": {"bins": AGREEMENT_BINS, "counts": [int(c) for c in hist]},
        "per_rater": _rater_performance(agreements),
        "low_agreement": [{"case_id": a.case_id, "mean_dice": a.mean_dice} for a in agreements if a.flagged],
        "jobs": [{"id": j.pk, "kind": j.kind, "status": j.status, "progress": j.progress, "message": j.message}
                 for j in jobs],
    }
