"""One row: the first-purchase classifier with the best time-split balanced accuracy, refitted on every
customer and pickled with its version and feature list, for `python -m customer_segments.prediction.scoring`
(no row when the classifier was skipped: build_notes says why)."""

from customer_segments.prediction.first_purchase import classifier_model_table
from customer_segments.settings import parse_settings


def model(dbt, session):
    dbt.config(materialized="table")
    settings = parse_settings(dbt.config.get("settings"))
    features = dbt.ref("first_purchase_features").df()
    segments = dbt.ref("customer_segments").project("customer_id, segment_id, segment_name").df()
    evaluation = dbt.ref("segment_classifier_evaluation").df()
    return classifier_model_table(
        features,
        segments,
        evaluation,
        random_state=settings["random_state"],
        sample_size=settings["classifier_sample_size"],
    )
