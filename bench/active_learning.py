"""Bench: which acquisition strategy reaches full-data quality with the fewest labelled cases?

Runs ``learning.simulation`` for every strategy over several seeds on a folder in the LIDC layout
(default: the shared LIDC crops), prints per-strategy area under the learning curve (mean ± sd over
seeds) and the labelled fraction needed to reach 95% of the full-data Dice, writes the curves as JSON
and a PNG next to ``--out``, and prints as the LAST stdout line one JSON object whose ``speedup`` is
random's labelled fraction to 95% divided by the best strategy's (random's fraction is taken as
the largest fraction simulated when it never gets there; then the speedup is a lower bound and
``speedup_is_lower_bound`` is true).

    python bench/active_learning.py [--data PATH] [--seeds 3] [--rounds 4] [--batch 8] [--iterations 300]

Runs split over processes (one per seed and strategy: ``--first-seed S --seeds 1 --strategies X``) are
summarised together by ``--from-log`` on their concatenated stderr logs.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import log  # noqa: E402

from learning.acquisition import COLD_START_METHODS  # noqa: E402
from learning.device import pick_device  # noqa: E402
from learning.simulation import (  # noqa: E402
    STRATEGIES,
    SimulationConfig,
    area_under_curve,
    default_data_path,
    labelled_fraction_to_reach,
    load_cases,
    save_plot,
    simulate_cases,
)

DEFAULT_DATA = default_data_path()


def run(
    *,
    data: Path = DEFAULT_DATA,
    seeds: int = 3,
    rounds: int = 4,
    batch: int = 8,
    iterations: int = 300,
    max_cases: int = 200,
    strategies: tuple[str, ...] = STRATEGIES,
    out: Path = Path("var/bench-active-learning"),
    device: str | None = None,
    threads: int = 1,
    first_seed: int = 0,
    cold_start: str = "typiclust",
    pulaski_iterations: int | None = None,
) -> dict[str, object]:
    torch.set_num_threads(threads)
    dev = pick_device(device)
    cfg = replace(SimulationConfig(), rounds=rounds, batch=batch, iterations=iterations, max_cases=max_cases,
                  cold_start=cold_start)
    if pulaski_iterations is not None:
        cfg = replace(cfg, pulaski_iterations=pulaski_iterations)
    t0 = time.perf_counter()
    results = []
    for seed in range(first_seed, first_seed + seeds):
        cases = load_cases(data, crop=cfg.crop, min_slices=cfg.min_slices, max_cases=cfg.max_cases,
                           rng=np.random.default_rng([seed, 0]))
        log(f"seed {seed}: {len(cases)} cases loaded ({time.perf_counter() - t0:.0f}s)")
        cache: dict[object, object] = {}
        full: float | None = None
        for strat in strategies:
            r = simulate_cases(cases, strategy=strat, seed=seed, config=cfg, device=dev, log=log,
                               full_data_dice=full, cache=cache)
            full = r.full_data_dice
            results.append(r)
            out.mkdir(parents=True, exist_ok=True)
            (out / "curves.partial.json").write_text(json.dumps([x.to_dict() for x in results]))
            log(f"  {strat} seed {seed} done in {r.elapsed_s:.0f}s (total {time.perf_counter() - t0:.0f}s)")
    out.mkdir(parents=True, exist_ok=True)
    (out / "curves.json").write_text(json.dumps([r.to_dict() for r in results], indent=1))
    save_plot(results, out / "curves.png")
    curves = [Curve(r.strategy, r.seed, r.fractions, r.dices, r.full_data_dice) for r in results]
    res = summarise(curves, strategies)
    res.update({
        "rounds": rounds,
        "batch": batch,
        "iterations": iterations,
        "pulaski_iterations": cfg.pulaski_iterations,
        "max_cases": max_cases,
        "pool_cases": results[0].pool,
        "test_cases": results[0].test,
        "elapsed_s": time.perf_counter() - t0,
        "device": str(dev),
        "threads": threads,
        "torch": torch.__version__,
    })
    return res


@dataclass(frozen=True)
class Curve:
    """The figures of one learning curve that the summary needs."""

    strategy: str
    seed: int
    fractions: np.ndarray
    dices: np.ndarray
    full_data_dice: float


def summarise(curves: list[Curve], strategies: tuple[str, ...]) -> dict[str, object]:
    """Per-strategy AUC (mean ± sd over seeds), labelled fraction to 95% of full-data Dice, speedup."""
    strategies = tuple(s for s in strategies if any(c.strategy == s for c in curves))
    summary: dict[str, dict[str, object]] = {}
    max_frac = max(float(c.fractions[-1]) for c in curves)
    for strat in strategies:
        rs = [r for r in curves if r.strategy == strat]
        n = min(len(r.dices) for r in rs)
        aucs = [area_under_curve(r.fractions[:n], r.dices[:n]) for r in rs]
        f = np.mean([r.fractions[:n] for r in rs], axis=0)
        d = np.mean([r.dices[:n] for r in rs], axis=0)
        full = float(np.mean([r.full_data_dice for r in rs]))
        to95 = labelled_fraction_to_reach(f, d, 0.95 * full)
        per_seed = [labelled_fraction_to_reach(r.fractions, r.dices, 0.95 * r.full_data_dice) for r in rs]
        summary[strat] = {
            "auc_mean": float(np.mean(aucs)),
            "auc_sd": float(np.std(aucs)),
            "aucs": aucs,
            "seeds": [r.seed for r in rs],
            "fraction_to_95_mean_curve": to95,
            "fraction_to_95_per_seed": per_seed,
            "mean_curve": [[float(a), float(b)] for a, b in zip(f, d)],
        }
        log(f"{strat:>20}: AUC {np.mean(aucs):.3f} ± {np.std(aucs):.3f} over {len(rs)} seeds; "
            f"fraction to 95%: {to95}; final Dice {d[-1]:.3f}")
    rand = summary.get("random", {}).get("fraction_to_95_mean_curve")
    others = {s: v for s, v in summary.items() if s != "random"}
    best = max(others, key=lambda s: others[s]["auc_mean"]) if others else "random"  # type: ignore[arg-type,return-value]
    best_frac = summary[best]["fraction_to_95_mean_curve"]
    rand_frac = max_frac if rand is None else rand
    speedup = float(rand_frac) / float(best_frac) if best_frac else None  # type: ignore[arg-type]
    paired = {}
    if "random" in summary:
        rseed = dict(zip(summary["random"]["seeds"], summary["random"]["aucs"]))  # type: ignore[arg-type]
        bseed = dict(zip(summary[best]["seeds"], summary[best]["aucs"]))  # type: ignore[arg-type]
        paired = {k: bseed[k] > rseed[k] for k in bseed if k in rseed}
    return {
        "bench": "active_learning",
        "best_strategy": best,
        "speedup": speedup,
        "speedup_is_lower_bound": rand is None,
        "best_fraction_to_95": best_frac,
        "random_fraction_to_95": rand,
        "best_beats_random_auc_seeds": f"{sum(paired.values())}/{len(paired)}",
        "full_data_dice": float(np.mean([c.full_data_dice for c in curves])),
        "strategies": summary,
        "seeds": len({c.seed for c in curves}),
    }


_ROUND = re.compile(r"^(\w+) seed (\d+) round (\d+): (\d+) labelled \(([\d.]+)\) Dice ([\d.]+)")
_FULL = re.compile(r"^seed (\d+): full-data Dice ([\d.]+)")


def curves_from_log(path: Path, rounds: int) -> list[Curve]:
    """Rebuild complete curves (all ``rounds + 1`` points) from a run's stderr progress log.

    For a run stopped before its end: only (strategy, seed) pairs with every round are returned.
    """
    full: dict[int, float] = {}
    pts: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for line in Path(path).read_text().splitlines():
        if m := _FULL.match(line):
            full[int(m.group(1))] = float(m.group(2))
        elif m := _ROUND.match(line):
            pts.setdefault((m.group(1), int(m.group(2))), []).append((float(m.group(5)), float(m.group(6))))
    out = []
    for (strat, seed), p in pts.items():
        if len(p) == rounds + 1 and seed in full:
            out.append(Curve(strat, seed, np.array([a for a, _ in p]), np.array([b for _, b in p]), full[seed]))
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0, help="run seeds first-seed .. first-seed + seeds - 1")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--max-cases", type=int, default=200)
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--cold-start", default="typiclust", choices=COLD_START_METHODS,
                    help="first batch of the non-random strategies")
    ap.add_argument("--out", type=Path, default=Path("var/bench-active-learning"))
    ap.add_argument("--device", default=None)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 avoids over-subscription)")
    ap.add_argument("--pulaski-iterations", type=int, default=None,
                    help="PULASki fine-tuning steps per round (default: SimulationConfig's)")
    ap.add_argument("--from-log", type=Path, default=None,
                    help="summarise the stderr progress log of a (possibly stopped) run instead of running")
    a = ap.parse_args()
    if a.from_log is not None:
        curves = curves_from_log(a.from_log, a.rounds)
        res = summarise(curves, tuple(a.strategies.split(",")))
        res.update({"from_log": str(a.from_log), "curves_complete": len(curves), "rounds": a.rounds,
                    "batch": a.batch, "iterations": a.iterations, "max_cases": a.max_cases,
                    "device": a.device or "cpu", "threads": a.threads, "torch": torch.__version__})
        print(json.dumps(res))
        sys.exit(0)
    res = run(data=a.data, seeds=a.seeds, rounds=a.rounds, batch=a.batch, iterations=a.iterations,
              max_cases=a.max_cases, strategies=tuple(a.strategies.split(",")), out=a.out, device=a.device,
              threads=a.threads, first_seed=a.first_seed, cold_start=a.cold_start,
              pulaski_iterations=a.pulaski_iterations)
    print(json.dumps(res))
