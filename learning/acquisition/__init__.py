"""Acquisition: normalise and combine scores, keep batches diverse, cold start. Django-free."""

from __future__ import annotations

from learning.acquisition.combine import combine, normalise
from learning.acquisition.diversity import COLD_START_METHODS, cold_start, k_center_greedy, typiclust
from learning.acquisition.policy import METHODS, SCORE_NAMES, AcquisitionPolicy
from learning.acquisition.select import STRATEGIES, select_batch

__all__ = ["COLD_START_METHODS", "METHODS", "SCORE_NAMES", "STRATEGIES", "AcquisitionPolicy", "cold_start", "combine", "k_center_greedy", "normalise", "select_batch", "typiclust"]
