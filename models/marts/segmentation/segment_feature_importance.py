"""One row per segment and feature: how strongly the feature separates the segments (ANOVA F, surrogate
tree) and drives this segment (effect size) (customer_segments.segmentation.importance)."""

from customer_segments.segmentation.importance import segment_feature_importance
from customer_segments.settings import parse_settings


def model(dbt, session):
    dbt.config(materialized="table")
    settings = parse_settings(dbt.config.get("settings"))
    return segment_feature_importance(dbt.ref("customer_segments").df(), settings["random_state"])
