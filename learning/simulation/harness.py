"""Replay the annotation loop offline: acquire -> label (all raters) -> consensus -> retrain -> evaluate.

Why: acquisition strategies can only be compared on data where every label already exists; this
harness hides the labels, reveals those of the acquired cases, and records a learning curve on
held-out patients. CPU-sized defaults: 2D slices of centre-cropped LIDC nodule crops, a tiny MONAI
U-Net trained by ``learning.train`` for a fixed number of iterations per round (so rounds differ only
in the labelled data), evaluation by 3D Dice per test case against the raters' consensus and GED
against the raters (the deterministic prediction as a one-sample set; d(empty, empty) = 0).

Strategies (``STRATEGIES``):
    ``random``; ``mc_entropy`` (MC-dropout predictive entropy, 5 passes, top-k);
    ``pulaski_anatomical`` (PULASki sample diversity + anatomical DAE deviation, rank-combined, then a
    diverse batch among the top candidates; the PULASki net and the DAE are fine-tuned each round on
    the labelled cases, warm-started); ``kcenter`` (k-center greedy on the segmenter's bottleneck
    features, from the labelled cases); ``tta_diverse`` (flip-TTA variance per foreground voxel, then a
    diverse batch among the top candidates: the platform's default acquisition with its best score);
    ``typiclust`` (TypiClust every round on the cheap image features, the labelled cases covering their
    clusters: typical and diverse, no model score; Hacohen et al. 2022's low-budget strategy).
Cold start (round 0) is TypiClust on cheap image features (the most typical case of each of the largest
clusters) for every strategy except ``random``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from annotation.metrics.consensus import majority_vote
from annotation.metrics.ged import ged
from annotation.metrics.overlap import dice
from annotation.metrics.staple import staple
from learning.acquisition import COLD_START_METHODS, cold_start, select_batch
from learning.data import ArrayReader, AugmentConfig, NormConfig, TrainItem
from learning.nets import NetConfig, bottleneck_features, encoder_statistics
from learning.nets.prob_unet import ProbTrainConfig, ProbUNetConfig, build_prob_unet, pulaski_loss, sample, summarise_samples
from learning.nets.shape_dae import ShapeDAEConfig, build_shape_dae, corrupt
from learning.quality.rca import middle_slice_features
from learning.simulation.data import Case, load_cases, split_by_patient
from learning.train import TrainConfig, load_model, train
from learning.uncertainty import (
    aggregate,
    anatomical_uncertainty,
    foreground_probability,
    mc_dropout_probs,
    predictive_entropy,
    tta_probs,
)

__all__ = [
    "STRATEGIES",
    "SimulationConfig",
    "RoundRecord",
    "SimulationResult",
    "simulate",
    "simulate_cases",
    "labelled_fraction_to_reach",
    "area_under_curve",
    "save_plot",
]

STRATEGIES = ("random", "mc_entropy", "pulaski_anatomical", "kcenter", "tta_diverse", "typiclust")
ProgressLog = Callable[[str], None]


@dataclass(frozen=True)
class SimulationConfig:
    """Settings of one simulated run (everything but strategy and seed).

    Args:
        rounds: acquisition rounds after the cold start (the curve has ``rounds + 1`` points).
        batch: cases acquired per round (also the cold-start size unless ``initial`` is set).
        initial: cold-start size.
        cold_start: how non-random strategies pick the first batch (``learning.acquisition.COLD_START_METHODS``;
            the ``random`` strategy always starts at random).
        crop: in-plane centre crop (pixels, a multiple of 4).
        min_slices: keep cases with at least this many slices.
        max_cases: random subset of this many cases (None: all).
        test_fraction: share of patients held out for evaluation.
        consensus: ``"majority"`` (ties -> foreground) or ``"staple"``.
        iterations: segmenter optimiser steps per round (fixed, whatever the labelled size).
        batch_size: segmenter patches per step.
        channels: segmenter U-Net widths.
        dropout: segmenter dropout (used by MC-dropout).
        mc_passes: MC-dropout passes.
        pulaski_iterations: PULASki fine-tuning steps per round (200: at 40 it was collapsed, every
            sample empty, in 9 of 16 LIDC scoring rounds; at 200 in 1 of 48); pulaski_samples: samples per slice.
        dae_iterations: shape-DAE fine-tuning steps per round.
        full_data: also train once on the whole training pool (the 95% target).
    """

    rounds: int = 4
    batch: int = 8
    initial: int | None = None
    cold_start: str = "typiclust"
    crop: int = 64
    min_slices: int = 3
    max_cases: int | None = 200
    test_fraction: float = 0.25
    consensus: str = "majority"
    iterations: int = 300
    batch_size: int = 16
    channels: tuple[int, ...] = (8, 16, 32)
    dropout: float = 0.1
    mc_passes: int = 5
    pulaski_iterations: int = 200
    pulaski_samples: int = 8
    dae_iterations: int = 60
    full_data: bool = True

    def __post_init__(self) -> None:
        if self.cold_start not in COLD_START_METHODS:
            raise ValueError(f"cold_start must be one of {', '.join(COLD_START_METHODS)}; got {self.cold_start!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["channels"] = list(self.channels)
        return d


@dataclass(frozen=True)
class RoundRecord:
    """One point of a learning curve."""

    round: int
    labelled: int
    fraction: float
    dice: float
    ged: float
    train_s: float
    score_s: float


@dataclass(frozen=True)
class SimulationResult:
    """A learning curve for one strategy and seed.

    Args:
        strategy, seed: the run.
        pool, test: training-pool and test-set sizes (cases).
        full_data_dice: Dice on the test set when trained on the whole pool (NaN when not run).
        records: one per round.
        acquired: case ids in acquisition order, per round.
        config: the settings.
        elapsed_s: wall time.
    """

    strategy: str
    seed: int
    pool: int
    test: int
    full_data_dice: float
    records: tuple[RoundRecord, ...]
    acquired: tuple[tuple[str, ...], ...]
    config: SimulationConfig
    elapsed_s: float

    @property
    def fractions(self) -> np.ndarray:
        return np.array([r.fraction for r in self.records])

    @property
    def dices(self) -> np.ndarray:
        return np.array([r.dice for r in self.records])

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "seed": self.seed,
            "pool": self.pool,
            "test": self.test,
            "full_data_dice": self.full_data_dice,
            "records": [asdict(r) for r in self.records],
            "acquired": [list(a) for a in self.acquired],
            "config": self.config.to_dict(),
            "elapsed_s": self.elapsed_s,
            "auc": area_under_curve(self.fractions, self.dices),
            "fraction_to_95": labelled_fraction_to_reach(self.fractions, self.dices, 0.95 * self.full_data_dice),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


def area_under_curve(fractions: np.ndarray, dices: np.ndarray) -> float:
    """Normalised area under Dice vs labelled fraction (trapezoid / fraction span): a mean Dice."""
    f, d = np.asarray(fractions, dtype=np.float64), np.asarray(dices, dtype=np.float64)
    if len(f) < 2 or f[-1] == f[0]:
        return float(d.mean()) if len(d) else float("nan")
    return float(np.sum((d[1:] + d[:-1]) / 2 * np.diff(f)) / (f[-1] - f[0]))


def labelled_fraction_to_reach(fractions: np.ndarray, dices: np.ndarray, target: float) -> float | None:
    """First labelled fraction at which the curve reaches ``target`` (linear interpolation); None if never."""
    f, d = np.asarray(fractions, dtype=np.float64), np.asarray(dices, dtype=np.float64)
    if not np.isfinite(target):
        return None
    for i in range(len(d)):
        if d[i] >= target:
            if i == 0:
                return float(f[0])
            t = (target - d[i - 1]) / (d[i] - d[i - 1])
            return float(f[i - 1] + t * (f[i] - f[i - 1]))
    return None


# ------------------------------------------------------------------------------ internals


def consensus_of(raters: np.ndarray, method: str) -> np.ndarray:
    """Consensus mask of ``(R, Z, Y, X)`` rater masks (one rater: itself)."""
    if raters.shape[0] == 1:
        return raters[0].astype(np.uint8)
    if method == "majority":
        return majority_vote(raters, tie="highest").astype(np.uint8)
    if method == "staple":
        return staple(raters).consensus.astype(np.uint8)
    raise ValueError(f"consensus must be 'majority' or 'staple', got {method!r}")


def _norm(image: np.ndarray) -> np.ndarray:
    return (np.asarray(image, dtype=np.float32) / 255.0).astype(np.float32)


def _train_config(cfg: SimulationConfig, seed: int) -> TrainConfig:
    net = NetConfig(
        spatial_dims=2, channels=cfg.channels, strides=(2,) * (len(cfg.channels) - 1), num_res_units=1,
        dropout=cfg.dropout,
    )
    return TrainConfig(
        seed=seed, spatial_dims=2, patch=(cfg.crop, cfg.crop), batch_size=cfg.batch_size, samples_per_item=4,
        pos_fraction=0.7, max_epochs=100_000, max_iterations=cfg.iterations, lr=3e-3, net=net,
        normalisation=NormConfig(mode="scale", scale=1.0 / 255.0), augment=AugmentConfig(noise_prob=0.0, scale_prob=0.0),
    )


def train_segmenter(
    cases: Sequence[Case], labels: Sequence[np.ndarray], cfg: SimulationConfig, seed: int, device: torch.device
) -> nn.Module:
    """Train the round's segmenter with ``learning.train`` on (image, consensus) pairs; eval mode."""
    items = [TrainItem(image=ArrayReader(c.image), label=ArrayReader(lab)) for c, lab in zip(cases, labels)]
    tcfg = _train_config(cfg, seed)
    result = train(tcfg, items, device=device)
    return load_model(tcfg, result.state_dict).to(device).eval()


def case_slices(cases: Sequence[Case]) -> tuple[torch.Tensor, np.ndarray]:
    """All slices of ``cases`` as ``(S, 1, Y, X)`` normalised tensor, plus the case index per slice."""
    imgs = np.concatenate([_norm(c.image) for c in cases])[:, None]
    owner = np.concatenate([np.full(c.image.shape[0], i) for i, c in enumerate(cases)])
    return torch.from_numpy(imgs), owner



def predict_probs(model: nn.Module, cases: Sequence[Case], device: torch.device) -> list[np.ndarray]:
    """Foreground probability ``(Z, Y, X)`` per case (one batched forward over all slices)."""
    x, owner = case_slices(cases)
    model.eval()
    with torch.inference_mode():
        p = torch.cat([foreground_probability(model(x[i : i + 256].to(device))).cpu() for i in range(0, len(x), 256)])
    p = p.numpy()
    return [p[owner == i] for i in range(len(cases))]


def evaluate(probs: Sequence[np.ndarray], cases: Sequence[Case], labels: Sequence[np.ndarray]) -> tuple[float, float]:
    """Mean 3D Dice against consensus and mean GED against the raters (prediction as a one-sample set)."""
    d, g = [], []
    for p, c, lab in zip(probs, cases, labels):
        pred = (p >= 0.5).astype(np.uint8)
        d.append(dice(pred, lab))
        g.append(ged(pred[None], c.raters))
    return float(np.mean(d)), float(np.mean(g))


def case_features(model: nn.Module, cases: Sequence[Case], device: torch.device) -> np.ndarray:
    """Bottleneck features per case (mean over its slices): ``(n, F)``."""
    x, owner = case_slices(cases)
    model.eval()
    f = torch.cat([bottleneck_features(model, x[i : i + 256].to(device)).cpu() for i in range(0, len(x), 256)]).numpy()
    return np.stack([f[owner == i].mean(0) for i in range(len(cases))])


def case_ood_features(model: nn.Module, cases: Sequence[Case], device: torch.device) -> list[np.ndarray]:
    """Encoder statistics per case (``learning.nets.encoder_statistics``, mean over the case's slices):
    one ``(n, F_l)`` array per level, for ``learning.quality.EnsembleOOD``."""
    x, owner = case_slices(cases)
    model.eval()
    chunks = [[f.cpu() for f in encoder_statistics(model, x[i : i + 256].to(device))] for i in range(0, len(x), 256)]
    levels = [torch.cat(parts).numpy() for parts in zip(*chunks)]
    return [np.stack([f[owner == i].mean(0) for i in range(len(cases))]) for f in levels]


def mc_entropy_scores(model: nn.Module, cases: Sequence[Case], device: torch.device, passes: int, seed: int) -> np.ndarray:
    """Mean MC-dropout predictive entropy per case."""
    x, owner = case_slices(cases)
    ent = []
    for i in range(0, len(x), 256):
        s = mc_dropout_probs(model, x[i : i + 256].to(device), n=passes, seed=seed + i)
        ent.append(predictive_entropy(s))
    h = np.concatenate(ent)
    return np.array([h[owner == i].mean() for i in range(len(cases))])


def tta_scores(model: nn.Module, cases: Sequence[Case], device: torch.device) -> np.ndarray:
    """Flip-TTA voxel variance per case, summed over the case per predicted-foreground voxel
    (``fg_ratio``: the aggregation that tracked error best in ``bench/uncertainty.py``)."""
    x, owner = case_slices(cases)
    var, mean = [], []
    for i in range(0, len(x), 256):
        t = tta_probs(model, x[i : i + 256].to(device)).cpu()
        var.append(t.var(0, unbiased=False).numpy())
        mean.append(t.mean(0).numpy())
    v, m = np.concatenate(var), np.concatenate(mean)
    return np.array([aggregate(v[owner == i], how="fg_ratio", foreground=m[owner == i]) for i in range(len(cases))])


@dataclass
class _PulaskiState:
    model: nn.Module | None = None
    opt: torch.optim.Optimizer | None = None
    dae: nn.Module | None = None
    dae_opt: torch.optim.Optimizer | None = None
    log: list[float] = field(default_factory=list)
    # last scoring: fraction of cases where some binarised sample (specks removed, as for the
    # diversity) has foreground (0: PULASki collapsed, its diversity 0 everywhere, and the ranking
    # is the anatomical score's alone)
    presence: float | None = None


def _update_pulaski(state: _PulaskiState, cases: Sequence[Case], labels: Sequence[np.ndarray], cfg: SimulationConfig,
                    rng: np.random.Generator, device: torch.device) -> None:
    """Fine-tune (warm start) the PULASki net on all readers (those who outlined nothing as empty masks,
    as in the platform, where a rater's empty submission is a mask) and the shape DAE on consensus slices."""
    imgs = np.concatenate([_norm(c.image) for c in cases])[:, None]
    raters = np.concatenate([c.readers(4).transpose(1, 0, 2, 3) for c in cases]).astype(np.float32)
    cons = np.concatenate(list(labels)).astype(np.uint8)
    if state.model is None:
        pcfg = ProbTrainConfig(net=ProbUNetConfig(spatial_dims=2, channels=cfg.channels, strides=(2,) * (len(cfg.channels) - 1)))
        torch.manual_seed(int(rng.integers(0, 2**31)))
        state.model = build_prob_unet(pcfg.net).to(device)
        state.opt = torch.optim.Adam(state.model.parameters(), lr=1e-3)
        state.dae = build_shape_dae(ShapeDAEConfig(spatial_dims=2)).to(device)
        state.dae_opt = torch.optim.Adam(state.dae.parameters(), lr=2e-3)
    assert state.opt is not None and state.dae is not None and state.dae_opt is not None
    state.model.train()
    for _ in range(cfg.pulaski_iterations):
        idx = rng.integers(0, len(imgs), size=min(8, len(imgs)))
        loss, _ = pulaski_loss(state.model, torch.from_numpy(imgs[idx]).to(device), torch.from_numpy(raters[idx]).to(device))
        state.opt.zero_grad(set_to_none=True)
        loss.backward()
        state.opt.step()
        state.log.append(float(loss.detach()))
    state.model.eval()
    state.dae.train()
    for _ in range(cfg.dae_iterations):
        idx = rng.integers(0, len(cons), size=min(32, len(cons)))
        clean = cons[idx]
        noisy = torch.from_numpy(np.stack([corrupt(m, rng) for m in clean])[:, None]).to(device)
        y = torch.from_numpy(clean[:, None].astype(np.float32)).to(device)
        logits = state.dae(noisy)
        p = torch.sigmoid(logits)
        d = 1 - (2 * (p * y).flatten(1).sum(1) + 1) / (p.flatten(1).sum(1) + y.flatten(1).sum(1) + 1)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y) + d.mean()
        state.dae_opt.zero_grad(set_to_none=True)
        loss.backward()
        state.dae_opt.step()
    state.dae.eval()


def pulaski_anatomical_scores(state: _PulaskiState, seg_probs: Sequence[np.ndarray], cases: Sequence[Case],
                              device: torch.device, n_samples: int, seed: int) -> dict[str, np.ndarray]:
    """Per case: PULASki sample diversity (mean pairwise 1 - IoU over 3D samples) and anatomical deviation."""
    assert state.model is not None and state.dae is not None
    x, owner = case_slices(cases)
    gen = torch.Generator().manual_seed(seed)
    s = torch.cat([sample(state.model, x[i : i + 128].to(device), n_samples, generator=gen).cpu() for i in range(0, len(x), 128)], dim=1).numpy()
    summaries = [summarise_samples(s[:, owner == i]) for i in range(len(cases))]
    div = np.array([m.ged for m in summaries])
    state.presence = float(np.mean([m.samples.any() for m in summaries])) if summaries else None
    anat = []
    for p in seg_probs:
        u = anatomical_uncertainty(p, state.dae, device=device)  # type: ignore[arg-type]
        anat.append(aggregate(u, how="fg_ratio", foreground=p))
    return {"pulaski_ged": div, "anatomical": np.asarray(anat)}


# ------------------------------------------------------------------------------- public


def simulate_cases(
    cases: Sequence[Case],
    *,
    strategy: str,
    seed: int,
    config: SimulationConfig = SimulationConfig(),
    device: torch.device | None = None,
    log: ProgressLog | None = None,
    full_data_dice: float | None = None,
    cache: dict[Any, Any] | None = None,
) -> SimulationResult:
    """Run the loop on cases already in memory (see ``simulate``).

    ``full_data_dice``: reuse a full-pool Dice computed for the same seed (skips that training).
    ``cache``: a dict shared between calls on the same cases and config; rounds whose labelled set
    (and seed) was already trained reuse that model and its test figures (the TypiClust cold start
    is the same for every non-random strategy).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    t0 = time.perf_counter()
    dev = device or torch.device("cpu")
    say = log or (lambda _m: None)
    split_rng = np.random.default_rng([seed, 1])
    rng = np.random.default_rng([seed, 2, STRATEGIES.index(strategy)])
    train_idx, test_idx = split_by_patient([c.patient_id for c in cases], test_fraction=config.test_fraction, rng=split_rng)
    pool = [cases[i] for i in train_idx]
    test = [cases[i] for i in test_idx]
    pool_labels = [consensus_of(c.raters, config.consensus) for c in pool]
    test_labels = [consensus_of(c.raters, config.consensus) for c in test]
    n_pool = len(pool)
    initial = config.initial or config.batch

    if full_data_dice is None:
        if config.full_data:
            model = train_segmenter(pool, pool_labels, config, seed, dev)
            full_data_dice = evaluate(predict_probs(model, test, dev), test, test_labels)[0]
            say(f"seed {seed}: full-data Dice {full_data_dice:.3f} ({n_pool} pool cases, {len(test)} test)")
        else:
            full_data_dice = float("nan")

    # cold start: TypiClust (by default) on cheap image features; random for the random strategy
    cheap = np.stack([middle_slice_features(c.image) for c in pool])
    cold_rng = np.random.default_rng([seed, 3])
    method = "random" if strategy == "random" else config.cold_start
    labelled = list(cold_start(n_pool, initial, rng=cold_rng, features=cheap, method=method))
    acquired = [tuple(pool[i].case_id for i in labelled)]
    state = _PulaskiState()
    records: list[RoundRecord] = []
    for rnd in range(config.rounds + 1):
        ts = time.perf_counter()
        lab_cases = [pool[i] for i in labelled]
        lab_labels = [pool_labels[i] for i in labelled]
        key = (seed + rnd, tuple(sorted(c.case_id for c in lab_cases)), config)
        if cache is not None and key in cache:
            model, dsc, g = cache[key]
        else:
            model = train_segmenter(lab_cases, lab_labels, config, seed + rnd, dev)
            dsc, g = evaluate(predict_probs(model, test, dev), test, test_labels)
            if cache is not None:
                cache[key] = (model, dsc, g)
        train_s = time.perf_counter() - ts
        sc = time.perf_counter()
        if rnd < config.rounds:
            unl = np.array(sorted(set(range(n_pool)) - set(labelled)))
            unl_cases = [pool[i] for i in unl]
            b = min(config.batch, len(unl))
            if strategy == "random":
                pick = select_batch({}, np.zeros((len(unl), 1)), batch=b, strategy="random", rng=rng)
            elif strategy == "kcenter":
                feats = case_features(model, unl_cases + lab_cases, dev)
                pick = select_batch({}, feats[: len(unl)], batch=b, strategy="diversity", rng=rng,
                                    labelled_features=feats[len(unl):])
            elif strategy == "typiclust":
                pick = select_batch({}, cheap[unl], batch=b, strategy="typical", rng=rng, labelled_features=cheap[labelled])
            elif strategy == "mc_entropy":
                ent = mc_entropy_scores(model, unl_cases, dev, config.mc_passes, seed * 1000 + rnd)
                pick = select_batch({"entropy": ent}, None, batch=b, strategy="uncertainty", rng=rng)
            elif strategy == "tta_diverse":
                feats = case_features(model, unl_cases + lab_cases, dev)
                pick = select_batch({"tta_variance": tta_scores(model, unl_cases, dev)}, feats[: len(unl)], batch=b,
                                    strategy="uncertainty_diversity", rng=rng, labelled_features=feats[len(unl):])
            else:
                _update_pulaski(state, lab_cases, lab_labels, config, rng, dev)
                scores = pulaski_anatomical_scores(state, predict_probs(model, unl_cases, dev), unl_cases, dev,
                                                   config.pulaski_samples, seed * 1000 + rnd)
                feats = case_features(model, unl_cases + lab_cases, dev)
                pick = select_batch(scores, feats[: len(unl)], batch=b, strategy="uncertainty_diversity", rng=rng,
                                    labelled_features=feats[len(unl):], weights={"pulaski_ged": 0.5, "anatomical": 0.5})
            new = [int(unl[i]) for i in pick]
            labelled += new
            acquired.append(tuple(pool[i].case_id for i in new))
        score_s = time.perf_counter() - sc
        rec = RoundRecord(round=rnd, labelled=len(lab_cases), fraction=len(lab_cases) / n_pool, dice=dsc, ged=g,
                          train_s=train_s, score_s=score_s)
        records.append(rec)
        extra = (f" pulaski presence {state.presence:.2f}"
                 if strategy == "pulaski_anatomical" and rnd < config.rounds and state.presence is not None else "")
        say(f"{strategy} seed {seed} round {rnd}: {rec.labelled} labelled ({rec.fraction:.2f}) "
            f"Dice {dsc:.3f} GED {g:.3f} train {train_s:.1f}s score {score_s:.1f}s{extra}")
    return SimulationResult(
        strategy=strategy, seed=seed, pool=n_pool, test=len(test), full_data_dice=float(full_data_dice),
        records=tuple(records), acquired=tuple(acquired[: len(records)]), config=config,
        elapsed_s=time.perf_counter() - t0,
    )


def simulate(
    data: Path,
    *,
    strategy: str,
    rounds: int = 4,
    batch: int = 8,
    seed: int = 0,
    config: SimulationConfig | None = None,
    device: torch.device | None = None,
    log: ProgressLog | None = None,
) -> SimulationResult:
    """Replay the annotation loop on a folder in the LIDC layout.

    Args:
        data: folder with ``manifest.csv`` (``case_id``, ``patient_id``) and case folders holding
            ``image.nii.gz`` and ``rater-N.nii.gz``.
        strategy: one of ``STRATEGIES``.
        rounds: acquisition rounds after the cold start.
        batch: cases acquired per round.
        seed: split, subset, cold start, training and acquisition randomness.
        config: other settings (``rounds`` and ``batch`` here override it).
        device: where to train (CPU by default).
        log: called with one progress line per round.

    Returns:
        The learning curve (``to_dict()`` for JSON; ``save_plot`` for a PNG).
    """
    cfg = replace(config or SimulationConfig(), rounds=rounds, batch=batch)
    cases = load_cases(Path(data), crop=cfg.crop, min_slices=cfg.min_slices, max_cases=cfg.max_cases,
                       rng=np.random.default_rng([seed, 0]))
    return simulate_cases(cases, strategy=strategy, seed=seed, config=cfg, device=device, log=log)


def save_plot(result: SimulationResult | Sequence[SimulationResult], path: Path | str) -> Path:
    """Plot Dice vs labelled fraction (mean ± sd over seeds per strategy) to a PNG (matplotlib Agg).

    Args:
        result: one result or several (any strategies and seeds).
        path: output file.

    Returns:
        The path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = [result] if isinstance(result, SimulationResult) else list(result)
    fig, ax = plt.subplots(figsize=(6, 4))
    for strat in dict.fromkeys(r.strategy for r in results):
        rs = [r for r in results if r.strategy == strat]
        n = min(len(r.records) for r in rs)
        f = np.mean([r.fractions[:n] for r in rs], axis=0)
        d = np.array([r.dices[:n] for r in rs])
        ax.plot(f, d.mean(0), marker="o", label=f"{strat} (n={len(rs)})")
        if len(rs) > 1:
            ax.fill_between(f, d.mean(0) - d.std(0), d.mean(0) + d.std(0), alpha=0.2)
    full = [r.full_data_dice for r in results if np.isfinite(r.full_data_dice)]
    if full:
        ax.axhline(0.95 * float(np.mean(full)), color="grey", ls="--", label="95% of full-data Dice")
    ax.set_xlabel("labelled fraction of the pool")
    ax.set_ylabel("test Dice vs consensus")
    ax.legend(fontsize=8)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
