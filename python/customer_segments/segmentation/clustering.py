"""K-means segments on customer-level RFM features, with ids that stay put between builds and a
membership margin per customer (how clearly they belong to their segment).

Everything here works on one row per customer: invoice lines never reach Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.spatial.distance import cdist

from customer_segments.segmentation.features import RFM_FEATURES, FeatureTransform, eligible_customers
from customer_segments.segmentation.relabel import (
    FIRST_BUILD,
    MATCHED,
    MAX_CENTROID_SHIFT,
    NEW_SEGMENT,
    centroids_of,
    match_previous_ids,
    order_by_mean,
)
from customer_segments.segmentation.shared import kmeans_fit


@dataclass(frozen=True)
class SegmentFit:
    """Result of :func:`fit_kmeans_segments`.

    Attributes
    ----------
    assignments : one row per customer: customer_id, segment_id, distance_to_centroid (Euclidean,
        standardized units), membership_margin and membership_rank (:func:`membership`) and
        ``z_<feature>`` for each feature.
    centroids : shape (k, n_features), standardized units; row i is segment ``segment_ids[i]``.
    segment_ids : shape (k,), increasing.
    centroid_shifts : shape (k,), distance to the previous build's centroid of the same id (NaN: none).
    id_sources : shape (k,), how each id was given (MATCHED, NEW_SEGMENT, or the ``fresh_source`` of
        ids numbered 1..k: FIRST_BUILD or a restart's reason).
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


def membership(X: np.ndarray, centroids: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How clearly each customer belongs to their segment.

    Parameters
    ----------
    X : shape (n, n_features), customers in clustering space.
    centroids : shape (k, n_features).
    rows : shape (n,), each customer's row of ``centroids``.

    Returns
    -------
    distance : shape (n,), Euclidean distance to the customer's own centroid.
    margin : shape (n,), distance to the nearest other centroid minus ``distance``: large for a clear
        member, near 0 at the border between two segments (NaN when k = 1: there is no other segment).
    """
    all_distances = cdist(X, centroids)
    own = all_distances[np.arange(len(X)), rows]
    if len(centroids) < 2:
        return own, np.full(len(X), np.nan)
    others = all_distances.copy()
    others[np.arange(len(X)), rows] = np.inf
    return own, others.min(axis=1) - own


def fit_kmeans_segments(
    customers: pd.DataFrame,
    n_segments: int,
    random_state: int = 42,
    features: tuple[str, ...] = RFM_FEATURES,
    n_init: int = 10,
    previous: pd.DataFrame | None = None,
    max_shift: float = MAX_CENTROID_SHIFT,
    fresh_source: str = FIRST_BUILD,
) -> SegmentFit:
    """Fit K-means on log-transformed, standardized, clipped features of customers with monetary > 0.

    Parameters
    ----------
    customers : one row per customer with ``customer_id``, ``monetary`` and ``features``.
        Row order does not matter: rows are sorted by customer_id before fitting.
    n_segments : number of clusters k, 1 <= k <= number of eligible customers.
    random_state : seed of the K-means initialisation.
    previous : the previous build's assignments (customer_id, segment_id and the raw ``features``)
        when this build continues it (:func:`customer_segments.segmentation.relabel.continuation`),
        else None. Its centroids are recomputed in this build's feature space and matched to the new
        ones (see :mod:`customer_segments.segmentation.relabel`).
    max_shift : a centroid that moved at most this far keeps its previous id.
    fresh_source : the id_source of ids numbered 1..k when there is no ``previous`` (a first build,
        or a restart's reason).

    Returns
    -------
    SegmentFit; without ``previous`` ids 1..k follow descending mean monetary.
    """
    eligible = eligible_customers(customers)
    n_segments = validate_n_segments(n_segments, len(eligible))
    transform = FeatureTransform(features, "log").fit(eligible)
    scaled = transform.transform_frame(eligible)
    labels, _ = kmeans_fit(scaled, n_segments, n_init, random_state)
    # Provisional ids 1..k by descending mean monetary: the first build's ids, and the order in
    # which new segments get fresh ids later.
    provisional = order_by_mean(labels, eligible["monetary"].astype("float64").to_numpy())
    _, centroids = centroids_of(scaled, provisional)
    ids = np.arange(1, n_segments + 1)
    shifts = np.full(n_segments, np.nan)
    sources = np.full(n_segments, fresh_source, dtype=object)
    if previous is not None and len(previous):
        previous = previous.sort_values("customer_id", kind="stable")
        previous_ids, previous_centroids = centroids_of(transform.transform_frame(previous),
                                                        previous["segment_id"].to_numpy(dtype=np.int64))
        ids, shifts = match_previous_ids(centroids, previous_centroids, previous_ids, max_shift)
        sources = np.where(np.isnan(shifts), NEW_SEGMENT, MATCHED).astype(object)
    segment_ids = ids[provisional - 1]
    order = np.argsort(ids)
    distances, margins = membership(scaled, centroids, provisional - 1)
    assignments = pd.DataFrame({
        "customer_id": eligible["customer_id"].astype("int64").to_numpy(),
        "segment_id": segment_ids.astype(np.int64),
        "distance_to_centroid": distances,
        "membership_margin": margins,
    })
    # Rows are sorted by customer_id, so a stable sort breaks ties by customer id.
    assignments["membership_rank"] = (
        assignments.assign(order=-np.nan_to_num(margins, nan=0.0))
        .sort_values(["segment_id", "order"], kind="stable")
        .groupby("segment_id").cumcount().add(1).reindex(assignments.index).astype("int64"))
    for i, feature in enumerate(features):
        assignments[f"z_{feature}"] = scaled[:, i]
    return SegmentFit(assignments=assignments, centroids=centroids[order], segment_ids=ids[order],
                      centroid_shifts=shifts[order], id_sources=sources[order], feature_names=tuple(features))
