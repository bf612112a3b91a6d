"""One row: the first-purchase classifier with the best time-split balanced accuracy, refitted on every
customer and pickled with its version and feature list, for `python -m customer_segments.prediction.scoring`."""

from customer_segments.prediction.first_purchase import select_model, train_final_model
from customer_segments.settings import parse_settings


def model(dbt, session):
    dbt.config(materialized="table")
    settings = parse_settings(dbt.config.get("settings"))
    features = dbt.ref("first_purchase_features").df()
    segments = dbt.ref("customer_segments").project("customer_id, segment_id, segment_name").df()
    evaluation = dbt.ref("segment_classifier_evaluation").df()
    return train_final_model(
        features,
        segments,
        model_name=select_model(evaluation),
        random_state=settings["random_state"],
        sample_size=settings["classifier_sample_size"],
    )
