"""One row: the first-purchase classifier with the best time-split balanced accuracy, refitted on every
customer and pickled with its version and feature list, for `python -m customer_segments.prediction.scoring`
(no row when the classifier was skipped: build_notes says why)."""

from customer_segments.prediction.first_purchase import classifier_model_table
from customer_segments.prediction.horizon_segments import horizon_segments
from customer_segments.settings import parse_settings


def model(dbt, session):
    dbt.config(materialized="table")
    settings = parse_settings(dbt.config.get("settings"))
    features = dbt.ref("first_purchase_features").df()
    # The label: the segment of the customer's first horizon, not of the whole data (prediction.horizon_segments).
    segments = horizon_segments(dbt.ref("new_customer_outcomes").df(), dbt.ref("customer_segments").df())
    evaluation = dbt.ref("segment_classifier_evaluation").df()
    return classifier_model_table(
        features,
        segments,
        evaluation,
        random_state=settings["random_state"],
        sample_size=settings["classifier_sample_size"],
    )
