"""The K-means step both peers of the benchmark share: a k scan scored by a sampled silhouette.

What a notebook would do after computing RFM: log1p, standardize, K-means (n_init=10) for k = 2..10,
silhouette on a fixed-seed sample of 10,000 customers (every customer when fewer), then keep the k
with the best silhouette. Benchmark only: the build's own rule for k is customer_segments.segmentation.selection.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

K_VALUES = range(2, 11)
SILHOUETTE_SAMPLE = 10_000


def k_scan(customers: pd.DataFrame, random_state: int = 42) -> tuple[int, list[int]]:
    """The k with the best sampled silhouette over K_VALUES and its segment sizes, largest first.

    ``customers``: one row per customer with recency_days, frequency and monetary; those with
    monetary > 0 are clustered.
    """
    eligible = customers.loc[customers["monetary"] > 0]
    X = StandardScaler().fit_transform(
        np.log1p(eligible[["recency_days", "frequency", "monetary"]].to_numpy(dtype="float64")))
    sample = min(SILHOUETTE_SAMPLE, len(X))
    best = None
    for k in K_VALUES:
        labels = KMeans(n_clusters=k, n_init=10, random_state=random_state).fit_predict(X)
        score = silhouette_score(X, labels, sample_size=sample, random_state=random_state)
        if best is None or score > best[0]:
            best = (score, k, labels)
    _, k, labels = best
    return k, sorted(np.bincount(labels).tolist(), reverse=True)
