"""First purchase -> the horizon after it: purchases, spend and the probability of a repeat purchase.

Inputs are one row per customer, both computed in SQL: the features known at the end of the first
invoice (model first_purchase_features) and what happened in the horizon after it, with the time
split (model new_customer_outcomes). Invoice lines never reach Python.

Methods (:data:`METHODS`), each predicting the three targets:

- ``training_mean``: the training customers' mean purchases and spend and their share of repeaters;
- ``basket_value``: one feature, log1p of the basket value: Poisson regressions of purchases and
  spend, a logistic regression of repeating;
- ``regularised_regression``: every first-invoice feature (prediction.first_purchase.preprocessor),
  L2-penalised Poisson regressions and a logistic regression;
- ``gradient_boosting``: the same features, histogram gradient boosting with a Poisson loss and a
  classifier of repeating.

Spend is fitted floored at 0 (a Poisson loss needs it; an actual below 0, cancellations of the first
basket outweighing later purchases, stays as it is in the table and the evaluation). Every fit is on
customers whose whole horizon lies inside the data: the time split's models on the 'train' part only
(predicting 'train' in-sample and 'test' out-of-sample), the scoring models of new_customer_model on
both parts, which also predict the customers whose horizon is still 'open'.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sklearn
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression, PoissonRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import customer_segments
from customer_segments.notes import Note, empty_table
from customer_segments.prediction.first_purchase import feature_columns, prepare_features, preprocessor, sampled_rows

METHODS: tuple[str, ...] = ("training_mean", "basket_value", "regularised_regression", "gradient_boosting")
TARGETS: tuple[str, ...] = ("purchases", "spend", "repeat")
#: The models that skip together when the data cannot train and test them.
NEW_CUSTOMER_MODELS = ("new_customer_model", "new_customer_predictions")
#: Fewest complete-horizon customers each part of the time split needs.
MIN_SPLIT_CUSTOMERS = 10
#: Format of the pickled scoring artifact; bump when NewCustomerModel changes.
ARTIFACT_FORMAT = 1
PREDICTION_COLUMNS = {"customer_id": "int64", "method": "string", "split": "string", "horizon_days": "int64",
                      "predicted_purchases": "float64", "predicted_spend": "float64",
                      "probability_repeat": "float64", "actual_purchases": "Int64", "actual_spend": "float64"}
MODEL_COLUMNS = {"method": "string", "model_version": "string", "artifact_format": "int64",
                 "sklearn_version": "string", "horizon_days": "int64", "feature_columns": "string",
                 "training_customers": "int64", "model_pickle": "bytes"}


def skip_reason(outcomes: pd.DataFrame) -> str | None:
    """Why the data cannot train and test the methods, or None: each part of the time split needs
    :data:`MIN_SPLIT_CUSTOMERS` customers with a complete horizon, and the training part both
    customers who bought again and customers who did not."""
    counts = outcomes["split"].value_counts()
    horizon = int(outcomes["horizon_days"].iloc[0]) if len(outcomes) else 0
    for part in ("train", "test"):
        if counts.get(part, 0) < MIN_SPLIT_CUSTOMERS:
            return (f"{counts.get(part, 0)} customers in the '{part}' part of the time split have their whole "
                    f"horizon of {horizon} days inside the data: needs {MIN_SPLIT_CUSTOMERS} "
                    "(a longer data window, or a shorter var new_customer_horizon_days)")
    repeated = outcomes.loc[outcomes["split"] == "train", "actual_purchases"].astype("int64") > 0
    if repeated.all() or not repeated.any():
        return (f"every training customer {'bought' if repeated.all() else 'did not buy'} again within "
                f"{horizon} days: the repeat probability needs both")
    return None


def new_customer_notes(outcomes: pd.DataFrame) -> list[Note]:
    """The notes of the skipped models (build_notes), one each, when :func:`skip_reason` skips them."""
    reason = skip_reason(outcomes)
    return [] if reason is None else [Note(model, "skipped", f"{reason}; the table is empty")
                                      for model in NEW_CUSTOMER_MODELS]


def _basket_value_only() -> ColumnTransformer:
    return ColumnTransformer([("basket", make_pipeline(FunctionTransformer(np.log1p, feature_names_out="one-to-one"),
                                                       StandardScaler()), ["basket_value"])])


def make_estimators(method: str, columns: list[str], random_state: int) -> dict[str, BaseEstimator]:
    """Unfitted estimators of one method, by target: purchases and spend regressors, repeat classifier."""
    if method == "training_mean":
        return {"purchases": DummyRegressor(), "spend": DummyRegressor(), "repeat": DummyClassifier(strategy="prior")}
    if method == "gradient_boosting":
        # The classifier's small trees (prediction.first_purchase): a few thousand customers overfit deep ones.
        trees = dict(learning_rate=0.1, max_iter=40, max_leaf_nodes=8, min_samples_leaf=30, l2_regularization=1.0,
                     early_stopping=False, random_state=random_state)
        return {"purchases": make_pipeline(preprocessor(columns), HistGradientBoostingRegressor(loss="poisson", **trees)),
                "spend": make_pipeline(preprocessor(columns), HistGradientBoostingRegressor(loss="poisson", **trees)),
                "repeat": make_pipeline(preprocessor(columns), HistGradientBoostingClassifier(**trees))}
    if method not in ("basket_value", "regularised_regression"):
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    alpha = 0.0 if method == "basket_value" else 0.1
    prepare = _basket_value_only if method == "basket_value" else (lambda: preprocessor(columns))
    return {"purchases": make_pipeline(prepare(), PoissonRegressor(alpha=alpha, max_iter=1000)),
            "spend": make_pipeline(prepare(), PoissonRegressor(alpha=alpha, max_iter=1000)),
            "repeat": make_pipeline(prepare(), LogisticRegression(C=1.0, max_iter=3000, random_state=random_state))}


@dataclass(frozen=True)
class NewCustomerModel:
    """One method's fitted estimators and how to feed them: what new_customer_model pickles."""

    method: str
    model_version: str
    horizon_days: int
    feature_columns: list[str]
    estimators: dict[str, BaseEstimator]

    def predict(self, features: pd.DataFrame) -> pd.DataFrame:
        """predicted_purchases, predicted_spend, probability_repeat, one row per row of ``features``."""
        x = prepare_features(features, self.feature_columns)
        return pd.DataFrame({
            "predicted_purchases": np.maximum(self.estimators["purchases"].predict(x), 0.0),
            "predicted_spend": np.maximum(self.estimators["spend"].predict(x), 0.0),
            "probability_repeat": _repeat_probability(self.estimators["repeat"], x),
        })


def _repeat_probability(classifier: BaseEstimator, x: pd.DataFrame) -> np.ndarray:
    classes = list(classifier.classes_)
    proba = classifier.predict_proba(x)
    return proba[:, classes.index(True)] if True in classes else np.zeros(len(x))


@dataclass(frozen=True)
class TrainingTable:
    """Features joined to outcomes, sorted by customer_id (row order never matters)."""

    table: pd.DataFrame
    columns: list[str]

    def targets(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        purchases = self.table["actual_purchases"].to_numpy()[rows].astype("float64")
        spend = self.table["actual_spend"].to_numpy()[rows].astype("float64")
        return {"purchases": purchases, "spend": np.maximum(spend, 0.0), "repeat": purchases > 0}


def training_table(features: pd.DataFrame, outcomes: pd.DataFrame) -> TrainingTable:
    """Join first-invoice features to outcomes (customer_id, split, horizon_days, actual_*) by customer."""
    needed = ("customer_id", "split", "horizon_days", "actual_purchases", "actual_spend")
    missing = [c for c in needed if c not in outcomes.columns]
    if missing:
        raise ValueError(f"new customer outcomes are missing columns {missing}")
    table = features.merge(outcomes.loc[:, list(needed)], on="customer_id", how="inner", validate="one_to_one")
    if len(table) != len(outcomes):
        raise ValueError("every customer of new_customer_outcomes needs first-purchase features")
    table = table.sort_values("customer_id", kind="stable").reset_index(drop=True)
    return TrainingTable(table, feature_columns(table))


def fit_method(data: TrainingTable, method: str, rows: np.ndarray, random_state: int) -> NewCustomerModel:
    """``method`` fitted on the given rows of ``data`` (complete horizons only), with its version: the
    package version and a digest of what it was fitted on and how."""
    table = data.table.iloc[rows]
    if (table["split"] == "open").any():
        raise ValueError("new customer models are fitted only on customers whose horizon is complete")
    x = prepare_features(table, data.columns)
    targets = data.targets(rows)
    estimators = make_estimators(method, data.columns, random_state)
    for target, estimator in estimators.items():
        estimator.fit(x, targets[target])
    horizon = int(data.table["horizon_days"].iloc[0])
    digest = hashlib.sha256(pd.util.hash_pandas_object(x, index=False).to_numpy().tobytes()
                            + np.concatenate([targets["purchases"], targets["spend"]]).tobytes()
                            + f"{method}|{horizon}|{random_state}|{sklearn.__version__}".encode())
    return NewCustomerModel(method, f"{customer_segments.__version__}+{digest.hexdigest()[:12]}", horizon,
                            list(data.columns), estimators)


def new_customer_model_table(features: pd.DataFrame, outcomes: pd.DataFrame, random_state: int = 42,
                             sample_size: int = 5000) -> pd.DataFrame:
    """The new_customer_model table: one row per method, fitted on every customer whose horizon is
    complete (a fixed-seed sample of ``sample_size`` when there are more) and pickled; no row when
    :func:`skip_reason` skips (build_notes says why)."""
    if skip_reason(outcomes) is not None:
        return empty_table(MODEL_COLUMNS)
    data = training_table(features, outcomes)
    rows = sampled_rows((data.table["split"] != "open").to_numpy(), sample_size, random_state)
    records = []
    for method in METHODS:
        model = fit_method(data, method, rows, random_state)
        records.append({"method": method, "model_version": model.model_version, "artifact_format": ARTIFACT_FORMAT,
                        "sklearn_version": sklearn.__version__, "horizon_days": model.horizon_days,
                        "feature_columns": json.dumps(model.feature_columns), "training_customers": len(rows),
                        "model_pickle": pickle.dumps(model, protocol=5)})
    return pd.DataFrame.from_records(records)


def load_models(model_table: pd.DataFrame) -> dict[str, NewCustomerModel]:
    """The pickled models of a new_customer_model table, by method (our own build wrote them)."""
    formats = set(model_table["artifact_format"].astype("int64"))
    if formats - {ARTIFACT_FORMAT}:
        raise ValueError(f"new_customer_model has artifact format {sorted(formats)}, this package reads "
                         f"{ARTIFACT_FORMAT}: rebuild")
    if set(model_table["sklearn_version"]) - {sklearn.__version__}:
        raise ValueError(f"new_customer_model was fitted with scikit-learn {sorted(set(model_table['sklearn_version']))}, "
                         f"this is {sklearn.__version__}: rebuild")
    return {str(method): pickle.loads(blob) for method, blob in zip(model_table["method"], model_table["model_pickle"])}


def predict_new_customers(features: pd.DataFrame, outcomes: pd.DataFrame, model_table: pd.DataFrame,
                          random_state: int = 42, sample_size: int = 5000) -> pd.DataFrame:
    """The new_customer_predictions table: one row per customer and method.

    'train' and 'test' customers are predicted by the method fitted on the 'train' customers (a
    fixed-seed sample of ``sample_size`` when there are more): in-sample and out-of-sample. 'open'
    customers (horizon still running, actuals null) are predicted by new_customer_model's models,
    fitted on every complete horizon, as a brand-new customer is scored.
    """
    if skip_reason(outcomes) is not None or model_table.empty:
        return empty_table(PREDICTION_COLUMNS)
    data = training_table(features, outcomes)
    table = data.table
    split = table["split"].to_numpy()
    train_rows = sampled_rows(split == "train", sample_size, random_state)
    closed = np.flatnonzero(split != "open")
    scoring_models = load_models(model_table)
    parts = []
    for method in METHODS:
        predicted = fit_method(data, method, train_rows, random_state).predict(table.iloc[closed])
        if (split == "open").any():
            opened = np.flatnonzero(split == "open")
            predicted = pd.concat([predicted, scoring_models[method].predict(table.iloc[opened])], ignore_index=True)
            rows = np.concatenate([closed, opened])
        else:
            rows = closed
        part = table.iloc[rows].loc[:, ["customer_id", "split", "horizon_days", "actual_purchases", "actual_spend"]]
        part = pd.concat([part.reset_index(drop=True), predicted], axis=1)
        part.insert(1, "method", method)
        parts.append(part)
    result = pd.concat(parts, ignore_index=True).sort_values(["customer_id", "method"], kind="stable")
    result = result.loc[:, list(PREDICTION_COLUMNS)].reset_index(drop=True)
    return result.astype({name: dtype for name, dtype in PREDICTION_COLUMNS.items()})
