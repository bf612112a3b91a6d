"""Bootstrap stability of a clustering: refit on resamples, compare the labels of shared customers.

Each resample is a fixed-seed subsample drawn without replacement (an m-out-of-n bootstrap):
duplicated customers, as in the classic bootstrap, would create artificial dense spots that density
methods and Ward linkage latch onto. Each pair of resamples is compared by the adjusted Rand index on
the customers they share; the mean over pairs is the stability (1 = identical partitions, 0 = chance).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from itertools import combinations

import numpy as np
from sklearn.metrics import adjusted_rand_score

#: A labeler fits a clustering on rows X (n, n_features) with a seed and returns one label per row.
Labeler = Callable[[np.ndarray, int], np.ndarray]

#: Partitions whose resamples agree with a mean ARI of at least this are called stable. Hennig's
#: clusterboot reads a Jaccard recovery >= 0.75 as "stable" and <= 0.5 as "dissolved"; ARI is stricter
#: than Jaccard on the same partitions, so 0.8 on ARI is a demanding bar that well-separated planted
#: segments pass and a chance split fails by far.
STABLE_ARI = 0.8
#: Each resample holds this share of the rows (so that resamples differ) and at least MIN_RESAMPLE_ROWS.
RESAMPLE_SHARE = 0.8
MIN_RESAMPLE_ROWS = 10
#: The fewest rows a stability estimate can be made on: the smallest n with int(0.8 n) >= 10.
MIN_STABILITY_ROWS = math.ceil(MIN_RESAMPLE_ROWS / RESAMPLE_SHARE)


def bootstrap_stability(labeler: Labeler, X: np.ndarray, n_resamples: int = 5, sample_size: int = 3000,
                        random_state: int = 42) -> tuple[float, float]:
    """Mean and standard deviation of the pairwise ARI between refits on ``n_resamples`` subsamples.

    Parameters
    ----------
    labeler : fits and labels rows, e.g. ``lambda X, seed: KMeans(4, random_state=seed).fit_predict(X)``.
    X : shape (n_customers, n_features), rows sorted by customer id.
    n_resamples : refits, at least 2.
    sample_size : rows per resample; at most 80% of the rows so that resamples differ.
    random_state : seed of the resampling; refit b uses seed ``random_state + b``.
    """
    if n_resamples < 2:
        raise ValueError(f"stability needs at least 2 resamples, got {n_resamples}")
    n = len(X)
    size = min(sample_size, int(RESAMPLE_SHARE * n))
    if size < MIN_RESAMPLE_ROWS:
        raise ValueError(f"too few customers ({n}) for a stability estimate")
    rng = np.random.default_rng(random_state)
    runs = []
    for b in range(n_resamples):
        rows = np.sort(rng.choice(n, size=size, replace=False))
        labels = np.full(n, -2, dtype=np.int64)  # -2: not in this resample
        labels[rows] = labeler(X[rows], random_state + b)
        runs.append(labels)
    scores = []
    for first, second in combinations(runs, 2):
        shared = (first != -2) & (second != -2)
        scores.append(adjusted_rand_score(first[shared], second[shared]))
    return float(np.mean(scores)), float(np.std(scores))
