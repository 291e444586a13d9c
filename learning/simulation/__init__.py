"""Offline replay of the annotation loop for comparing acquisition strategies. Django-free."""

from __future__ import annotations

from learning.simulation.data import Case, default_data_path, load_cases, split_by_patient
from learning.simulation.harness import (
    STRATEGIES,
    RoundRecord,
    SimulationConfig,
    SimulationResult,
    area_under_curve,
    labelled_fraction_to_reach,
    save_plot,
    simulate,
    simulate_cases,
)

__all__ = [
    "STRATEGIES",
    "Case",
    "RoundRecord",
    "SimulationConfig",
    "SimulationResult",
    "area_under_curve",
    "default_data_path",
    "labelled_fraction_to_reach",
    "load_cases",
    "save_plot",
    "simulate",
    "simulate_cases",
    "split_by_patient",
]
