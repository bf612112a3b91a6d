"""What separates the segments: ANOVA F per feature, a surrogate decision tree, per-segment drivers.

Two views that agree when the story is simple:

- ANOVA F (and eta squared, the share of a feature's variance explained by the segments) says how
  strongly each feature separates the segments overall.
- A shallow decision tree trained to predict the segment from the same standardized features gives
  importances with a fidelity (accuracy of the tree against the segments it imitates, on every
  customer: it explains the segmentation, it does not forecast anything).

Per segment, the effect size of a feature is (segment mean - mean of the others) / pooled standard
deviation (Cohen's d); the feature with the largest |d| is the segment's top driver, e.g. "recency
drives segment 3".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.feature_selection import f_classif
from sklearn.tree import DecisionTreeClassifier

from customer_segments.notes import Note, empty_table
from customer_segments.segmentation.features import RFM_FEATURES

#: Depth of the surrogate tree: deep enough to carve k <= 10 segments, shallow enough to read.
SURROGATE_MAX_DEPTH = 4


def cohens_d(inside: np.ndarray, outside: np.ndarray) -> float:
    """(mean inside - mean outside) / pooled standard deviation; 0 when both are constant."""
    pooled = np.sqrt(((len(inside) - 1) * inside.var(ddof=1) + (len(outside) - 1) * outside.var(ddof=1))
                     / (len(inside) + len(outside) - 2))
    return float((inside.mean() - outside.mean()) / pooled) if pooled > 0 else 0.0


def feature_importance_table(X: np.ndarray, segment_ids: np.ndarray, feature_names: tuple[str, ...],
                             random_state: int = 42) -> pd.DataFrame:
    """One row per (segment_id, feature): overall separation and the segment's own effect size.

    Parameters
    ----------
    X : shape (n_customers, n_features), the standardized features the segments were fitted on.
    segment_ids : shape (n_customers,), at least two distinct segments.
    """
    segments = np.unique(segment_ids)
    if len(segments) < 2:
        raise ValueError("feature importance needs at least two segments")
    total = ((X - X.mean(axis=0)) ** 2).sum(axis=0)
    between = sum(((X[segment_ids == s].mean(axis=0) - X.mean(axis=0)) ** 2) * (segment_ids == s).sum()
                  for s in segments)
    f_stat = anova_f(X, segment_ids)
    eta_squared = np.where(total > 0, between / np.where(total > 0, total, 1), 0.0)
    tree = DecisionTreeClassifier(max_depth=SURROGATE_MAX_DEPTH, random_state=random_state).fit(X, segment_ids)
    fidelity = float((tree.predict(X) == segment_ids).mean())
    rows = []
    for segment in segments:
        inside = segment_ids == segment
        effects = np.array([cohens_d(X[inside, j], X[~inside, j]) for j in range(X.shape[1])])
        ranks = np.argsort(np.argsort(-np.abs(effects), kind="stable"), kind="stable") + 1
        for j, feature in enumerate(feature_names):
            rows.append({
                "segment_id": int(segment),
                "feature": feature,
                "segment_mean_z": float(X[inside, j].mean()),
                "effect_size": float(effects[j]),
                "driver_rank": int(ranks[j]),
                "is_top_driver": bool(ranks[j] == 1),
                "anova_f": float(f_stat[j]),
                "eta_squared": float(eta_squared[j]),
                "surrogate_tree_importance": float(tree.feature_importances_[j]),
                "surrogate_tree_fidelity": fidelity,
                "surrogate_tree_depth": SURROGATE_MAX_DEPTH,
            })
    return pd.DataFrame(rows)


def anova_f(X: np.ndarray, segment_ids: np.ndarray) -> np.ndarray:
    """scikit-learn's one-way ANOVA F per feature, NaN where it is undefined.

    F divides by the within-segment variance: where that is nil (every segment constant on the
    feature, as on a single day's recency or with a handful of customers) F is undefined, and the
    cancellation in f_classif's sums of squares would make it any number, negative ones included
    (-3.65e17 was seen on 5,000 real lines). So a nil within-segment sum of squares (at float
    precision of the total), or an F that is negative or not finite, is NaN (NULL in the table).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        f_stat, _ = f_classif(X, segment_ids)
    total = ((X - X.mean(axis=0)) ** 2).sum(axis=0)
    within = sum(((X[segment_ids == s] - X[segment_ids == s].mean(axis=0)) ** 2).sum(axis=0)
                 for s in np.unique(segment_ids))
    nil = within <= WITHIN_TOLERANCE * np.maximum(total, 1.0)
    return np.where(nil | ~np.isfinite(f_stat) | (f_stat < 0), np.nan, f_stat)


#: A within-segment sum of squares at most this share of the total is float noise around zero.
WITHIN_TOLERANCE = 1e-9

#: The columns of segment_feature_importance, for the empty table of one segment.
IMPORTANCE_COLUMNS = {"segment_id": "int64", "feature": "string", "segment_mean_z": "float64",
                      "effect_size": "float64", "driver_rank": "int64", "is_top_driver": "bool",
                      "anova_f": "float64", "eta_squared": "float64", "surrogate_tree_importance": "float64",
                      "surrogate_tree_fidelity": "float64", "surrogate_tree_depth": "int64"}


def _z_matrix(segments: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    segments = segments.sort_values("customer_id")
    return segments[[f"z_{feature}" for feature in RFM_FEATURES]].to_numpy(), segments["segment_id"].to_numpy()


def feature_importance_note(segments: pd.DataFrame) -> Note | None:
    """The note of segment_feature_importance: skipped with one segment, or ANOVA F left NULL for the
    features on which every segment is constant."""
    X, segment_ids = _z_matrix(segments)
    if len(np.unique(segment_ids)) < 2:
        return Note("segment_feature_importance", "skipped", "one segment (see segment_k_selection): feature "
                                                            "importance needs 2 or more; the table is empty")
    nil = [feature for feature, f in zip(RFM_FEATURES, anova_f(X, segment_ids), strict=True) if np.isnan(f)]
    if nil:
        return Note("segment_feature_importance", "anova_f NULL",
                    f"the segments have no spread within them on {', '.join(nil)}: the ANOVA F of "
                    f"{'that feature' if len(nil) == 1 else 'those features'} is undefined (needs some spread "
                    "within a segment)")
    return None


def segment_feature_importance(segments: pd.DataFrame, random_state: int) -> pd.DataFrame:
    """The segment_feature_importance model: :func:`feature_importance_table` on customer_segments' rows
    (their standardized features z_* and segment_id), in customer order so the tree sees the same rows
    whatever order the table is read in; empty with one segment (:func:`feature_importance_note`)."""
    X, segment_ids = _z_matrix(segments)
    if len(np.unique(segment_ids)) < 2:
        return empty_table(IMPORTANCE_COLUMNS)
    return feature_importance_table(X, segment_ids, RFM_FEATURES, random_state)
