"""One row per segment and feature: how strongly the feature separates the segments (ANOVA F, surrogate
tree) and drives this segment (effect size) (customer_segments.segmentation.importance)."""

from customer_segments.segmentation.features import RFM_FEATURES
from customer_segments.segmentation.importance import feature_importance_table
from customer_segments.settings import parse_settings


def model(dbt, session):
    dbt.config(materialized="table")
    settings = parse_settings(dbt.config.get("settings"))
    segments = dbt.ref("customer_segments").df().sort_values("customer_id")
    z_columns = [f"z_{feature}" for feature in RFM_FEATURES]
    return feature_importance_table(segments[z_columns].to_numpy(), segments["segment_id"].to_numpy(),
                                    RFM_FEATURES, settings["random_state"])
