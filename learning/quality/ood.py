"""Out-of-distribution distance of cases from the training cases, on PCA-reduced bottleneck features.

Why: a case unlike anything the model was trained on is likely to fail and is worth labelling; the
distance needs no labels and one forward pass (``learning.nets.bottleneck_features``).
Mahalanobis distance (Lee et al. 2018 style, one Gaussian over the training features) and the mean
Euclidean distance to the k nearest training cases (Sun et al. 2022), both after standardised PCA.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.decomposition import PCA

__all__ = ["FeatureOOD"]

_METHODS = ("mahalanobis", "knn")


@dataclass
class FeatureOOD:
    """Fit on training features, then score new ones (higher = further from training).

    Args:
        n_components: PCA components kept (capped by samples and features).
        k: neighbours for ``knn``.
        ridge: added to the covariance diagonal (in whitened PCA units).
    """

    n_components: int = 16
    k: int = 5
    ridge: float = 1e-3
    _pca: PCA | None = field(default=None, init=False, repr=False)
    _train: np.ndarray | None = field(default=None, init=False, repr=False)
    _mean: np.ndarray | None = field(default=None, init=False, repr=False)
    _prec: np.ndarray | None = field(default=None, init=False, repr=False)

    def fit(self, features: np.ndarray) -> FeatureOOD:
        """Fit on ``(N, F)`` training features (N >= 2)."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] < 2:
            raise ValueError(f"features must be (N >= 2, F), got {x.shape}")
        n = max(1, min(self.n_components, x.shape[0] - 1, x.shape[1]))
        self._pca = PCA(n_components=n, whiten=True, random_state=0).fit(x)
        z = self._pca.transform(x)
        self._train = z
        self._mean = z.mean(0)
        cov = np.cov(z, rowvar=False).reshape(n, n) + self.ridge * np.eye(n)
        self._prec = np.linalg.inv(cov)
        return self

    def transform(self, features: np.ndarray) -> np.ndarray:
        if self._pca is None:
            raise RuntimeError("call fit first")
        return self._pca.transform(np.asarray(features, dtype=np.float64))

    def score(self, features: np.ndarray, *, method: str = "mahalanobis") -> np.ndarray:
        """``(M,)`` distances of ``(M, F)`` features; ``method`` is ``"mahalanobis"`` or ``"knn"``."""
        if method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
        z = self.transform(features)
        assert self._train is not None and self._mean is not None and self._prec is not None
        if method == "mahalanobis":
            d = z - self._mean
            return np.sqrt(np.einsum("ij,jk,ik->i", d, self._prec, d))
        dist = np.sqrt(((z[:, None, :] - self._train[None]) ** 2).sum(-1))
        k = min(self.k, dist.shape[1])
        return np.sort(dist, axis=1)[:, :k].mean(1)
