"""Segment ids with a meaning: 1..k on a first build, kept only while a build continues the previous one.

K-means numbers its clusters arbitrarily. A first build of a data set numbers them 1..k by descending
mean monetary (:func:`order_by_mean`). A later build keeps the previous build's ids only when it
continues the same customers' history (:func:`continuation`): at least :data:`MIN_CONTINUING_SHARE`
of the previous build's customers are in this build with the same first purchase timestamp. Another
data set written into the same working file (whose customer numbers may overlap) is not a
continuation, and its ids restart at 1..k. In a continuation each new centroid is matched one-to-one
to a previous centroid by the Hungarian method on Euclidean distance, and keeps that segment's id
when it moved by at most ``max_shift`` standardized units. A centroid that moved further, or has no
partner (k grew), is a new segment and gets a fresh id above every id of the previous build, so a
dashboard never sees customers "migrate" into a segment that merely inherited a number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

#: A centroid that moved at most this far (standardized units) keeps its id. Segment centroids on
#: log-RFM sit 1-3 units apart, so half a unit is "the same segment, a little drift".
MAX_CENTROID_SHIFT = 0.5

#: A build continues the previous one when at least this share of the previous build's customers are
#: in it with the same first purchase timestamp. The same file again, or the file with later invoices
#: appended, keeps 100% (first purchases do not move when history grows); another shop's export whose
#: customer numbers overlap keeps almost none (the embedded data then the real data: 2,199 of its
#: 2,997 customer numbers are in the real data, none with the same first purchase; customer numbers
#: alone would say 73%). 80% leaves room for customers an export drops (erased accounts) without
#: letting a different data set inherit ids.
MIN_CONTINUING_SHARE = 0.8
#: The columns of a build's customers that the continuation test compares.
CONTINUATION_KEY = ("customer_id", "first_purchase_at")

#: id_source values: how a segment got its id (restarts say why, see :func:`continuation`).
FIRST_BUILD = "first build: ordered by mean monetary"
MATCHED = "kept from the previous build"
NEW_SEGMENT = "new segment: no previous centroid within max shift"
RESTARTED_BY_VAR = "restarted: var reset_segment_ids"
RESTARTED_NO_DATES = "restarted: the previous build has no first purchase dates to compare"


@dataclass(frozen=True)
class Continuation:
    """Whether this build continues the previous build's customers, and the id_source of a restart.

    Attributes
    ----------
    continues : True when the previous build's ids are to be matched.
    share : share of the previous build's customers present with the same first purchase (NaN: not measured).
    restart_source : id_source of every segment when the ids restart at 1..k (None when ``continues``).
    """

    continues: bool
    share: float
    restart_source: str | None


def continuing_share(previous: pd.DataFrame, customers: pd.DataFrame) -> float:
    """Share of ``previous``'s customers that are in ``customers`` with the same first purchase timestamp.

    Both frames hold one row per customer with :data:`CONTINUATION_KEY`; an empty ``previous`` gives 0.
    """
    for name, frame in (("previous", previous), ("customers", customers)):
        missing = [c for c in CONTINUATION_KEY if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} customers are missing columns {missing}")
    if previous.empty:
        return 0.0
    key = list(CONTINUATION_KEY)
    before = previous.loc[:, key].astype({"customer_id": "int64", "first_purchase_at": "datetime64[us]"})
    now = customers.loc[:, key].astype({"customer_id": "int64", "first_purchase_at": "datetime64[us]"})
    present = before.merge(now.drop_duplicates(), on=key, how="inner")
    return len(present) / len(before)


def continuation(previous: pd.DataFrame | None, customers: pd.DataFrame, reset: bool = False,
                 min_share: float = MIN_CONTINUING_SHARE) -> Continuation:
    """Does this build continue the previous one? The documented test of the module docstring.

    Parameters
    ----------
    previous : the previous build's customer_segments rows (None or empty: a first build).
    customers : this build's customers (customer_rfm rows) with :data:`CONTINUATION_KEY`.
    reset : var reset_segment_ids: restart whatever the previous build was.
    min_share : the share of previous customers that must continue (:data:`MIN_CONTINUING_SHARE`).
    """
    if not 0 < min_share <= 1:
        raise ValueError(f"min_share must be in (0, 1], got {min_share!r}")
    if previous is None or previous.empty:
        return Continuation(False, float("nan"), FIRST_BUILD)
    if reset:
        return Continuation(False, float("nan"), RESTARTED_BY_VAR)
    if "first_purchase_at" not in previous.columns:
        return Continuation(False, float("nan"), RESTARTED_NO_DATES)
    share = continuing_share(previous, customers)
    if share >= min_share:
        return Continuation(True, share, None)
    return Continuation(False, share, restarted_not_continuing(share, min_share))


def restarted_not_continuing(share: float, min_share: float = MIN_CONTINUING_SHARE) -> str:
    """id_source of a restart because the build does not continue the previous one."""
    # Rounded down, so that a share just under the bar never reads as the bar itself.
    shown = math.floor(share * 1000) / 10
    return (f"restarted: not a continuation ({shown:.1f}% of the previous build's customers present with "
            f"the same first purchase, under {min_share:.0%})")


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
