"""STAPLE consensus (Warfield, Zou & Wells 2004): true segmentation and per-rater performance by EM.

Why: the training target and each rater's sensitivity/specificity come from the same EM fit, so a
careless rater weighs less in the consensus than a careful one.

Binary STAPLE follows ITK's ``STAPLEImageFilter`` (SimpleITK ``sitk.STAPLE``) step for step: the
initial weight W is the mean of the raters' votes; the global prior is g = mean(W) *
confidence_weight and stays fixed; each iteration computes p_r, q_r from W, then
W = g a / (g a + (1 - g) b) with a = prod p / (1 - p), b = prod (1 - q) / q by vote; it stops when
every p and q moved by at most ``tol`` (ITK: squared change <= 1e-14, i.e. tol = 1e-7).

Multi-label STAPLE follows ITK's ``MultiLabelSTAPLEImageFilter``: a confusion matrix per rater
(theta_r[j, c] = P(rater says j | truth c)), initialised from majority voting (undecided voxels left
out; each row normalised as ITK does), class priors = label frequencies over all raters, EM until
no matrix entry moves by ``tol`` (ITK: 1e-5); ties in the final posterior give the label L
("undecided", as ITK).

Speed: a voxel's posterior depends only on its vote pattern, so EM runs on the pattern histogram
(``patterns.vote_patterns``: at most 2**R rows for binary) and the result is mapped back to voxels
with one look-up inside the bounding box of the raters' union (outside it every voxel shows the
all-background pattern and gets its value by a fill). Cost: one O(V) scan for the box + O(box)
+ O(patterns) per iteration; results equal the voxel-wise EM.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from annotation.metrics._inputs import as_stack
from annotation.metrics.patterns import VotePatterns, foreground_box, pattern_codes, vote_patterns

__all__ = ["StapleResult", "StapleFit", "staple", "staple_fit"]


@dataclass(frozen=True)
class StapleFit:
    """EM fit on vote patterns, before mapping back to voxels.

    Attributes:
        posterior: (P, C) float64 posterior of each true class per pattern (C = 2 binary).
        sensitivity, specificity: (R,) binary; (R, C) per class for multi-label.
        confusion: (R, L, C) float64 theta_r[j, c] = P(rater r says j | truth c).
        prior: (C,) class prior used.
        iterations: EM iterations run; converged: whether ``tol`` was reached.
    """

    patterns: VotePatterns
    posterior: np.ndarray
    sensitivity: np.ndarray
    specificity: np.ndarray
    confusion: np.ndarray
    prior: np.ndarray
    iterations: int
    converged: bool


@dataclass(frozen=True)
class StapleResult:
    """STAPLE estimate for a volume.

    Attributes:
        probability: binary: (Z, Y, X) float32 P(foreground); multi-label: (C, Z, Y, X) float32.
        consensus: (Z, Y, X) uint8: binary P >= 0.5; multi-label argmax, C on ties ("undecided").
        sensitivity: (R,) float64 P(rater says fg | fg) for binary; (R, C) per class for multi-label.
        specificity: (R,) float64 P(rater says bg | bg); (R, C) one-vs-rest per class for multi-label.
        confusion: (R, L, C) float64 per-rater confusion matrices (rows: rater label, cols: truth).
        iterations: EM iterations run.
        converged: False when ``max_iter`` stopped the EM.
    """

    probability: np.ndarray
    consensus: np.ndarray
    sensitivity: np.ndarray
    specificity: np.ndarray
    confusion: np.ndarray
    iterations: int
    converged: bool


def _fit_binary(
    vp: VotePatterns, *, tol: float, max_iter: int, prior: float | None, confidence_weight: float
) -> StapleFit:
    d = (vp.table != 0).astype(np.float64)  # (P, R) votes
    w_cnt = vp.counts.astype(np.float64)
    total = w_cnt.sum()
    w = d.mean(axis=1)  # initial W: mean of the votes
    g = (float((w_cnt * w).sum() / total) if prior is None else float(prior)) * confidence_weight
    p = q = np.zeros(d.shape[1])
    last_p = last_q = np.full(d.shape[1], -10.0)
    converged = False
    it = 0
    for it in range(max_iter):
        ww = w_cnt * w
        p_denom = ww.sum()
        q_denom = (w_cnt * (1.0 - w)).sum()
        p = (ww @ d) / p_denom
        q = ((w_cnt * (1.0 - w)) @ (1.0 - d)) / q_denom
        alpha = np.prod(np.where(d > 0, p, 1.0 - p), axis=1)
        beta = np.prod(np.where(d > 0, 1.0 - q, q), axis=1)
        num = g * alpha
        w = num / (num + (1.0 - g) * beta)
        if it > 0 and np.all(np.abs(p - last_p) <= tol) and np.all(np.abs(q - last_q) <= tol):
            converged = True
            break
        last_p, last_q = p, q
    confusion = np.stack([np.stack([[q_r, 1 - p_r], [1 - q_r, p_r]]) for p_r, q_r in zip(p, q)])
    return StapleFit(
        patterns=vp,
        posterior=np.stack([1.0 - w, w], axis=1),
        sensitivity=p,
        specificity=q,
        confusion=confusion,
        prior=np.array([1.0 - g, g]),
        iterations=it + 1,
        converged=converged,
    )


def _fit_multilabel(vp: VotePatterns, *, tol: float, max_iter: int, prior: np.ndarray | None) -> StapleFit:
    t = vp.table.astype(np.int64)  # (P, R)
    n_p, r = t.shape
    c = vp.n_classes
    w_cnt = vp.counts.astype(np.float64)
    # majority vote per pattern; ties -> undecided (left out of the initial matrices)
    votes = vp.per_voxel_counts()
    top = votes.max(axis=1)
    winner = votes.argmax(axis=1)
    decided = (votes == top[:, None]).sum(axis=1) == 1
    theta = np.zeros((r, c, c))
    for k in range(r):
        np.add.at(theta[k], (t[decided, k], winner[decided]), w_cnt[decided])
        rows = theta[k].sum(axis=1, keepdims=True)
        theta[k] = np.divide(theta[k], rows, out=np.zeros_like(theta[k]), where=rows > 0)
    if prior is None:
        freq = (w_cnt[:, None] * votes).sum(axis=0)
        pri = freq / freq.sum()
    else:
        pri = np.asarray(prior, dtype=np.float64)
        if pri.shape != (c,):
            raise ValueError(f"prior must have {c} class probabilities, got shape {pri.shape}")
    rows_idx = np.arange(n_p)

    def e_step(th: np.ndarray) -> np.ndarray:
        w = np.broadcast_to(pri, (n_p, c)).copy()
        for k in range(r):
            w *= th[k][t[:, k]]  # (P, C)
        s = w.sum(axis=1, keepdims=True)
        return np.divide(w, s, out=w, where=s > 0)

    converged = False
    it = 0
    for it in range(max_iter):
        w = e_step(theta)
        new = np.zeros_like(theta)
        for k in range(r):
            np.add.at(new[k], t[:, k], w_cnt[:, None] * w)
            cols = new[k].sum(axis=0, keepdims=True)
            new[k] = np.divide(new[k], cols, out=np.zeros_like(new[k]), where=cols > 0)
        update = float(np.abs(new - theta).max())
        theta = new
        if update < tol:
            converged = True
            break
    del rows_idx
    post = e_step(theta)
    sens = np.stack([np.diag(theta[k]) for k in range(r)])  # (R, C)
    mass = (w_cnt[:, None] * post).sum(axis=0)  # expected true-class voxel counts
    spec = np.zeros((r, c))
    for cl in range(c):
        others = np.arange(c) != cl
        denom = mass[others].sum()
        spec[:, cl] = 1.0 if denom == 0 else ((1.0 - theta[:, cl, others]) * mass[others]).sum(axis=1) / denom
    return StapleFit(vp, post, sens, spec, theta, pri, it + 1, converged)


def staple_fit(
    masks: np.ndarray | VotePatterns,
    *,
    tol: float | None = None,
    max_iter: int = 10_000,
    prior: float | np.ndarray | None = None,
    confidence_weight: float = 1.0,
    n_classes: int | None = None,
    use_dask: bool | None = None,
) -> StapleFit:
    """Fit STAPLE on vote patterns only (no per-voxel output); see ``staple`` for the arguments."""
    vp = masks if isinstance(masks, VotePatterns) else vote_patterns(masks, n_classes=n_classes, use_dask=use_dask)
    if vp.n_raters < 1:
        raise ValueError("STAPLE needs at least one rater")
    if max_iter < 1:
        raise ValueError("max_iter must be >= 1")
    if vp.n_classes == 2:
        return _fit_binary(
            vp,
            tol=1e-7 if tol is None else tol,
            max_iter=max_iter,
            prior=None if prior is None else float(prior),  # type: ignore[arg-type]
            confidence_weight=confidence_weight,
        )
    return _fit_multilabel(
        vp, tol=1e-5 if tol is None else tol, max_iter=max_iter, prior=None if prior is None else np.asarray(prior)
    )


def staple(
    masks: np.ndarray,
    *,
    tol: float | None = None,
    max_iter: int = 10_000,
    prior: float | np.ndarray | None = None,
    confidence_weight: float = 1.0,
    n_classes: int | None = None,
    use_dask: bool | None = None,
) -> StapleResult:
    """Estimate the true segmentation and each rater's performance from R rater masks.

    Args:
        masks: (R, Z, Y, X) bool/uint8 binary masks (nonzero = foreground), or integer label maps
            0..L-1 for multi-label STAPLE (used when ``n_classes`` or the max label exceeds 2).
        tol: convergence threshold; default 1e-7 on p, q (binary, as ITK) / 1e-5 on confusion entries
            (multi-label, as ITK).
        max_iter: EM iteration cap.
        prior: binary: global foreground prior g (default mean vote fraction, ITK); multi-label: (L,)
            class priors (default label frequencies over all raters, ITK).
        confidence_weight: binary only; multiplies the prior (ITK's ConfidenceWeight).
        n_classes: L; default max label + 1 (2 for binary masks).
        use_dask: count vote patterns chunk-wise with dask (default for large volumes).
    Returns:
        StapleResult.
    Raises:
        ValueError: not a stack of rater masks, or bad prior.
    """
    stack = as_stack(masks)
    box = foreground_box(stack) if stack.size else None
    vp = vote_patterns(stack, n_classes=n_classes, use_dask=use_dask, box=box)
    fit = staple_fit(vp, tol=tol, max_iter=max_iter, prior=prior, confidence_weight=confidence_weight)
    return result_from_fit(stack, fit, box=box)


def result_from_fit(stack: np.ndarray, fit: StapleFit, *, box: tuple[slice, ...] | None = None) -> StapleResult:
    """Map a pattern-level fit back to voxels with one look-up per voxel of the union's box.

    Args:
        stack: the (R, Z, Y, X) masks the fit was made on.
        fit: ``staple_fit`` result.
        box: ``patterns.foreground_box(stack)`` when known; outside it every voxel has pattern 0.
    """
    vp = fit.patterns
    spatial = stack.shape[1:]
    if box is None:
        box = foreground_box(stack) if stack.size else None
    if box is None:
        box = tuple(slice(0, 0) for _ in spatial)
    sub = stack[(slice(None), *box)]
    codes = pattern_codes(sub if vp.n_classes > 2 or sub.dtype == np.bool_ else sub != 0, vp.n_classes)
    if vp.n_classes == 2:
        lut = np.zeros(2**vp.n_raters, dtype=np.float32)
        lut[vp.codes] = fit.posterior[:, 1]
        cons_lut = (lut >= 0.5).astype(np.uint8)
        prob = np.full(spatial, lut[0], dtype=np.float32)
        prob[box] = lut[codes]
        cons = np.full(spatial, cons_lut[0], dtype=np.uint8)
        cons[box] = cons_lut[codes]
        return StapleResult(prob, cons, fit.sensitivity, fit.specificity, fit.confusion,
                            fit.iterations, fit.converged)
    c = vp.n_classes
    post = fit.posterior
    best = post.max(axis=1)
    label = post.argmax(axis=1)
    tie = (post == best[:, None]).sum(axis=1) > 1
    label = np.where(tie | (best == 0), c, label).astype(np.uint8)
    if vp.codes.max(initial=0) < (1 << 24):
        idx = np.full(int(vp.codes.max(initial=0)) + 1, 0, dtype=np.int64)
        idx[vp.codes] = np.arange(vp.codes.size)
        pid = idx[codes]
    else:
        pid = np.searchsorted(vp.codes, codes)
    post32 = post.astype(np.float32)
    # pattern 0 (all raters background) is present whenever the box does not cover the volume
    zero = int(np.searchsorted(vp.codes, 0))
    has_zero = zero < vp.codes.size and vp.codes[zero] == 0
    prob = np.empty((post.shape[1], *spatial), dtype=np.float32)
    cons = np.empty(spatial, dtype=np.uint8)
    if has_zero:
        prob[...] = post32[zero].reshape((-1,) + (1,) * len(spatial))
        cons[...] = label[zero]
    prob[(slice(None), *box)] = np.moveaxis(post32[pid], -1, 0)
    cons[box] = label[pid]
    return StapleResult(prob, cons, fit.sensitivity, fit.specificity, fit.confusion,
                        fit.iterations, fit.converged)
