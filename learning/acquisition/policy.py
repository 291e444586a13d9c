"""A project's acquisition policy: which scores rank the queue, how they combine, the batch.

Why a value object: managers set it through the API as JSON, the scoring service reads it, and a
typo in a score name must be refused when it is set (naming the key), not silently weigh nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from learning.acquisition.select import STRATEGIES

__all__ = ["SCORE_NAMES", "METHODS", "AcquisitionPolicy"]

#: Per-case scores the platform computes (higher = more worth labelling): MC-dropout predictive
#: entropy (5 passes; MONAI Label's epistemic strategy), flip test-time-augmentation variance, the
#: Mahalanobis distance of the case's encoder statistics to the training cases' (OOD: per level,
#: standardised by the training cases' own distances and averaged, so it can be negative), the
#: promoted PULASki model's sample diversity (mean pairwise 1 - IoU of 8 samples; only once a
#: PULASki version is promoted: a score that is not there weighs nothing), and anatomically-aware
#: uncertainty (deviation of the prediction from the promoted shape prior's reconstruction of it).
SCORE_NAMES = ("mc_entropy", "tta_variance", "ood_mahalanobis", "pulaski_ged", "anatomical")
METHODS = ("weighted", "borda")


@dataclass(frozen=True)
class AcquisitionPolicy:
    """``strategy`` from ``select.STRATEGIES``; ``method`` "weighted" (sum of rank-normalised
    scores) or "borda" (rank aggregation); ``weights`` per score name (0 switches a score off);
    ``batch``: how many cases the diverse top batch holds."""

    strategy: str = "uncertainty_diversity"
    method: str = "weighted"
    weights: Mapping[str, float] = field(default_factory=lambda: {n: 1.0 for n in SCORE_NAMES})
    batch: int = 10

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}; got {self.strategy!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}; got {self.method!r}")
        unknown = sorted(set(self.weights) - set(SCORE_NAMES))
        if unknown:
            raise ValueError(f"weights: unknown score(s) {', '.join(unknown)}; known: {', '.join(SCORE_NAMES)}")
        for name, w in self.weights.items():
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not w >= 0 or w == float("inf"):
                raise ValueError(f"weights.{name} must be a finite number >= 0; got {w!r}")
        if self.strategy in ("uncertainty", "uncertainty_diversity") and not any(self.weights.values()):
            raise ValueError(f"strategy {self.strategy} needs at least one score with a weight above 0")
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or not 1 <= self.batch <= 10_000:
            raise ValueError(f"batch must be an integer from 1 to 10000; got {self.batch!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> AcquisitionPolicy:
        """Defaults for missing keys; ``weights`` given replace the defaults (missing names: 0)."""
        d = dict(d or {})
        unknown = sorted(set(d) - {"strategy", "method", "weights", "batch"})
        if unknown:
            raise ValueError(f"unknown acquisition setting(s) {', '.join(unknown)}; known: strategy, method, weights, batch")
        if "weights" in d:
            if not isinstance(d["weights"], Mapping):
                raise ValueError(f"weights must be an object of score name -> weight; got {d['weights']!r}")
            d["weights"] = {n: d["weights"].get(n, 0.0) for n in SCORE_NAMES} | dict(d["weights"])
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "method": self.method, "weights": {k: float(v) for k, v in self.weights.items()},
                "batch": self.batch}

    def active_weights(self) -> dict[str, float]:
        """The scores that count (weight > 0)."""
        return {k: float(v) for k, v in self.weights.items() if v > 0}
