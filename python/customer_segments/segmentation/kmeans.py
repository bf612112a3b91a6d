"""``KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(X)`` of scikit-learn 1.9.1, the same bits
at a fraction of the CPU.

Why: the package fits K-means hundreds of times per build on ~2,400 x 3 matrices (the choice of k's
bootstrap refits), where scikit-learn's per-call overhead, not arithmetic, is most of the cost: parameter
and array validation on every fit, and in k-means++ the array-API layers of ``_euclidean_distances``
(get_namespace, row_norms, ...) on arrays of a few thousand numbers, plus a threadpoolctl round trip
around every Lloyd run. Profiled, that was ~70% of a fit.

How equality is kept: :func:`fit` is KMeans.fit's own dense float64 path (algorithm "lloyd", init
"k-means++", tol 1e-4, max_iter 300, unit sample weights) written out with the same numpy calls on the
same arrays in the same order, the same RandomState draws, and scikit-learn's own Cython kernels for
the Lloyd iterations, the inertia and the tie rule between inits. That holds for exactly one
scikit-learn, so :data:`FAST` is true only under the pinned version (requirements.lock, checked by
tests/python/test_kmeans_fast.py); under any other version, or for input off that path (not a finite
float64 matrix, n < k, a non-int seed), :func:`fit` calls KMeans.fit itself. The tests compare labels,
centers, inertia and n_iter bit for bit against KMeans.fit on the project's features, bootstrap
resamples, duplicate rows and the real data.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import sklearn
from sklearn.cluster import KMeans

#: The scikit-learn whose KMeans.fit :func:`fit` reproduces (the pin in requirements.lock).
PINNED_SKLEARN = "1.9.1"
#: KMeans's defaults that :func:`fit` hard-codes.
MAX_ITER = 300
TOL = 1e-4

try:
    from sklearn.cluster._k_means_common import _inertia_dense, _is_same_clustering
    from sklearn.cluster._k_means_lloyd import lloyd_iter_chunked_dense
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.utils._openmp_helpers import _openmp_effective_n_threads

    FAST = sklearn.__version__ == PINNED_SKLEARN
except ImportError:  # private names moved: another scikit-learn, so KMeans.fit it is
    FAST = False


class Fit(NamedTuple):
    """What KMeans.fit leaves in labels_, cluster_centers_, inertia_ and n_iter_."""

    labels: np.ndarray
    centers: np.ndarray
    inertia: float
    n_iter: int


def fit(X: np.ndarray, k: int, n_init: int = 10, random_state: int = 42) -> Fit:
    """``KMeans(n_clusters=k, n_init=n_init, random_state=random_state).fit(X)``, bit for bit."""
    if not (FAST and _on_fast_path(X, k, n_init, random_state)):
        return sklearn_fit(X, k, n_init, random_state)
    return _fast_fit(X, int(k), int(n_init), int(random_state))


def sklearn_fit(X: np.ndarray, k: int, n_init: int = 10, random_state: int = 42) -> Fit:
    """KMeans.fit itself: the fallback, and the reference the tests compare :func:`fit` with."""
    fitted = KMeans(n_clusters=k, n_init=n_init, random_state=random_state).fit(X)
    return Fit(fitted.labels_, fitted.cluster_centers_, fitted.inertia_, fitted.n_iter_)


def _on_fast_path(X: object, k: object, n_init: object, random_state: object) -> bool:
    """Whether KMeans.fit would take its dense float64 path without raising or converting."""
    ints = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (k, n_init, random_state))
    return (ints and isinstance(X, np.ndarray) and X.dtype == np.float64 and X.ndim == 2
            and X.shape[1] >= 1 and 1 <= k <= X.shape[0] and n_init >= 1 and 0 <= random_state < 2**32
            and bool(np.isfinite(X).all()))


def _fast_fit(X: np.ndarray, k: int, n_init: int, seed: int) -> Fit:
    # KMeans.fit: validate_data copies X (C order), _tolerance reads the copy before centering.
    X = np.array(X, dtype=np.float64, order="C", copy=True)
    tol = np.mean(np.var(X, axis=0)) * TOL
    random_state = np.random.RandomState(seed)
    sample_weight = np.ones(X.shape[0], dtype=X.dtype)
    n_threads = _openmp_effective_n_threads()
    X_mean = X.mean(axis=0)
    X -= X_mean
    x_squared_norms = np.einsum("ij,ij->i", X, X)  # row_norms(X, squared=True)

    best_inertia = best_labels = best_centers = best_n_iter = None
    for _ in range(n_init):
        centers_init = _kmeans_plusplus(X, k, x_squared_norms, sample_weight, random_state)
        labels, inertia, centers, n_iter = _lloyd(X, sample_weight, centers_init, tol, n_threads)
        # KMeans.fit's rule: a later init wins only with a lower inertia and a different clustering.
        if best_inertia is None or (inertia < best_inertia and not _is_same_clustering(labels, best_labels, k)):
            best_labels, best_centers, best_inertia, best_n_iter = labels, centers, inertia, n_iter
    best_centers += X_mean

    distinct_clusters = np.unique(best_labels).size
    if distinct_clusters < k:
        warnings.warn(
            f"Number of distinct clusters ({distinct_clusters}) found smaller than n_clusters ({k}). "
            "Possibly due to duplicate points in X.", ConvergenceWarning, stacklevel=3)
    return Fit(best_labels, best_centers, best_inertia, best_n_iter)


def _squared_distances(A: np.ndarray, X: np.ndarray, x_squared_norms: np.ndarray) -> np.ndarray:
    """sklearn's ``_euclidean_distances(A, X, Y_norm_squared=x_squared_norms, squared=True)`` for float64:
    -2 A.X^T, plus ||a||^2 (row_norms of A), plus ||x||^2, clipped at 0, in that order."""
    distances = -2 * (A @ X.T)
    distances += np.einsum("ij,ij->i", A, A)[:, None]
    distances += x_squared_norms.reshape(1, -1)
    np.maximum(distances, 0, out=distances)
    return distances


def _kmeans_plusplus(X: np.ndarray, n_clusters: int, x_squared_norms: np.ndarray, sample_weight: np.ndarray,
                     random_state: np.random.RandomState) -> np.ndarray:
    """sklearn's ``_kmeans_plusplus`` (dense), step for step: the initial centers."""
    n_samples, n_features = X.shape
    centers = np.empty((n_clusters, n_features), dtype=X.dtype)
    n_local_trials = 2 + int(np.log(n_clusters))

    center_id = random_state.choice(n_samples, p=sample_weight / sample_weight.sum())
    centers[0] = X[center_id]
    closest_dist_sq = _squared_distances(centers[0, np.newaxis], X, x_squared_norms)
    current_pot = closest_dist_sq @ sample_weight

    for c in range(1, n_clusters):
        rand_vals = random_state.uniform(size=n_local_trials) * current_pot
        candidate_ids = np.searchsorted(np.cumsum(sample_weight * closest_dist_sq), rand_vals)
        np.minimum(candidate_ids, closest_dist_sq.size - 1, out=candidate_ids)  # np.clip(.., None, ..), faster

        distance_to_candidates = _squared_distances(X[candidate_ids], X, x_squared_norms)
        np.minimum(closest_dist_sq, distance_to_candidates, out=distance_to_candidates)
        candidates_pot = distance_to_candidates @ sample_weight.reshape(-1, 1)

        best_candidate = np.argmin(candidates_pot)
        current_pot = candidates_pot[best_candidate]
        closest_dist_sq = distance_to_candidates[best_candidate]
        centers[c] = X[candidate_ids[best_candidate]]
    return centers


def _lloyd(X: np.ndarray, sample_weight: np.ndarray, centers_init: np.ndarray, tol: float,
           n_threads: int) -> tuple[np.ndarray, float, np.ndarray, int]:
    """sklearn's ``_kmeans_single_lloyd`` (dense, not verbose): labels, inertia, centers, iterations.

    sklearn runs it under a one-thread BLAS limit; the package holds every BLAS pool of the process at one
    thread (customer_segments/__init__.py), so the kernel's gemm runs as it does there, without the
    threadpoolctl round trip per call."""
    n_clusters = centers_init.shape[0]
    centers = centers_init
    centers_new = np.zeros_like(centers)
    labels = np.full(X.shape[0], -1, dtype=np.int32)
    labels_old = labels.copy()
    weight_in_clusters = np.zeros(n_clusters, dtype=X.dtype)
    center_shift = np.zeros(n_clusters, dtype=X.dtype)

    strict_convergence = False
    for n_iter in range(1, MAX_ITER + 1):  # noqa: B007 (the count is returned after the loop)
        lloyd_iter_chunked_dense(X, sample_weight, centers, centers_new, weight_in_clusters, labels,
                                 center_shift, n_threads)
        centers, centers_new = centers_new, centers
        if (labels == labels_old).all():  # np.array_equal of two int32 arrays of one shape
            strict_convergence = True
            break
        if (center_shift**2).sum() <= tol:
            break
        labels_old[:] = labels

    if not strict_convergence:
        # rerun the E-step so that the labels match the centers
        lloyd_iter_chunked_dense(X, sample_weight, centers, centers, weight_in_clusters, labels, center_shift,
                                 n_threads, update_centers=False)
    inertia = _inertia_dense(X, sample_weight, centers, labels, n_threads)
    return labels, inertia, centers, n_iter
