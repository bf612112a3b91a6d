"""K-means fits and silhouette distances computed once per process and shared by the models that need them.

dbt runs a build's Python models in threads of one process, and four of them repeat each other's work
on the same matrix with the same seeds: the algorithm comparison's K-means row and the feature-set
comparison's rfm/log row refit segment_k_selection's fit at the chosen k and its first
``stability_resamples`` bootstrap refits, customer_segments refits it once more (when every eligible
customer is in the selection sample), and the silhouette of the same sampled customers is computed
for every k and every algorithm from the same pairwise distances. On the real data that is 13 K-means
fits (n_init=10) and 14 distance matrices of 3,000 x 3,000 done twice or more.

A K-means fit is a pure function of (the matrix's values, k, n_init, seed), so :func:`kmeans_fit`
keys it by exactly that (the matrix by a hash of its C-ordered bytes, shape and dtype) and returns the
stored labels and inertia when the same fit was made before in this process: the same bits as a refit
(it *is* the first fit), fewer fits. :func:`silhouette` computes the distances of the sampled rows with
scikit-learn's own ``pairwise_distances_chunked`` (what ``silhouette_score`` does inside) and scores
each labelling on them with ``metric="precomputed"``: the same value to the bit
(tests/python/test_shared.py checks both). Both stores are bounded (LRU by bytes), so memory stays flat
whatever the number of models or the size of the data; nothing is written to disk.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np
from sklearn.metrics import pairwise_distances_chunked, silhouette_score

from customer_segments.segmentation import kmeans

#: Labels kept for reuse, at most this many bytes (3,000-row fits: 12 kB each).
MAX_FIT_BYTES = 64 * 2**20
#: Distance matrices kept for reuse, at most this many bytes (3,000 sampled rows: 72 MB); a larger
#: silhouette sample is scored as before, without keeping its distances.
MAX_DISTANCE_BYTES = 160 * 2**20


class ProcessStore:
    """A thread-safe least-recently-used map whose values are bounded by their total size (bytes, or
    any unit the caller sizes its values in); the one store of the package's per-process reuse."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.items: OrderedDict[tuple, tuple[object, int]] = OrderedDict()
        self.bytes = 0
        self.lock = threading.Lock()

    def get(self, key: tuple) -> object | None:
        with self.lock:
            item = self.items.get(key)
            if item is None:
                return None
            self.items.move_to_end(key)
            return item[0]

    def put(self, key: tuple, value: object, size: int) -> None:
        if size > self.max_bytes:
            return
        with self.lock:
            if key in self.items:
                return
            self.items[key] = (value, size)
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, (_, dropped) = self.items.popitem(last=False)
                self.bytes -= dropped


_FITS = ProcessStore(MAX_FIT_BYTES)
_DISTANCES = ProcessStore(MAX_DISTANCE_BYTES)


def matrix_key(X: np.ndarray) -> tuple:
    """The values of ``X``: shape, dtype and a hash of its bytes in C order."""
    X = np.ascontiguousarray(X)
    return X.shape, X.dtype.str, hashlib.blake2b(X.tobytes(), digest_size=20).digest()


def kmeans_fit(X: np.ndarray, k: int, n_init: int = 10, random_state: int = 42) -> tuple[np.ndarray, float]:
    """Labels (n,) and inertia of ``KMeans(n_clusters=k, n_init=n_init, random_state=random_state).fit(X)``,
    fitted once per process for the same values of X, k, n_init and seed (a fresh copy of the labels), by
    :func:`customer_segments.segmentation.kmeans.fit` (the same bits at less CPU)."""
    key = (matrix_key(X), int(k), int(n_init), int(random_state))
    stored = _FITS.get(key)
    if stored is None:
        fitted = kmeans.fit(X, k, n_init, random_state)
        stored = (fitted.labels.copy(), float(fitted.inertia))
        _FITS.put(key, stored, stored[0].nbytes)
    labels, inertia = stored
    return labels.copy(), inertia


def silhouette(X: np.ndarray, labels: np.ndarray) -> float:
    """``silhouette_score(X, labels)`` (Euclidean), the distances of the rows of X computed once per process."""
    if X.shape[0] ** 2 * 8 > MAX_DISTANCE_BYTES:
        return float(silhouette_score(X, labels))
    key = matrix_key(X)
    distances = _DISTANCES.get(key)
    if distances is None:
        distances = np.vstack(list(pairwise_distances_chunked(X)))
        distances.setflags(write=False)
        _DISTANCES.put(key, distances, distances.nbytes)
    return float(silhouette_score(distances, labels, metric="precomputed"))
