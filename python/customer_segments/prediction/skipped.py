"""When the data cannot support a prediction model: the rule that says why (one home, called by the
model that skips and by build_notes) and the columns of the empty table the skipped model writes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from customer_segments.notes import Note, empty_table
from customer_segments.segmentation.selection import sample_indices

#: The models of the first-purchase classifier, skipped together when the data cannot train it.
CLASSIFIER_MODELS = ("first_purchase_segment_predictions", "segment_classifier_feature_importance",
                     "segment_classifier_model")
#: Folds of the stratified cross-validation.
N_FOLDS = 5


def classifier_skip_reason(features: pd.DataFrame, segments: pd.DataFrame, cutoff: str, random_state: int,
                           sample_size: int, n_folds: int = N_FOLDS) -> str | None:
    """Why the classifier cannot be trained and evaluated on this data, or None when it can: it needs
    two segments, customers on both sides of the cutoff, two segments among the train customers and
    n_folds customers of every segment for the cross-validation."""
    if segments.empty:
        return ("no customer's horizon after the first invoice lies inside the data (new_customer_outcomes): "
                "no segment to learn")
    table = features.merge(segments.loc[:, ["customer_id", "segment_id"]], on="customer_id", how="inner")
    if table.empty:
        return None  # features and segments that share no customer are a bug, not a small shop: training_data refuses them
    y = table["segment_id"].to_numpy(dtype=np.int64)
    if len(np.unique(y)) < 2:
        return "one segment (see segment_k_selection): predicting a segment needs 2 or more"
    first = pd.to_datetime(table["first_purchase_at"])
    train = first < pd.Timestamp(cutoff)
    if train.all() or not train.any():
        return (f"var classifier_cutoff_date {cutoff} leaves no customer in the {'test' if train.all() else 'train'} "
                f"split (first purchases from {first.min()} to {first.max()}): needs first purchases on both sides")
    if len(np.unique(y[train.to_numpy()])) < 2:
        return "the customers first buying before var classifier_cutoff_date are all of one segment: training needs 2"
    cv_rows = sample_indices(len(y), sample_size, random_state)
    if np.unique(y[cv_rows], return_counts=True)[1].min() < n_folds:
        return f"a segment has fewer than {n_folds} customers: stratified cross-validation needs n_folds={n_folds} each"
    return None


def classifier_notes(features: pd.DataFrame, segments: pd.DataFrame, cutoff: str, random_state: int,
                     sample_size: int) -> list[Note]:
    """The notes of the classifier's models, one each, when :func:`classifier_skip_reason` skips them."""
    reason = classifier_skip_reason(features, segments, cutoff, random_state, sample_size)
    return [] if reason is None else [Note(model, "skipped", f"{reason}; the table is empty") for model in CLASSIFIER_MODELS]


def empty_predictions(segments: pd.DataFrame) -> pd.DataFrame:
    """The first_purchase_segment_predictions table of a skipped classifier: no rows, every column."""
    columns = {"customer_id": "int64", "model_name": "string", "evaluation": "string", "split": "string",
               "fold": "int64", "actual_segment_id": "int64", "predicted_segment_id": "int64",
               "predicted_probability": "float64"}
    columns.update({f"probability_segment_{int(s)}": "float64" for s in np.unique(segments["segment_id"])})
    return empty_table(columns)


#: The columns of segment_classifier_feature_importance and segment_classifier_model, for their empty tables.
CLASSIFIER_IMPORTANCE_COLUMNS = {"model_name": "string", "feature": "string", "importance_mean": "float64",
                                 "importance_std": "float64", "importance_rank": "int64"}
CLASSIFIER_MODEL_COLUMNS = {"model_name": "string", "model_version": "string", "artifact_format": "string",
                            "sklearn_version": "string", "feature_columns": "string", "segments": "string",
                            "training_customers": "int64", "model_pickle": "bytes"}
