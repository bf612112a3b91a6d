"""The segment a customer's first horizon falls in: the label of the first-purchase segment classifier.

A new customer's segment at the end of the data mostly says how long they have been a customer (the
earliest first purchases had a year to become Champions, the latest a week). The label is instead the
segment of their RFM as of the end of the same horizon after the first invoice that
new_customer_predictions predicts (model new_customer_outcomes: horizon_recency_days,
horizon_frequency, horizon_monetary), by the current segmentation's transform and centroids: the
log1p-standardise-clip transform refitted on customer_segments' customers (the fit K-means was made
on, so the same means and scales) and each segment's centroid as the mean of its members there. Only
customers whose horizon is complete and whose horizon monetary is above 0 (the segmentation's own
rule) get a label.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from customer_segments.segmentation.features import RFM_FEATURES, FeatureTransform, eligible_customers
from customer_segments.segmentation.relabel import centroids_of

#: new_customer_outcomes' columns of the horizon RFM, by the RFM feature they stand for.
HORIZON_COLUMNS = {"recency_days": "horizon_recency_days", "frequency": "horizon_frequency",
                   "monetary": "horizon_monetary"}


def horizon_segments(outcomes: pd.DataFrame, segments: pd.DataFrame) -> pd.DataFrame:
    """customer_id, segment_id, segment_name of every customer with a complete horizon and horizon
    monetary > 0: the segment (of ``segments``, the customer_segments table) whose centroid is nearest
    to their horizon RFM in the segmentation's space (ties to the lowest id). Sorted by customer_id."""
    missing = [c for c in ("customer_id", "is_horizon_complete", *HORIZON_COLUMNS.values()) if c not in outcomes.columns]
    if missing:
        raise ValueError(f"new customer outcomes are missing columns {missing}")
    columns = ["customer_id", "segment_id", "segment_name"]
    if segments.empty:
        return pd.DataFrame({"customer_id": pd.Series(dtype="int64"), "segment_id": pd.Series(dtype="int64"),
                             "segment_name": pd.Series(dtype="string")})
    fitted = eligible_customers(segments)
    transform = FeatureTransform(RFM_FEATURES, "log").fit(fitted)
    ids, centroids = centroids_of(transform.transform_frame(fitted), fitted["segment_id"].to_numpy(dtype=np.int64))
    complete = outcomes.loc[outcomes["is_horizon_complete"].astype(bool)
                            & (outcomes["horizon_monetary"].astype("float64") > 0)]
    horizon = complete.rename(columns={v: k for k, v in HORIZON_COLUMNS.items()})
    horizon = horizon.sort_values("customer_id", kind="stable").reset_index(drop=True)
    z = transform.transform_frame(horizon)
    distances = np.linalg.norm(z[:, None, :] - centroids[None, :, :], axis=2)
    names = segments.drop_duplicates("segment_id").set_index("segment_id")["segment_name"]
    labels = ids[np.argmin(distances, axis=1)] if len(horizon) else np.array([], dtype=np.int64)
    table = pd.DataFrame({"customer_id": horizon["customer_id"].astype("int64").to_numpy(),
                          "segment_id": labels.astype(np.int64)})
    table["segment_name"] = table["segment_id"].map(names).astype("string")
    return table.loc[:, columns]
