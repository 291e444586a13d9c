"""Uncertainty estimators: MC-dropout entropy, flip-TTA variance, anatomical (shape-DAE) deviation.

Django-free; arrays and tensors in, arrays out. PULASki sample statistics live with the model in
``learning.nets.prob_unet`` (``sample``, ``summarise_samples``).
"""

from __future__ import annotations

from learning.uncertainty._common import foreground_probability
from learning.uncertainty.aggregate import AGGREGATIONS, aggregate
from learning.uncertainty.anatomical import anatomical_uncertainty
from learning.uncertainty.mc_dropout import binary_entropy, mc_dropout_probs, predictive_entropy
from learning.uncertainty.tta import flip_sets, tta_probs, tta_variance, volume_tta_probs

__all__ = [
    "AGGREGATIONS",
    "aggregate",
    "anatomical_uncertainty",
    "binary_entropy",
    "flip_sets",
    "foreground_probability",
    "mc_dropout_probs",
    "predictive_entropy",
    "tta_probs",
    "tta_variance",
    "volume_tta_probs",
]
