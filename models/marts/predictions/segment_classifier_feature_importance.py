"""One row per classifier and first-purchase feature: permutation importance on the time-split test
customers (customer_segments.first_purchase.feature_importance)."""

from customer_segments.first_purchase import feature_importance
from customer_segments.settings import int_setting


def model(dbt, session):
    dbt.config(materialized="table")
    features = dbt.ref("first_purchase_features").df()
    segments = dbt.ref("customer_segments").project("customer_id, segment_id").df()
    return feature_importance(
        features,
        segments,
        cutoff=str(dbt.config.get("classifier_cutoff_date")),
        random_state=int(dbt.config.get("random_state")),
        sample_size=int_setting("classifier_sample_size", dbt.config.get("classifier_sample_size"), 10),
    )
