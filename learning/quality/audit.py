"""Bias audit: does (estimated) segmentation quality differ between subgroups of cases?

Why: a model can fail silently on a subgroup (contrast / no contrast, thick slices, a site, a sex).
With RCA-estimated Dice the audit runs on unlabelled cases; where true labels exist, the true gap is
reported beside the estimated one so the estimate can be checked.

Per attribute with two groups: ΔDSC = mean(group a) - mean(group b) (groups in sorted order); with
more groups each group is compared with the rest. Bootstrap percentile CI (resampling within each
group) and a two-sided permutation test p-value ((count + 1) / (n_perm + 1)).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["GroupComparison", "AuditResult", "bias_audit", "compare_groups"]


@dataclass(frozen=True)
class GroupComparison:
    """One comparison of two groups of one attribute."""

    attribute: str
    group_a: str
    group_b: str
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    delta: float
    ci_low: float
    ci_high: float
    p_value: float
    true_delta: float | None = None
    true_ci_low: float | None = None
    true_ci_high: float | None = None
    true_p_value: float | None = None

    @property
    def significant(self) -> bool:
        return self.p_value < 0.05


@dataclass(frozen=True)
class AuditResult:
    """All comparisons of an audit, plus its settings."""

    comparisons: tuple[GroupComparison, ...]
    n_boot: int
    n_perm: int
    confidence: float

    def to_dict(self) -> dict[str, object]:
        return {
            "comparisons": [asdict(c) for c in self.comparisons],
            "n_boot": self.n_boot,
            "n_perm": self.n_perm,
            "confidence": self.confidence,
        }


def compare_groups(
    a: np.ndarray, b: np.ndarray, *, rng: np.random.Generator, n_boot: int = 2000, n_perm: int = 2000,
    confidence: float = 0.95,
) -> tuple[float, float, float, float]:
    """Mean difference ``a - b``, its bootstrap CI and a two-sided permutation p-value.

    Returns:
        ``(delta, ci_low, ci_high, p_value)``.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 1 or len(b) < 1:
        raise ValueError("both groups need at least one case")
    delta = float(a.mean() - b.mean())
    boots = a[rng.integers(0, len(a), (n_boot, len(a)))].mean(1) - b[rng.integers(0, len(b), (n_boot, len(b)))].mean(1)
    q = (1 - confidence) / 2
    lo, hi = np.quantile(boots, [q, 1 - q])
    pooled = np.concatenate([a, b])
    count = 0
    for _ in range(n_perm):
        perm = rng.permutation(pooled)
        if abs(perm[: len(a)].mean() - perm[len(a) :].mean()) >= abs(delta) - 1e-12:
            count += 1
    return delta, float(lo), float(hi), (count + 1) / (n_perm + 1)


def bias_audit(
    estimated: np.ndarray,
    attributes: Mapping[str, np.ndarray],
    *,
    rng: np.random.Generator,
    true_dice: np.ndarray | None = None,
    n_boot: int = 2000,
    n_perm: int = 2000,
    confidence: float = 0.95,
    min_group: int = 2,
) -> AuditResult:
    """Audit quality gaps between subgroups.

    Args:
        estimated: ``(n,)`` per-case quality (e.g. RCA-predicted Dice).
        attributes: name -> ``(n,)`` group labels (any hashable values; compared as strings).
        rng: bootstrap and permutation randomness.
        true_dice: ``(n,)`` true Dice where known (NaN = unknown); adds the true gap per comparison.
        n_boot, n_perm: resamples.
        confidence: CI level.
        min_group: groups smaller than this are skipped.

    Returns:
        The comparisons.
    """
    est = np.asarray(estimated, dtype=np.float64)
    comps: list[GroupComparison] = []
    for name, labels in attributes.items():
        lab = np.asarray(labels).astype(str)
        if lab.shape != est.shape:
            raise ValueError(f"attribute {name!r} has shape {lab.shape}, expected {est.shape}")
        groups = sorted(g for g in np.unique(lab) if (lab == g).sum() >= min_group)
        pairs = [(groups[0], groups[1])] if len(groups) == 2 else [(g, "rest") for g in groups] if len(groups) > 2 else []
        for ga, gb in pairs:
            ma = lab == ga
            mb = ~ma if gb == "rest" else lab == gb
            if mb.sum() < min_group:
                continue
            d, lo, hi, p = compare_groups(est[ma], est[mb], rng=rng, n_boot=n_boot, n_perm=n_perm, confidence=confidence)
            extra: dict[str, float | None] = {}
            if true_dice is not None:
                t = np.asarray(true_dice, dtype=np.float64)
                ta, tb = t[ma & ~np.isnan(t)], t[mb & ~np.isnan(t)]
                if len(ta) and len(tb):
                    td, tlo, thi, tp = compare_groups(ta, tb, rng=rng, n_boot=n_boot, n_perm=n_perm, confidence=confidence)
                    extra = {"true_delta": td, "true_ci_low": tlo, "true_ci_high": thi, "true_p_value": tp}
            comps.append(
                GroupComparison(
                    attribute=name, group_a=ga, group_b=gb, n_a=int(ma.sum()), n_b=int(mb.sum()),
                    mean_a=float(est[ma].mean()), mean_b=float(est[mb].mean()),
                    delta=d, ci_low=lo, ci_high=hi, p_value=p, **extra,  # type: ignore[arg-type]
                )
            )
    return AuditResult(comparisons=tuple(comps), n_boot=n_boot, n_perm=n_perm, confidence=confidence)
