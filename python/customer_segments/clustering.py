"""K-means segments on customer-level RFM features.

Everything here works on one row per customer: invoice lines never reach Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

#: Features clustered, in this order, and the transform applied before standardising.
RFM_FEATURES: tuple[str, ...] = ("recency_days", "frequency", "monetary")


@dataclass(frozen=True)
class SegmentFit:
    """Result of :func:`fit_kmeans_segments`.

    Attributes
    ----------
    assignments : one row per customer: customer_id, segment_id (1..k, 1 = highest mean monetary),
        distance_to_centroid (Euclidean, standardized units) and ``z_<feature>`` for each feature.
    centroids : shape (k, n_features), standardized units, row i is segment i + 1.
    feature_names : names of the centroid columns.
    """

    assignments: pd.DataFrame
    centroids: np.ndarray
    feature_names: tuple[str, ...]


def log_features(customers: pd.DataFrame, features: tuple[str, ...] = RFM_FEATURES) -> np.ndarray:
    """Log-transform skewed, non-negative customer features; shape (n_customers, n_features).

    RFM features are heavy-tailed (a few customers spend 1000x the median): without the log, K-means
    spends its clusters on outliers. log1p keeps recency 0 (bought on the as-of date) finite.
    """
    missing = [f for f in features if f not in customers.columns]
    if missing:
        raise ValueError(f"customer features missing columns {missing}; have {list(customers.columns)}")
    values = customers.loc[:, list(features)].astype("float64").to_numpy()
    if np.isnan(values).any():
        raise ValueError(f"customer features contain missing values in {features}")
    if (values < 0).any():
        raise ValueError(f"customer features must be non-negative before the log transform: {features}")
    return np.log1p(values)


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


def fit_kmeans_segments(
    customers: pd.DataFrame,
    n_segments: int,
    random_state: int = 42,
    features: tuple[str, ...] = RFM_FEATURES,
    n_init: int = 10,
) -> SegmentFit:
    """Fit K-means on log-transformed, standardized features of customers with monetary > 0.

    Parameters
    ----------
    customers : one row per customer with ``customer_id``, ``monetary`` and ``features``.
        Row order does not matter: rows are sorted by customer_id before fitting.
    n_segments : number of clusters k, 1 <= k <= number of eligible customers.
    random_state : seed of the K-means initialisation.

    Returns
    -------
    SegmentFit with segment ids 1..k ordered by descending mean monetary.
    """
    if not isinstance(n_segments, (int, np.integer)) or isinstance(n_segments, bool):
        raise ValueError(f"n_segments must be an integer, got {n_segments!r}")
    eligible = customers.loc[customers["monetary"].astype("float64") > 0].sort_values("customer_id")
    if n_segments < 1 or n_segments > len(eligible):
        raise ValueError(
            f"n_segments must be between 1 and the number of customers with monetary > 0 "
            f"({len(eligible)}), got {n_segments}"
        )
    scaled = StandardScaler().fit_transform(log_features(eligible, features))
    kmeans = KMeans(n_clusters=n_segments, n_init=n_init, random_state=random_state).fit(scaled)
    segment_ids = order_by_mean(kmeans.labels_, eligible["monetary"].astype("float64").to_numpy())
    # Centroids as the means of their members: identical to K-means' centres at convergence, and
    # indexed by the new ids.
    centroids = np.vstack([scaled[segment_ids == s].mean(axis=0) for s in range(1, n_segments + 1)])
    distances = np.linalg.norm(scaled - centroids[segment_ids - 1], axis=1)
    assignments = pd.DataFrame(
        {
            "customer_id": eligible["customer_id"].astype("int64").to_numpy(),
            "segment_id": segment_ids,
            "distance_to_centroid": distances,
        }
    )
    for i, feature in enumerate(features):
        assignments[f"z_{feature}"] = scaled[:, i]
    return SegmentFit(assignments=assignments, centroids=centroids, feature_names=tuple(features))
