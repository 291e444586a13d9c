"""Bench: how low the LIDC slice GED can go, and whether presence or shape limits a model.

Why: PULASki's slice GED sits well above the goal (0.26), and the sample non-empty rate is flat in the
number of readers who outlined a slice. This asks what that costs. On the test patients of
``bench/uncertainty.py``'s split for ``--seed`` (the same 360 crops, 64 x 64, every slice that any
reader outlined, all four readers with the empty ones: the bench's GED), it scores reference
"models" built from the readers themselves, each drawing ``--samples`` masks per slice:

- ``readers``: a random reader's mask (the readers' own distribution; GED ~ 0 but for sampling noise);
- ``constant_p``: a random *non-empty* reader's mask with probability p, else empty: perfect shapes,
  presence that does not depend on the slice (what a model does that cannot see presence);
- ``consensus_constant_p``: the majority mask of the non-empty readers with probability p, else empty:
  one shape, presence blind to the slice;
- ``consensus_presence_oracle``: the same majority mask with probability j / 4 on a slice outlined by
  j readers: presence known, one shape.

A model with presence as flat as PULASki's can reach the ``constant_p`` figures only with readers'
shapes; the gap from there to its own GED is shape. No time goal: ``speedup`` is null.

    python bench/ged_references.py [--seed 0] [--samples 50]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import env_info, log  # noqa: E402
from bench.uncertainty import all_readers, slice_figures  # noqa: E402

from learning.simulation import default_data_path, load_cases, split_by_patient  # noqa: E402

PRESENCES = (0.5, 0.6, 0.7, 0.8, 1.0)


def _draw(readers: np.ndarray, n: int, rng: np.random.Generator, pick: Callable[[np.ndarray, np.ndarray], np.ndarray],
          presence: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``(n, S, Y, X)`` samples: on each outlined slice, ``pick(nonempty readers, rng draws)`` masks, each
    kept with the slice's ``presence`` probability."""
    r, s = readers.shape[:2]
    out = np.zeros((n, *readers.shape[1:]), np.uint8)
    outlined = readers.any(axis=(2, 3))  # (R, S)
    p = presence(outlined.sum(0) / r)  # (S,)
    for z in np.flatnonzero(outlined.any(0)):
        ne = readers[outlined[:, z], z]
        keep = rng.random(n) < p[z]
        out[keep, z] = pick(ne, rng.integers(0, len(ne), keep.sum()))
    return out


def _consensus(ne: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return np.repeat((ne.mean(0) >= 0.5)[None].astype(np.uint8), len(idx), axis=0)


def run(*, data: Path, seed: int, n_samples: int) -> dict[str, object]:
    cases = load_cases(data, crop=64, min_slices=1, max_cases=360, rng=np.random.default_rng([seed, 0]))
    _, te = split_by_patient([c.patient_id for c in cases], test_fraction=0.25, rng=np.random.default_rng([seed, 1]))
    readers = all_readers([cases[i] for i in te], 4)
    rng = np.random.default_rng([seed, 3])
    refs: dict[str, dict[str, object]] = {}
    full = np.random.default_rng([seed, 4]).integers(0, 4, n_samples)
    refs["readers"] = slice_figures(readers[full], readers)
    for p in PRESENCES:
        refs[f"constant_{p}"] = slice_figures(
            _draw(readers, n_samples, rng, lambda ne, i: ne[i], lambda f, p=p: np.full_like(f, p)), readers)
        refs[f"consensus_constant_{p}"] = slice_figures(
            _draw(readers, n_samples, rng, _consensus, lambda f, p=p: np.full_like(f, p)), readers)
    refs["consensus_presence_oracle"] = slice_figures(_draw(readers, n_samples, rng, _consensus, lambda f: f), readers)
    for k, f in refs.items():
        log(f"{k}: GED {f['ged_slices']:.3f}, shape IoU {f['shape_iou_nonempty'] or 0:.3f}, "
            f"non-empty by readers {', '.join(f'{j} {v:.2f}' for j, v in f['nonempty_by_readers'].items())}")
    best = min((k for k in refs if k.startswith("constant_")), key=lambda k: refs[k]["ged_slices"])
    return {"bench": "ged_references", "speedup": None, "seed": seed, "n_samples": n_samples,
            "slices": refs["readers"]["slices"], "best_constant_presence": best,
            "ged_slices": {k: f["ged_slices"] for k, f in refs.items()},
            "shape_iou_nonempty": {k: f["shape_iou_nonempty"] for k, f in refs.items()}, "env": env_info()}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=default_data_path())
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--samples", type=int, default=50, help="samples per slice (bench/uncertainty.py's default)")
    a = ap.parse_args()
    print(json.dumps(run(data=a.data, seed=a.seed, n_samples=a.samples)))
