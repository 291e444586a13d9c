"""The harness runs one round end to end on a tiny synthetic folder in the LIDC layout."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from learning.simulation import (
    SimulationConfig,
    area_under_curve,
    labelled_fraction_to_reach,
    load_cases,
    save_plot,
    simulate,
    split_by_patient,
)


def make_lidc_folder(root: Path, *, n_cases: int = 8, size: int = 32, slices: int = 3, seed: int = 0) -> Path:
    """Case folders with image.nii.gz and 3 rater masks (one empty), plus manifest.csv."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    rows = []
    for i in range(n_cases):
        cid, pid = f"P{i // 2:03d}_nodule-{i % 2}", f"P{i // 2:03d}"
        d = root / cid
        d.mkdir(parents=True)
        cy, cx = size / 2 + rng.uniform(-3, 3, 2)
        r = rng.uniform(3, 6)
        disc = ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r).astype(np.uint8)
        img = np.stack([disc * 150 + rng.integers(0, 40, disc.shape) for _ in range(slices)]).astype(np.uint8)
        sitk.WriteImage(sitk.GetImageFromArray(img), str(d / "image.nii.gz"))
        for k in range(1, 4):
            m = np.stack([disc] * slices) if k < 3 else np.zeros_like(img)
            sitk.WriteImage(sitk.GetImageFromArray(m.astype(np.uint8)), str(d / f"rater-{k}.nii.gz"))
        rows.append({"case_id": cid, "patient_id": pid, "n_slices": slices, "contrast_used": i % 2})
    with open(root / "manifest.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root


TINY = SimulationConfig(rounds=1, batch=2, crop=16, max_cases=None, test_fraction=0.25, iterations=4, batch_size=4,
                        channels=(4, 8), pulaski_iterations=2, pulaski_samples=2, dae_iterations=2)


def test_load_and_split(tmp_path: Path) -> None:
    cases = load_cases(make_lidc_folder(tmp_path), crop=16)
    assert len(cases) == 8 and cases[0].image.shape == (3, 16, 16)
    assert cases[0].raters.shape[0] == 2  # the empty rater is dropped
    readers = cases[0].readers()  # ... and comes back as an empty reader (the LIDC convention)
    assert cases[0].n_readers == 3 and readers.shape == (3, 3, 16, 16)
    assert readers[:2].any(axis=(1, 2, 3)).all() and not readers[2].any()
    assert cases[0].readers(4).shape[0] == 4 and (cases[0].readers(4)[3] == readers[0]).all()  # cycled beyond
    tr, te = split_by_patient([c.patient_id for c in cases], test_fraction=0.25, rng=np.random.default_rng(0))
    assert not {cases[i].patient_id for i in tr} & {cases[i].patient_id for i in te}


@pytest.mark.parametrize("strategy", ["random", "mc_entropy", "pulaski_anatomical", "kcenter", "tta_diverse", "typiclust"])
def test_simulate_one_round(tmp_path: Path, strategy: str) -> None:
    res = simulate(make_lidc_folder(tmp_path), strategy=strategy, rounds=1, batch=2, seed=0, config=TINY)
    assert len(res.records) == 2
    assert res.records[1].labelled == 4 and res.pool == 6 and res.test == 2
    assert 0.0 <= res.records[-1].dice <= 1.0
    d = json.loads(res.to_json())
    assert d["strategy"] == strategy and len(d["acquired"]) == 2
    png = save_plot(res, tmp_path / "curve.png")
    assert png.stat().st_size > 1000


def test_curve_helpers() -> None:
    f = np.array([0.1, 0.2, 0.3])
    d = np.array([0.5, 0.7, 0.9])
    assert area_under_curve(f, d) == pytest.approx(0.7)
    assert labelled_fraction_to_reach(f, d, 0.8) == pytest.approx(0.25)
    assert labelled_fraction_to_reach(f, d, 0.95) is None
