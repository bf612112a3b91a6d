"""K-means segments on customer-level RFM features, with ids that stay put between builds.

Everything here works on one row per customer: invoice lines never reach Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans

from customer_segments.segmentation.features import RFM_FEATURES, FeatureTransform, eligible_customers
from customer_segments.segmentation.relabel import MAX_CENTROID_SHIFT, centroids_of, match_previous_ids, order_by_mean

#: id_source values: how a segment got its id.
FIRST_BUILD = "first build: ordered by mean monetary"
MATCHED = "kept from the previous build"
NEW_SEGMENT = "new segment: no previous centroid within max shift"


@dataclass(frozen=True)
class SegmentFit:
    """Result of :func:`fit_kmeans_segments`.

    Attributes
    ----------
    assignments : one row per customer: customer_id, segment_id, distance_to_centroid (Euclidean,
        standardized units) and ``z_<feature>`` for each feature.
    centroids : shape (k, n_features), standardized units; row i is segment ``segment_ids[i]``.
    segment_ids : shape (k,), increasing.
    centroid_shifts : shape (k,), distance to the previous build's centroid of the same id (NaN: none).
    id_sources : shape (k,), how each id was given (FIRST_BUILD, MATCHED or NEW_SEGMENT).
    feature_names : names of the centroid columns.
    """

    assignments: pd.DataFrame
    centroids: np.ndarray
    segment_ids: np.ndarray
    centroid_shifts: np.ndarray
    id_sources: np.ndarray
    feature_names: tuple[str, ...]


def validate_n_segments(n_segments: object, n_customers: int) -> int:
    """n_segments as an int, refused unless 1 <= n_segments <= n_customers."""
    if not isinstance(n_segments, (int, np.integer)) or isinstance(n_segments, bool):
        raise ValueError(f"n_segments must be an integer, got {n_segments!r}")
    if n_segments < 1 or n_segments > n_customers:
        raise ValueError(f"n_segments must be between 1 and the number of customers with monetary > 0 "
                         f"({n_customers}), got {n_segments}")
    return int(n_segments)


def fit_kmeans_segments(
    customers: pd.DataFrame,
    n_segments: int,
    random_state: int = 42,
    features: tuple[str, ...] = RFM_FEATURES,
    n_init: int = 10,
    previous: pd.DataFrame | None = None,
    max_shift: float = MAX_CENTROID_SHIFT,
) -> SegmentFit:
    """Fit K-means on log-transformed, standardized, clipped features of customers with monetary > 0.

    Parameters
    ----------
    customers : one row per customer with ``customer_id``, ``monetary`` and ``features``.
        Row order does not matter: rows are sorted by customer_id before fitting.
    n_segments : number of clusters k, 1 <= k <= number of eligible customers.
    random_state : seed of the K-means initialisation.
    previous : the previous build's assignments (customer_id, segment_id and the raw ``features``),
        or None on a first build. Its centroids are recomputed in this build's feature space and
        matched to the new ones (see :mod:`customer_segments.segmentation.relabel`).
    max_shift : a centroid that moved at most this far keeps its previous id.

    Returns
    -------
    SegmentFit; on a first build ids 1..k follow descending mean monetary.
    """
    eligible = eligible_customers(customers)
    n_segments = validate_n_segments(n_segments, len(eligible))
    transform = FeatureTransform(features, "log").fit(eligible)
    scaled = transform.transform_frame(eligible)
    labels = KMeans(n_clusters=n_segments, n_init=n_init, random_state=random_state).fit_predict(scaled)
    # Provisional ids 1..k by descending mean monetary: the first build's ids, and the order in
    # which new segments get fresh ids later.
    provisional = order_by_mean(labels, eligible["monetary"].astype("float64").to_numpy())
    _, centroids = centroids_of(scaled, provisional)
    ids = np.arange(1, n_segments + 1)
    shifts = np.full(n_segments, np.nan)
    sources = np.full(n_segments, FIRST_BUILD, dtype=object)
    if previous is not None and len(previous):
        previous = previous.sort_values("customer_id", kind="stable")
        previous_ids, previous_centroids = centroids_of(transform.transform_frame(previous),
                                                        previous["segment_id"].to_numpy(dtype=np.int64))
        ids, shifts = match_previous_ids(centroids, previous_centroids, previous_ids, max_shift)
        sources = np.where(np.isnan(shifts), NEW_SEGMENT, MATCHED).astype(object)
    segment_ids = ids[provisional - 1]
    order = np.argsort(ids)
    distances = np.linalg.norm(scaled - centroids[provisional - 1], axis=1)
    assignments = pd.DataFrame({
        "customer_id": eligible["customer_id"].astype("int64").to_numpy(),
        "segment_id": segment_ids.astype(np.int64),
        "distance_to_centroid": distances,
    })
    for i, feature in enumerate(features):
        assignments[f"z_{feature}"] = scaled[:, i]
    return SegmentFit(assignments=assignments, centroids=centroids[order], segment_ids=ids[order],
                      centroid_shifts=shifts[order], id_sources=sources[order], feature_names=tuple(features))
