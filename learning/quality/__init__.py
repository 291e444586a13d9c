"""Quality without labels: RCA-predicted Dice, bias audit over subgroups, OOD distance. Django-free."""

from __future__ import annotations

from learning.quality.audit import AuditResult, GroupComparison, bias_audit, compare_groups
from learning.quality.ood import EnsembleOOD, FeatureOOD
from learning.quality.rca import (
    RCA_K,
    RCA_METRIC,
    RCA_TOP_FRACTION,
    RCA_TRANSFORM,
    RCAResult,
    area_weighted,
    image_features,
    middle_slice_features,
    nearest_references,
    rca_case_slices,
    rca_estimate,
    rca_predict,
    register,
)

__all__ = [
    "RCA_K",
    "RCA_METRIC",
    "RCA_TOP_FRACTION",
    "RCA_TRANSFORM",
    "AuditResult",
    "EnsembleOOD",
    "FeatureOOD",
    "GroupComparison",
    "RCAResult",
    "area_weighted",
    "bias_audit",
    "compare_groups",
    "image_features",
    "middle_slice_features",
    "nearest_references",
    "rca_case_slices",
    "rca_estimate",
    "rca_predict",
    "register",
]
