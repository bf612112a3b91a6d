"""One row per classifier and first-purchase feature: permutation importance on the time-split test
customers (customer_segments.prediction.first_purchase.feature_importance)."""

from customer_segments.prediction.first_purchase import feature_importance
from customer_segments.settings import parse_settings


def model(dbt, session):
    dbt.config(materialized="table")
    settings = parse_settings(dbt.config.get("settings"))
    features = dbt.ref("first_purchase_features").df()
    segments = dbt.ref("customer_segments").project("customer_id, segment_id").df()
    return feature_importance(
        features,
        segments,
        cutoff=settings["classifier_cutoff_date"].isoformat(),
        random_state=settings["random_state"],
        sample_size=settings["classifier_sample_size"],
    )
