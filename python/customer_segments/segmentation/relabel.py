"""Stable segment ids across builds: match this build's centroids to the previous build's.

K-means numbers its clusters arbitrarily. On the first build ids follow descending mean monetary
(:func:`order_by_mean`); on later builds each new centroid is matched one-to-one to a previous
centroid by the Hungarian method on Euclidean distance, and keeps that segment's id when it moved by
at most ``max_shift`` standardized units. A centroid that moved further, or has no partner (k grew),
is a new segment and gets a fresh id above every id used before, so a dashboard never sees customers
"migrate" into a segment that merely inherited a number.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

#: A centroid that moved at most this far (standardized units) keeps its id. Segment centroids on
#: log-RFM sit 1-3 units apart, so half a unit is "the same segment, a little drift".
MAX_CENTROID_SHIFT = 0.5


def order_by_mean(labels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Relabel clusters 1..k by descending mean of ``values``, ties broken by the old label.

    K-means labels are arbitrary; ordering them by a business quantity keeps ids from reshuffling
    between runs that find the same clusters.
    """
    clusters = np.unique(labels)
    means = np.array([values[labels == c].mean() for c in clusters])
    order = clusters[np.lexsort((clusters, -means))]
    mapping = {old: new for new, old in enumerate(order, start=1)}
    return np.array([mapping[label] for label in labels], dtype=np.int64)


def match_previous_ids(
    centroids: np.ndarray,
    previous_centroids: np.ndarray,
    previous_ids: np.ndarray,
    max_shift: float = MAX_CENTROID_SHIFT,
) -> tuple[np.ndarray, np.ndarray]:
    """Ids for this build's clusters from the previous build's.

    Parameters
    ----------
    centroids : shape (k, n_features), this build's centroids, rows in the preferred order for
        fresh ids (e.g. 1 = highest mean monetary).
    previous_centroids : shape (k_prev, n_features), the previous build's centroids in the same space.
    previous_ids : shape (k_prev,), their segment ids.
    max_shift : largest distance at which a centroid keeps the matched previous id.

    Returns
    -------
    ids : shape (k,), the segment id of each row of ``centroids``.
    shifts : shape (k,), distance to the matched previous centroid (NaN for a new segment).
    """
    centroids = np.asarray(centroids, dtype=float)
    previous_centroids = np.asarray(previous_centroids, dtype=float)
    previous_ids = np.asarray(previous_ids, dtype=np.int64)
    if previous_centroids.ndim != 2 or previous_centroids.shape[1] != centroids.shape[1]:
        raise ValueError(f"previous centroids have shape {previous_centroids.shape}, expected (k, {centroids.shape[1]})")
    if len(previous_ids) != len(previous_centroids) or len(set(previous_ids.tolist())) != len(previous_ids):
        raise ValueError("previous ids must be unique, one per previous centroid")
    if max_shift < 0:
        raise ValueError(f"max_shift must be non-negative, got {max_shift}")
    ids = np.zeros(len(centroids), dtype=np.int64)
    shifts = np.full(len(centroids), np.nan)
    if len(previous_centroids):
        cost = cdist(centroids, previous_centroids)
        rows, cols = linear_sum_assignment(cost)
        for row, col in zip(rows, cols):
            if cost[row, col] <= max_shift:
                ids[row] = previous_ids[col]
                shifts[row] = cost[row, col]
    next_id = int(previous_ids.max()) + 1 if len(previous_ids) else 1
    for row in range(len(centroids)):
        if ids[row] == 0:
            ids[row] = next_id
            next_id += 1
    return ids, shifts


def centroids_of(X: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique labels, their mean rows) of ``X`` (n, n_features); labels < 0 are ignored."""
    clusters = np.unique(labels[labels >= 0])
    return clusters, np.vstack([X[labels == c].mean(axis=0) for c in clusters]) if len(clusters) else np.empty((0, X.shape[1]))
