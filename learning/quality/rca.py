"""Reverse Classification Accuracy (Valindria et al. 2017): predict a segmentation's Dice without its truth.

Why: deployed models meet unlabelled cases; RCA estimates each prediction's quality so bad cases can
be sent to raters first and biases audited. This is RCA with the single-atlas registration reverse
classifier: the case's (image, predicted mask) pair acts as an atlas; it is registered to each of
the ``k`` reference cases (images with consensus labels) most similar to it, the PREDICTION is warped
into the reference's space (nearest neighbour), and Dice against the reference's consensus label is
computed. The predicted Dice is the mean of the highest ``RCA_TOP_FRACTION`` of those Dice values (at
least one): the paper's maximum for up to 20 references, a robust maximum beyond (``rca_estimate``);
the plain max and the mean are kept too. The case's own ground truth is never read.

Registration: SimpleITK, reference = fixed, case = moving, centred initialisation, then a rigid
(``Euler``) or ``affine`` transform fitted by regular-step gradient descent on mean squares (same
modality) or Mattes mutual information. 2D or 3D by the arrays' dimensionality (use 2D per slice for
thin crops: ``rca_case_slices``). SimpleITK is imported by the functions that register, not with the
module, so importing ``learning.quality`` (``image_features``, the audit, OOD) needs only numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from annotation.metrics.overlap import dice

if TYPE_CHECKING:
    import SimpleITK as sitk

__all__ = ["RCA_K", "RCA_METRIC", "RCA_TOP_FRACTION", "RCA_TRANSFORM", "RCAResult", "area_weighted", "image_features",
           "middle_slice_features", "nearest_references", "register", "rca_estimate", "rca_predict", "rca_case_slices"]

#: References per estimate. RCA's estimate is a (robust) MAXIMUM Dice over the references, so too
#: few references bias it low: on LIDC test cases (bench/RESULTS-learning.md, "RCA: references per
#: estimate") k = 3 gave r 0.60 / MAE 0.20 (bias -0.17), k = 20 r 0.82 / MAE 0.095 (bias -0.02).
#: 60 with the top-5% estimator was chosen on validation patients (held-out training patients:
#: MAE 0.078 / r 0.80 against 0.101 / 0.68 for the max over 20; then once on test patients: 0.089 /
#: 0.83 against 0.095 / 0.82). The cost grows linearly with k (one registration per reference and
#: slice, ~25 ms for a 64 x 64 slice).
RCA_K = 60
#: The estimate is the mean of this top fraction of the references' Dice values, at least one value:
#: the max over many references picks the luckiest registrations and overestimates (+0.06 over 60 on
#: validation), the mean over them all underestimates badly (-0.38).
RCA_TOP_FRACTION = 0.05
#: Registration: affine with Mattes mutual information (r 0.61 / MAE 0.20 against rigid mean
#: squares' 0.32 / 0.36 at k = 3, same models).
RCA_TRANSFORM = "affine"
RCA_METRIC = "mutual_information"
#: B-spline control grid of the deformable option: cells per axis over the whole image. On LIDC the
#: option is worse than affine (validation MAE 0.11-0.12, bias +0.07-0.09): a flexible map bends a
#: poor prediction onto any reference's nodule. It is there for shapes an affine map cannot carry.
BSPLINE_MESH = 4


@dataclass(frozen=True)
class RCAResult:
    """Predicted quality of one prediction.

    Args:
        predicted_dice: RCA's estimate (``rca_estimate`` of ``dices``).
        max_dice: max Dice over the references (the paper's estimate).
        mean_dice: mean Dice over the references.
        dices: ``(k,)`` Dice against each reference.
        references: ``(k,)`` indices of the references used.
    """

    predicted_dice: float
    max_dice: float
    mean_dice: float
    dices: np.ndarray
    references: np.ndarray

    def to_dict(self) -> dict[str, object]:
        return {
            "predicted_dice": self.predicted_dice,
            "max_dice": self.max_dice,
            "mean_dice": self.mean_dice,
            "dices": self.dices.tolist(),
            "references": self.references.tolist(),
        }


def rca_estimate(dices: Sequence[float] | np.ndarray, *, top_fraction: float = RCA_TOP_FRACTION) -> float:
    """RCA's predicted Dice from the ``(k,)`` Dice values against the references: the mean of the
    highest ``ceil(top_fraction * k)`` of them (the max for ``k <= 1 / top_fraction``)."""
    d = np.sort(np.asarray(dices, dtype=np.float64))
    if not d.size:
        raise ValueError("need at least one reference Dice")
    if not 0.0 < top_fraction <= 1.0:
        raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction}")
    return float(d[-max(1, int(np.ceil(top_fraction * d.size - 1e-9))):].mean())


def image_features(image: np.ndarray, *, size: int = 8) -> np.ndarray:
    """Cheap similarity features: the image block-averaged to ``size`` per axis, z-scored (float32 vector).

    Args:
        image: 2D ``(Y, X)`` or 3D ``(Z, Y, X)`` array; each axis is split into ``size`` (or fewer) blocks.
    """
    a = np.asarray(image, dtype=np.float32)
    out = a
    for ax in range(a.ndim):
        n = min(size, a.shape[ax])
        edges = np.linspace(0, a.shape[ax], n + 1).astype(int)
        out = np.add.reduceat(out, edges[:-1], axis=ax) / np.diff(edges).reshape(
            [-1 if i == ax else 1 for i in range(a.ndim)]
        )
    v = out.ravel()
    return ((v - v.mean()) / (v.std() + 1e-6)).astype(np.float32)


def middle_slice_features(volume: np.ndarray) -> np.ndarray:
    """Fixed-length cheap features of a ``(Z, Y, X)`` volume of any depth: ``image_features`` of its middle
    axial slice. The cold start, the ``typical`` acquisition strategy and the simulation harness all
    cluster these, so what the harness measures is what the platform does."""
    return image_features(volume[volume.shape[0] // 2])


def nearest_references(query: np.ndarray, ref_features: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` rows of ``ref_features (R, F)`` closest (Euclidean) to ``query (F,)``."""
    d = np.linalg.norm(ref_features - query[None], axis=1)
    k = min(k, len(d))
    return np.argsort(d, kind="stable")[:k]


def _to_itk(a: np.ndarray) -> sitk.Image:
    import SimpleITK as sitk

    return sitk.GetImageFromArray(np.ascontiguousarray(a))


def register(
    fixed: np.ndarray,
    moving: np.ndarray,
    *,
    transform: str = RCA_TRANSFORM,
    metric: str = RCA_METRIC,
    iterations: int = 60,
) -> sitk.Transform:
    """Fit a transform mapping ``fixed`` points into ``moving`` space (SimpleITK convention).

    Args:
        fixed, moving: images of the same dimensionality (2D or 3D, unit spacing).
        transform: ``"rigid"``, ``"affine"``, or ``"bspline"`` (the affine fit, then a free-form
            B-spline on a ``BSPLINE_MESH``-cell grid per axis fitted by L-BFGS-B on top of it: a
            deformable step for shapes that an affine map cannot carry over).
        metric: ``"mean_squares"`` or ``"mutual_information"`` (Mattes, 32 bins).
        iterations: optimiser iterations (per stage).

    Returns:
        The fitted transform (the best stage that succeeded; the centred initial one when all fail).
    """
    import SimpleITK as sitk

    f = sitk.Cast(_to_itk(fixed), sitk.sitkFloat32)
    m = sitk.Cast(_to_itk(moving), sitk.sitkFloat32)
    dim = f.GetDimension()
    if transform == "rigid":
        base: sitk.Transform = sitk.Euler2DTransform() if dim == 2 else sitk.Euler3DTransform()
    elif transform in ("affine", "bspline"):
        base = sitk.AffineTransform(dim)
    else:
        raise ValueError(f"transform must be 'rigid', 'affine' or 'bspline', got {transform!r}")
    if metric not in ("mean_squares", "mutual_information"):
        raise ValueError(f"metric must be 'mean_squares' or 'mutual_information', got {metric!r}")
    init = sitk.CenteredTransformInitializer(f, m, base, sitk.CenteredTransformInitializerFilter.GEOMETRY)
    reg = _registration(metric)
    reg.SetOptimizerAsRegularStepGradientDescent(
        learningRate=1.0, minStep=1e-3, numberOfIterations=iterations, gradientMagnitudeTolerance=1e-6
    )
    reg.SetOptimizerScalesFromPhysicalShift()
    reg.SetInitialTransform(init, inPlace=False)
    try:
        global_t = reg.Execute(f, m)
    except RuntimeError:
        return init
    if transform != "bspline":
        return global_t
    bspline = sitk.BSplineTransformInitializer(f, [BSPLINE_MESH] * dim)
    reg = _registration(metric)
    reg.SetOptimizerAsLBFGSB(gradientConvergenceTolerance=1e-5, numberOfIterations=iterations)
    reg.SetMovingInitialTransform(global_t)
    reg.SetInitialTransform(bspline, inPlace=True)
    try:
        reg.Execute(f, m)
    except RuntimeError:
        return global_t
    return sitk.CompositeTransform([global_t, bspline])


def _registration(metric: str) -> sitk.ImageRegistrationMethod:
    import SimpleITK as sitk

    reg = sitk.ImageRegistrationMethod()
    if metric == "mean_squares":
        reg.SetMetricAsMeanSquares()
    else:
        reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    reg.SetInterpolator(sitk.sitkLinear)
    return reg


def rca_predict(
    image: np.ndarray,
    pred: np.ndarray,
    ref_images: Sequence[np.ndarray],
    ref_labels: Sequence[np.ndarray],
    *,
    k: int = RCA_K,
    ref_features: np.ndarray | None = None,
    query_features: np.ndarray | None = None,
    transform: str = RCA_TRANSFORM,
    metric: str = RCA_METRIC,
    iterations: int = 60,
) -> RCAResult:
    """RCA estimate of ``pred``'s Dice.

    Args:
        image: the case image, 2D or 3D.
        pred: the case's predicted binary mask (same shape).
        ref_images, ref_labels: reference images and consensus labels (same dimensionality as ``image``).
        k: references used (the most similar by feature distance; all of them when fewer).
        ref_features, query_features: precomputed similarity features (default ``image_features``;
            pass bottleneck features to use the network's notion of similarity).
        transform, metric, iterations: see ``register``.

    Returns:
        The RCA result (Dice convention of ``annotation.metrics.overlap``: both empty = 1).
    """
    import SimpleITK as sitk

    if np.shape(image) != np.shape(pred):
        raise ValueError(f"image {np.shape(image)} and pred {np.shape(pred)} differ")
    if len(ref_images) != len(ref_labels) or not len(ref_images):
        raise ValueError("need the same, non-zero number of reference images and labels")
    rf = ref_features if ref_features is not None else np.stack([image_features(r) for r in ref_images])
    qf = query_features if query_features is not None else image_features(image)
    idx = nearest_references(qf, rf, k)
    pred_itk = _to_itk(np.asarray(pred, dtype=np.uint8))
    dices = []
    for j in idx:
        t = register(ref_images[j], image, transform=transform, metric=metric, iterations=iterations)
        ref_itk = _to_itk(np.asarray(ref_labels[j], dtype=np.uint8))
        warped = sitk.Resample(pred_itk, ref_itk, t, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
        dices.append(dice(sitk.GetArrayFromImage(warped), np.asarray(ref_labels[j])))
    d = np.asarray(dices, dtype=np.float64)
    return RCAResult(predicted_dice=rca_estimate(d), max_dice=float(d.max()), mean_dice=float(d.mean()),
                     dices=d, references=idx)


def rca_case_slices(
    image: np.ndarray,
    pred: np.ndarray,
    ref_images: Sequence[np.ndarray],
    ref_labels: Sequence[np.ndarray],
    *,
    ref_features: np.ndarray | None = None,
    k: int = RCA_K,
    **kwargs: object,
) -> float:
    """RCA for a thin ``(Z, Y, X)`` crop, slice by slice in 2D.

    Each slice with predicted foreground gets a 2D RCA estimate against 2D references; the case
    estimate is their mean weighted by the predicted area. A case with no predicted foreground at all
    scores 0 (a reference database of slices that contain the structure cannot confirm an empty mask).

    Returns:
        The predicted Dice of the case.
    """
    areas = np.asarray(pred).reshape(pred.shape[0], -1).sum(1)
    if areas.sum() == 0:
        return 0.0
    rf = ref_features if ref_features is not None else np.stack([image_features(r) for r in ref_images])
    est = [rca_predict(image[z], pred[z], ref_images, ref_labels, k=k, ref_features=rf, **kwargs).predicted_dice  # type: ignore[arg-type]
           for z in np.nonzero(areas)[0]]
    return area_weighted(areas[areas > 0], est)


def area_weighted(areas: Sequence[float] | np.ndarray, estimates: Sequence[float] | np.ndarray) -> float:
    """A case's estimate from its predicted slices' estimates: their mean weighted by predicted area
    (0 when no slice has a prediction)."""
    w = np.asarray(areas, dtype=np.float64)
    return float(np.sum(np.asarray(estimates, dtype=np.float64) * w) / w.sum()) if w.sum() > 0 else 0.0
