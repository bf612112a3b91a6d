"""First-purchase classifiers on small synthetic customer tables: splits, outputs, model choice, artifact."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score

from customer_segments.prediction.first_purchase import (
    MODEL_NAMES,
    balanced_accuracy,
    feature_columns,
    feature_importance,
    predict_segments,
    select_model,
    time_split,
    train_final_model,
)
from customer_segments.prediction.skipped import classifier_skip_reason


def customers(n: int = 240, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Three segments whose first baskets differ in size and category mix; ids not in row order."""
    rng = np.random.default_rng(seed)
    segment = np.arange(n) % 3 + 1
    value = np.exp(rng.normal(3 + segment, 0.4))
    share_1 = np.clip(rng.normal(0.2 * segment, 0.1), 0, 1)
    features = pd.DataFrame({
        "customer_id": rng.permutation(np.arange(10_000, 10_000 + n)),
        "first_purchase_at": pd.Timestamp("2011-01-01") + pd.to_timedelta(rng.integers(0, 300, n), unit="D"),
        "country": rng.choice(["United Kingdom", "France", "Germany"], n, p=[0.8, 0.1, 0.1]),
        "purchase_month": rng.integers(1, 13, n), "purchase_weekday": rng.integers(1, 8, n),
        "purchase_hour": rng.integers(7, 20, n), "has_earlier_cancellation": rng.random(n) < 0.1,
        "basket_value": value, "basket_lines": rng.integers(1, 30, n), "basket_products": rng.integers(1, 30, n),
        "basket_units": rng.integers(1, 200, n), "mean_unit_price": rng.uniform(0.5, 5, n),
        "max_unit_price": rng.uniform(1, 10, n),
        "category_share_10": share_1, "category_share_2": 1 - share_1,
    })
    segments = pd.DataFrame({"customer_id": features["customer_id"], "segment_id": segment,
                             "segment_name": [f"S{s}" for s in segment]})
    return features, segments


def test_feature_columns_order_category_shares_by_id():
    features, _ = customers()
    columns = feature_columns(features)
    assert columns[-2:] == ["category_share_2", "category_share_10"]
    with pytest.raises(ValueError, match="missing columns"):
        feature_columns(features.drop(columns="country"))


def test_time_split_refuses_a_cutoff_outside_the_data():
    dates = pd.Series(pd.to_datetime(["2011-01-05", "2011-03-01", "2011-06-01"]))
    assert time_split(dates, "2011-03-01").tolist() == ["train", "test", "test"]
    with pytest.raises(ValueError, match="leaves no customer in the test split.*set var classifier_cutoff_date"):
        time_split(dates, "2012-01-01")
    with pytest.raises(ValueError, match="leaves no customer in the train split.*set var classifier_cutoff_date"):
        time_split(dates, "2010-01-01")


def test_predictions_cover_every_customer_model_and_evaluation():
    features, segments = customers()
    predictions = predict_segments(features, segments, cutoff="2011-08-01", n_folds=5)
    assert len(predictions) == len(features) * len(MODEL_NAMES) * 2
    cv = predictions.loc[predictions["evaluation"] == "cross_validation"]
    assert cv.groupby("model_name")["customer_id"].apply(lambda c: c.is_unique and len(c) == len(features)).all()
    assert set(cv["fold"]) == {1, 2, 3, 4, 5} and set(cv["split"]) == {"test"}
    proba = predictions.filter(like="probability_segment_")
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    # The basket value separates the segments: both models beat the majority baseline out of sample.
    correct = (cv["predicted_segment_id"] == cv["actual_segment_id"]).groupby(cv["model_name"]).mean()
    assert correct["logistic_regression"] > 0.6 and correct["hist_gradient_boosting"] > 0.6
    assert correct["majority_baseline"] < 0.4


def test_same_input_same_output_whatever_the_row_order():
    features, segments = customers()
    first = predict_segments(features, segments, cutoff="2011-08-01")
    again = predict_segments(features.sample(frac=1, random_state=3), segments.sample(frac=1, random_state=4),
                             cutoff="2011-08-01")
    pd.testing.assert_frame_equal(first, again)


def test_feature_importance_names_the_informative_feature():
    features, segments = customers()
    importance = feature_importance(features, segments, cutoff="2011-08-01")
    top = importance.loc[importance["importance_rank"] == 1].set_index("model_name")["feature"]
    assert (top == "basket_value").all()
    assert importance.groupby("model_name")["feature"].apply(set).map(len).eq(len(feature_columns(features))).all()


def test_final_model_is_the_best_and_carries_version_and_features():
    evaluation = pd.DataFrame({
        "model_name": ["majority_baseline", "logistic_regression", "hist_gradient_boosting", "logistic_regression"],
        "evaluation": ["time_split", "time_split", "time_split", "cross_validation"],
        "split": ["test"] * 4, "metric_scope": ["overall"] * 4, "balanced_accuracy": [0.9, 0.5, 0.6, 0.99],
    })
    assert select_model(evaluation) == "hist_gradient_boosting"
    features, segments = customers()
    row = train_final_model(features, segments, "logistic_regression").iloc[0]
    artifact = pickle.loads(row["model_pickle"])
    assert artifact.model_version == row["model_version"] and artifact.feature_columns == feature_columns(features)
    assert artifact.segment_names == ["S1", "S2", "S3"]
    again = train_final_model(features.sample(frac=1, random_state=1), segments, "logistic_regression").iloc[0]
    assert again["model_version"] == row["model_version"]
    changed = train_final_model(features.assign(basket_value=features["basket_value"] * 2), segments,
                                "logistic_regression").iloc[0]
    assert changed["model_version"] != row["model_version"]


def test_inputs_are_validated():
    features, segments = customers()
    # Too few customers per segment for the cross-validation: skipped, an empty table and the reason.
    assert "n_folds=5" in classifier_skip_reason(features.head(12), segments, "2011-08-01", 42, 5000)
    skipped = predict_segments(features.head(12), segments, cutoff="2011-08-01")
    assert skipped.empty and {"customer_id", "predicted_segment_id"} <= set(skipped.columns)
    with pytest.raises(ValueError, match="model_name must be one of"):
        train_final_model(features, segments, "random_forest")
    with pytest.raises(ValueError, match="no customer has both"):
        predict_segments(features, segments.assign(customer_id=-segments["customer_id"]), cutoff="2011-08-01")


def test_balanced_accuracy_equals_scikit_learns():
    rng = np.random.default_rng(2)
    y, p = rng.integers(1, 5, 500), rng.integers(1, 6, 500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert balanced_accuracy(y, p) == pytest.approx(balanced_accuracy_score(y, p))


def test_classifiers_fit_and_are_evaluated_on_fixed_samples():
    features, segments = customers(n=600)
    sampled = predict_segments(features, segments, cutoff="2011-08-01", sample_size=150)
    # The time split predicts the 150 train customers it fitted on and 150 test customers; cross-
    # validation the 150 of its sample, each once.
    per_split = sampled.loc[sampled["evaluation"] == "time_split"].groupby(["model_name", "split"])["customer_id"]
    assert (per_split.agg(["size", "nunique"]) == 150).all().all()
    per_evaluation = sampled.groupby(["model_name", "evaluation"])["customer_id"].agg(["size", "nunique"])
    assert (per_evaluation.xs("cross_validation", level="evaluation")[["size", "nunique"]] == 150).all().all()
    # Every model is evaluated on the same customers.
    time_split_ids = sampled.loc[sampled["evaluation"] == "time_split"].groupby("model_name")["customer_id"].apply(list)
    assert all(ids == time_split_ids.iloc[0] for ids in time_split_ids)
    again = predict_segments(features.sample(frac=1, random_state=5), segments, cutoff="2011-08-01", sample_size=150)
    pd.testing.assert_frame_equal(sampled, again)
    full = predict_segments(features, segments, cutoff="2011-08-01", sample_size=600)
    # A smaller training sample is a different model, and still learns the segments.
    assert not sampled["predicted_probability"].equals(full["predicted_probability"])
    test = sampled.loc[sampled["split"] == "test"]
    correct = (test["predicted_segment_id"] == test["actual_segment_id"]).groupby(test["model_name"]).mean()
    assert correct["hist_gradient_boosting"] > 0.6 and correct["logistic_regression"] > 0.6
    importance = feature_importance(features, segments, cutoff="2011-08-01", sample_size=150)
    assert (importance.loc[importance["importance_rank"] == 1, "feature"] == "basket_value").all()
    row = train_final_model(features, segments, "logistic_regression", sample_size=150).iloc[0]
    assert row["training_customers"] == 150


def test_a_sample_at_least_as_large_as_the_data_is_the_whole_data():
    features, segments = customers()
    pd.testing.assert_frame_equal(predict_segments(features, segments, cutoff="2011-08-01", sample_size=len(features)),
                                  predict_segments(features, segments, cutoff="2011-08-01", sample_size=10**6))
