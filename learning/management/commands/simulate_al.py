"""python manage.py simulate_al --data PATH --strategy NAME --rounds R --batch B --seed S

Replays the annotation loop on any folder in the LIDC layout (case folders with image.nii.gz and
rater-N.nii.gz, a manifest.csv) with the recorded raters as oracles, and writes the learning
curves as JSON and a PNG plot. ``--seeds N`` repeats over seeds S..S+N-1.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from learning.acquisition import COLD_START_METHODS
from learning.device import pick_device
from learning.simulation import STRATEGIES, SimulationConfig, area_under_curve, save_plot, simulate


class Command(BaseCommand):
    help = "Simulate active learning on a folder of multi-rater cases (LIDC layout)."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--data", type=Path, required=True)
        parser.add_argument("--strategy", choices=[*STRATEGIES, "all"], default="random")
        parser.add_argument("--rounds", type=int, default=4)
        parser.add_argument("--batch", type=int, default=8)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--seeds", type=int, default=1, help="repeat over this many seeds")
        parser.add_argument("--max-cases", type=int, default=None)
        parser.add_argument("--iterations", type=int, default=None, help="segmenter steps per round")
        parser.add_argument("--cold-start", choices=COLD_START_METHODS, default="typiclust",
                            help="first batch of the non-random strategies")
        parser.add_argument("--out", type=Path, default=Path("var/simulations"))
        parser.add_argument("--device", default=None)

    def handle(self, *args, data: Path, strategy: str, rounds: int, batch: int, seed: int, seeds: int,
               max_cases: int | None, iterations: int | None, out: Path, device: str | None, cold_start: str,
               **opts) -> None:
        if not data.is_dir():
            raise CommandError(f"{data}: no such folder")
        if rounds < 1 or batch < 1 or seeds < 1:
            raise CommandError("--rounds, --batch and --seeds must be at least 1")
        config = SimulationConfig(rounds=rounds, batch=batch, cold_start=cold_start)
        if max_cases is not None:
            config = replace(config, max_cases=max_cases)
        if iterations is not None:
            config = replace(config, iterations=iterations)
        strategies = list(STRATEGIES) if strategy == "all" else [strategy]
        dev = pick_device(device)
        results = []
        for name in strategies:
            for s in range(seed, seed + seeds):
                self.stderr.write(f"{name} seed {s} ...")
                try:
                    results.append(simulate(data, strategy=name, rounds=rounds, batch=batch, seed=s, config=config,
                                            device=dev, log=lambda m: self.stderr.write(f"  {m}")))
                except ValueError as exc:
                    raise CommandError(str(exc)) from exc
        out.mkdir(parents=True, exist_ok=True)
        curves = [r.to_dict() for r in results]
        (out / "curves.json").write_text(json.dumps(curves, indent=2, default=float))
        plot = save_plot(results, out / "curves.png")
        summary = {r.strategy + f"/seed{r.seed}": area_under_curve(r.fractions, r.dices) for r in results}
        self.stdout.write(json.dumps({"curves": str(out / "curves.json"), "plot": str(plot), "auc": summary}))
