"""First purchase -> segment: classifiers over the features known at the end of a customer's first invoice.

Inputs are one row per customer (features computed in SQL by the first_purchase_features model);
invoice lines never reach Python. Three models are compared: a majority-class baseline, logistic
regression and histogram gradient boosting, under a time split and stratified cross-validation.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

import customer_segments
from customer_segments.notes import empty_table
from customer_segments.prediction.shared_fits import shared_fit
from customer_segments.prediction.skipped import (
    CLASSIFIER_IMPORTANCE_COLUMNS,
    CLASSIFIER_MODEL_COLUMNS,
    N_FOLDS,
    classifier_skip_reason,
    empty_predictions,
)
from customer_segments.segmentation.selection import sample_indices

#: Basket measures: heavy-tailed, so log1p before scaling.
SKEWED_FEATURES: tuple[str, ...] = (
    "basket_value", "basket_lines", "basket_products", "basket_units", "mean_unit_price", "max_unit_price",
)
#: Categorical features, one-hot encoded (rare countries pooled).
CATEGORICAL_FEATURES: tuple[str, ...] = ("country", "purchase_month", "purchase_weekday")
#: Plain numeric features.
PLAIN_FEATURES: tuple[str, ...] = ("purchase_hour", "has_earlier_cancellation")
#: Prefix of the per-category share columns (one per product category, so their number varies).
CATEGORY_SHARE_PREFIX = "category_share_"
MODEL_NAMES: tuple[str, ...] = ("majority_baseline", "logistic_regression", "hist_gradient_boosting")
#: Levels of a categorical feature (in practice: countries) with fewer customers than this share one
#: "infrequent" column, so a handful of customers from one country cannot get a weight of their own.
MIN_LEVEL_CUSTOMERS = 10
#: Format of the pickled scoring artifact; bump when ClassifierArtifact changes.
ARTIFACT_FORMAT = 1
#: Default of var classifier_sample_size: classifiers are fitted, and evaluated (time-split test,
#: cross-validation, permutation importance), on at most this many customers each, drawn with a fixed
#: seed, so their cost stays flat as data grows. Above the real data's 4,334 customers, so it changes
#: nothing there; at 100x, predicting all 433,400 customers instead took 8 s of the build.
CLASSIFIER_SAMPLE_SIZE = 5000


def feature_columns(features: pd.DataFrame) -> list[str]:
    """The model's input columns, in a fixed order: fixed features, then category shares by id."""
    shares = sorted((c for c in features.columns if c.startswith(CATEGORY_SHARE_PREFIX)),
                    key=lambda c: int(c[len(CATEGORY_SHARE_PREFIX):]))
    columns = [*SKEWED_FEATURES, *CATEGORICAL_FEATURES, *PLAIN_FEATURES, *shares]
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(f"first-purchase features are missing columns {missing}")
    return columns


def prepare_features(features: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Model input: the columns in order, numbers as float, categories as text ('' when missing)."""
    frame = features.loc[:, columns].copy()
    for column in columns:
        if column in CATEGORICAL_FEATURES:
            frame[column] = frame[column].astype("string").fillna("").astype(object)
        else:
            frame[column] = frame[column].astype("float64")
    if frame.drop(columns=list(CATEGORICAL_FEATURES)).isna().any().any():
        raise ValueError("first-purchase features contain missing numeric values")
    return frame


def preprocessor(columns: list[str]) -> ColumnTransformer:
    """Unfitted preprocessing of the first-invoice features: log1p and scaling of the basket measures,
    one-hot categories (rare levels pooled), scaling of the rest (also used by prediction.new_customer)."""
    numeric = [c for c in columns if c not in SKEWED_FEATURES and c not in CATEGORICAL_FEATURES]
    return ColumnTransformer([
        ("skewed", make_pipeline(FunctionTransformer(np.log1p, feature_names_out="one-to-one"), StandardScaler()),
         list(SKEWED_FEATURES)),
        ("categorical", OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=MIN_LEVEL_CUSTOMERS,
                                      sparse_output=False), list(CATEGORICAL_FEATURES)),
        ("numeric", StandardScaler(), numeric),
    ])


def make_classifier(model_name: str, columns: list[str], random_state: int = 42) -> Pipeline:
    """An unfitted pipeline (preprocessing + classifier) over the given feature columns."""
    if model_name not in MODEL_NAMES:
        raise ValueError(f"model_name must be one of {MODEL_NAMES}, got {model_name!r}")
    if model_name == "majority_baseline":
        return make_pipeline(DummyClassifier(strategy="most_frequent"))
    preprocess = preprocessor(columns)
    if model_name == "logistic_regression":
        classifier = LogisticRegression(C=1.0, max_iter=3000, random_state=random_state)
    else:
        # Few small trees: a few thousand customers overfit deep ones, and more trees bought no balanced
        # accuracy in cross-validation on the generated data (0.726 with 40 x 8 leaves, 0.720 with 150 x 15).
        classifier = HistGradientBoostingClassifier(
            learning_rate=0.1, max_iter=40, max_leaf_nodes=8, min_samples_leaf=30,
            l2_regularization=1.0, early_stopping=False, random_state=random_state,
        )
    return make_pipeline(preprocess, classifier)


def time_split(first_purchase_at: pd.Series, cutoff: str | pd.Timestamp) -> np.ndarray:
    """'train' for first purchases before the cutoff date, 'test' from it on; both must be non-empty."""
    cutoff_at = pd.Timestamp(cutoff)
    split = np.where(pd.to_datetime(first_purchase_at) < cutoff_at, "train", "test")
    for part in ("train", "test"):
        if not (split == part).any():
            raise ValueError(f"classifier cutoff {cutoff_at.date()} leaves no customer in the {part} split: "
                             f"first purchases run from {pd.to_datetime(first_purchase_at).min()} to "
                             f"{pd.to_datetime(first_purchase_at).max()}; set var classifier_cutoff_date "
                             "to a date between them")
    return split


def _probabilities(model: Pipeline, x: pd.DataFrame, classes: np.ndarray) -> np.ndarray:
    """predict_proba with one column per class of the full target (0 for classes unseen in training)."""
    proba = model.predict_proba(x)
    full = np.zeros((len(x), len(classes)))
    seen = np.searchsorted(classes, model.classes_)
    full[:, seen] = proba
    return full


def _prediction_rows(customer_ids: np.ndarray, y: np.ndarray, proba: np.ndarray, classes: np.ndarray,
                     **labels) -> pd.DataFrame:
    # Ties go to the lowest segment id (argmax takes the first), so predictions are reproducible.
    predicted = classes[np.argmax(proba, axis=1)]
    rows = pd.DataFrame({"customer_id": customer_ids, **labels, "actual_segment_id": y,
                         "predicted_segment_id": predicted, "predicted_probability": proba.max(axis=1)})
    for i, segment_id in enumerate(classes):
        rows[f"probability_segment_{segment_id}"] = proba[:, i]
    return rows


@dataclass(frozen=True)
class TrainingData:
    """Customers with features and a segment, sorted by customer_id (row order never matters)."""

    table: pd.DataFrame
    columns: list[str]
    x: pd.DataFrame
    y: np.ndarray


def training_data(features: pd.DataFrame, segments: pd.DataFrame) -> TrainingData:
    """Join features (customer_id, first_purchase_at, feature columns) to segments (customer_id,
    segment_id) and prepare the model input."""
    for frame, column in ((features, "first_purchase_at"), (segments, "segment_id")):
        if column not in frame.columns or "customer_id" not in frame.columns:
            raise ValueError(f"expected customer_id and {column}; have {list(frame.columns)}")
    table = features.merge(segments.loc[:, ["customer_id", "segment_id"]], on="customer_id", how="inner")
    if table.empty:
        raise ValueError("no customer has both first-purchase features and a segment")
    table = table.sort_values("customer_id", kind="stable").reset_index(drop=True)
    columns = feature_columns(table)
    return TrainingData(table, columns, prepare_features(table, columns), table["segment_id"].to_numpy(dtype=np.int64))


def sampled_rows(candidates: np.ndarray, sample_size: int, random_state: int) -> np.ndarray:
    """Indices of the boolean mask's rows, or of a fixed-seed sample of ``sample_size`` of them when
    there are more: the customers a classifier is fitted on, or scored on."""
    rows = np.flatnonzero(candidates)
    return rows[sample_indices(len(rows), sample_size, random_state)]


def predict_segments(
    features: pd.DataFrame,
    segments: pd.DataFrame,
    cutoff: str,
    n_folds: int = N_FOLDS,
    random_state: int = 42,
    sample_size: int = CLASSIFIER_SAMPLE_SIZE,
) -> pd.DataFrame:
    """Out-of-sample segment predictions of every model under both evaluations.

    Parameters
    ----------
    features : one row per customer: customer_id, first_purchase_at and the feature columns.
    segments : customer_id, segment_id (the target: the segment of the first horizon,
        prediction.horizon_segments).
    cutoff : time-split date; customers first buying before it train, the others test.
    n_folds : folds of the stratified cross-validation (shuffled with random_state).
    sample_size : the time split's models are fitted on at most this many train customers and tested
        on at most this many test customers (fixed-seed samples); cross-validation runs on a fixed-seed
        sample of this many customers. With fewer customers, all use everyone.

    Returns
    -------
    Rows per model: evaluation 'time_split', one per customer of the train sample (split 'train',
    in-sample) and of the test sample (split 'test', out-of-sample), and evaluation
    'cross_validation', one per customer of the cross-validation sample (split 'test', predicted by
    the model of the other folds); actual and predicted segment and one probability_segment_<id>
    column per segment.
    """
    if classifier_skip_reason(features, segments, cutoff, random_state, sample_size, n_folds) is not None:
        return empty_predictions(segments)
    data = training_data(features, segments)
    table, columns, x, y = data.table, data.columns, data.x, data.y
    ids = table["customer_id"].to_numpy(dtype=np.int64)
    classes = np.unique(y)
    split = time_split(table["first_purchase_at"], cutoff)
    train_rows = sampled_rows(split == "train", sample_size, random_state)
    # The same test sample as feature_importance's; rows in customer order like the table's.
    split_rows = np.sort(np.concatenate([train_rows, sampled_rows(split == "test", sample_size, random_state)]))
    # Cross-validation runs on one fixed-seed sample: its folds' models fit and predict only it.
    cv_rows = sample_indices(len(y), sample_size, random_state)
    x_cv, y_cv = x.iloc[cv_rows].reset_index(drop=True), y[cv_rows]
    if np.bincount(np.searchsorted(classes, y_cv), minlength=len(classes)).min() < n_folds:
        raise ValueError(f"every segment needs at least n_folds={n_folds} customers for stratified cross-validation"
                         + (f" (in the sample of {len(cv_rows)} customers)" if len(cv_rows) < len(y) else ""))
    folds = np.zeros(len(y_cv), dtype=np.int64)
    for fold, (_, test_rows) in enumerate(StratifiedKFold(n_folds, shuffle=True, random_state=random_state).split(x_cv, y_cv), 1):
        folds[test_rows] = fold

    parts = []
    for model_name in MODEL_NAMES:
        model = shared_fit((model_name, columns, random_state), lambda: make_classifier(model_name, columns, random_state),  # noqa: B023
                           x.iloc[train_rows], y[train_rows])
        parts.append(_prediction_rows(ids[split_rows], y[split_rows], _probabilities(model, x.iloc[split_rows], classes),
                                      classes, model_name=model_name, evaluation="time_split",
                                      split=split[split_rows], fold=np.zeros(len(split_rows), dtype=np.int64)))
        out_of_fold = np.zeros((len(y_cv), len(classes)))
        for fold in range(1, n_folds + 1):
            held = folds == fold
            model = make_classifier(model_name, columns, random_state).fit(x_cv[~held], y_cv[~held])
            out_of_fold[held] = _probabilities(model, x_cv[held], classes)
        parts.append(_prediction_rows(ids[cv_rows], y_cv, out_of_fold, classes, model_name=model_name,
                                      evaluation="cross_validation", split=np.full(len(y_cv), "test"), fold=folds))
    return pd.concat(parts, ignore_index=True)


def column_blocks(pipeline: Pipeline, columns: list[str]) -> list[np.ndarray]:
    """For each input column, the indices of the preprocessed columns it becomes (one, or one per
    one-hot level). Every preprocessing step works column by column, so shuffling an input column
    is the same as shuffling its block of preprocessed columns."""
    names = [str(name).split("__", 1)[1] for name in pipeline[:-1].get_feature_names_out()]
    blocks = []
    for column in columns:
        if column in CATEGORICAL_FEATURES:
            blocks.append(np.array([i for i, name in enumerate(names) if name.startswith(f"{column}_")]))
        else:
            blocks.append(np.array([i for i, name in enumerate(names) if name == column]))
    covered = np.sort(np.concatenate(blocks))
    if not np.array_equal(covered, np.arange(len(names))):
        raise RuntimeError("preprocessed columns do not map one-to-one onto input columns")
    return blocks


def permutation_drops(pipeline: Pipeline, x: pd.DataFrame, y: np.ndarray, columns: list[str],
                      n_repeats: int, random_state: int) -> np.ndarray:
    """Drop in balanced accuracy when each input column is shuffled; shape (n_columns, n_repeats).

    Same definition as sklearn.inspection.permutation_importance with the one-hot columns of a
    categorical feature shuffled together, but the rows are preprocessed once and only the final
    estimator predicts again, which makes it about ten times faster.
    """
    z = np.asarray(pipeline[:-1].transform(x), dtype="float64")
    estimator = pipeline[-1]
    blocks = column_blocks(pipeline, columns)
    rng = np.random.default_rng(random_state)
    drops = np.zeros((len(columns), n_repeats))
    baseline = balanced_accuracy(y, estimator.predict(z))
    for repeat in range(n_repeats):
        for j, block in enumerate(blocks):
            shuffled = z.copy()
            shuffled[:, block] = z[rng.permutation(len(z))][:, block]
            drops[j, repeat] = baseline - balanced_accuracy(y, estimator.predict(shuffled))
    return drops


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean recall over the classes present in y_true: sklearn's balanced_accuracy_score without its
    per-call validation, which dominated the time of the permutation loop."""
    return float(np.mean([np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]))


def feature_importance(
    features: pd.DataFrame,
    segments: pd.DataFrame,
    cutoff: str,
    n_repeats: int = 5,
    random_state: int = 42,
    sample_size: int = CLASSIFIER_SAMPLE_SIZE,
) -> pd.DataFrame:
    """Permutation importance on the time-split test customers of the models fitted on the train split.

    Importance is the drop in balanced accuracy when one input column is shuffled (country counts as
    one column however many one-hot columns it becomes). One row per model and feature. Models are
    fitted on the same train sample as :func:`predict_segments`'s time split and scored on a fixed-seed
    sample of at most ``sample_size`` test customers: the cost is n_repeats x columns predictions.
    """
    if classifier_skip_reason(features, segments, cutoff, random_state, sample_size) is not None:
        return empty_table(CLASSIFIER_IMPORTANCE_COLUMNS)
    data = training_data(features, segments)
    columns, x, y = data.columns, data.x, data.y
    split = time_split(data.table["first_purchase_at"], cutoff)
    train_rows = sampled_rows(split == "train", sample_size, random_state)
    test_rows = sampled_rows(split == "test", sample_size, random_state)
    rows = []
    for model_name in MODEL_NAMES[1:]:
        model = shared_fit((model_name, columns, random_state), lambda: make_classifier(model_name, columns, random_state),  # noqa: B023
                           x.iloc[train_rows], y[train_rows])
        drops = permutation_drops(model, x.iloc[test_rows], y[test_rows], columns, n_repeats, random_state)
        frame = pd.DataFrame({"model_name": model_name, "feature": columns,
                              "importance_mean": drops.mean(axis=1), "importance_std": drops.std(axis=1)})
        frame["importance_rank"] = frame["importance_mean"].rank(method="first", ascending=False).astype("int64")
        rows.append(frame.sort_values("importance_rank"))
    return pd.concat(rows, ignore_index=True)


@dataclass(frozen=True)
class ClassifierArtifact:
    """What the scoring entry point needs: the fitted pipeline and how to feed and read it."""

    model_name: str
    model_version: str
    feature_columns: list[str]
    segment_ids: list[int]
    segment_names: list[str]
    pipeline: Pipeline


def select_model(evaluation: pd.DataFrame) -> str:
    """The non-baseline model with the best time-split test balanced accuracy (ties by name)."""
    overall = evaluation.loc[(evaluation["evaluation"] == "time_split") & (evaluation["split"] == "test")
                             & (evaluation["metric_scope"] == "overall")
                             & (evaluation["model_name"] != "majority_baseline")]
    if overall.empty:
        raise ValueError("segment classifier evaluation holds no time-split test rows to choose a model from")
    best = overall.sort_values(["balanced_accuracy", "model_name"], ascending=[False, True], kind="stable")
    return str(best["model_name"].iloc[0])


def classifier_model_table(features: pd.DataFrame, segments: pd.DataFrame, evaluation: pd.DataFrame,
                           random_state: int = 42, sample_size: int = CLASSIFIER_SAMPLE_SIZE) -> pd.DataFrame:
    """The segment_classifier_model table: the model of :func:`select_model` refitted on every customer,
    or no row when the classifier was skipped (the evaluation holds no row; build_notes says why)."""
    if evaluation.empty:
        return empty_table(CLASSIFIER_MODEL_COLUMNS)
    return train_final_model(features, segments, select_model(evaluation), random_state, sample_size)


def train_final_model(
    features: pd.DataFrame,
    segments: pd.DataFrame,
    model_name: str,
    random_state: int = 42,
    sample_size: int = CLASSIFIER_SAMPLE_SIZE,
) -> pd.DataFrame:
    """Fit the chosen model on every customer (a fixed-seed sample of ``sample_size`` when there are
    more) and pickle it: a one-row table for the scoring entry point.

    The version is the package version plus a digest of the training data and settings, so the same
    build gives the same version and any change to data or model gives a new one.
    """
    data = training_data(features, segments)
    rows = sample_indices(len(data.y), sample_size, random_state)
    columns, x, y = data.columns, data.x.iloc[rows], data.y[rows]
    pipeline = make_classifier(model_name, columns, random_state).fit(x, y)
    names = segments.drop_duplicates("segment_id").set_index("segment_id")["segment_name"]
    segment_ids = [int(s) for s in np.unique(y)]
    digest = hashlib.sha256(pd.util.hash_pandas_object(x, index=False).to_numpy().tobytes()
                            + y.tobytes() + f"{model_name}|{random_state}|{sklearn.__version__}".encode())
    version = f"{customer_segments.__version__}+{digest.hexdigest()[:12]}"
    artifact = ClassifierArtifact(model_name, version, columns, segment_ids,
                                  [str(names[s]) for s in segment_ids], pipeline)
    return pd.DataFrame({
        "model_name": [model_name],
        "model_version": [version],
        "artifact_format": [ARTIFACT_FORMAT],
        "sklearn_version": [sklearn.__version__],
        "feature_columns": [json.dumps(columns)],
        "segments": [json.dumps(dict(zip(segment_ids, artifact.segment_names)))],
        "training_customers": [len(y)],
        "model_pickle": [pickle.dumps(artifact, protocol=5)],
    })
