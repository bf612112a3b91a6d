"""Score a brand-new customer's first invoice with the classifier trained in the last build.

    python -m customer_segments.prediction.scoring --db customer_segments.duckdb first_invoice.csv

The lines (CSV or JSON records) need stock_code, quantity, unit_price and invoiced_at, and may carry
invoice_no, description and country. The basket features are the ones the first_purchase_features
model computes in SQL, rebuilt here for lines that are not in the database (a test holds the two equal
on every customer of a real build). Prints the predicted segment and the probability of each segment.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import sklearn

from customer_segments.prediction.first_purchase import (
    ARTIFACT_FORMAT,
    CATEGORY_SHARE_PREFIX,
    ClassifierArtifact,
    prepare_features,
)

REQUIRED_LINE_COLUMNS = ("stock_code", "quantity", "unit_price", "invoiced_at")


def load_artifact(db_path: str | Path) -> ClassifierArtifact:
    """The classifier saved by the last `dbt build` in the DuckDB file (table segment_classifier_model)."""
    path = Path(db_path)
    if not path.exists():
        raise FileNotFoundError(f"DuckDB file {path} not found: run `dbt build` first or pass --db")
    with duckdb.connect(str(path), read_only=True) as con:
        tables = {row[0] for row in con.execute("select table_name from information_schema.tables").fetchall()}
        if "segment_classifier_model" not in tables:
            raise ValueError(f"{path} holds no segment_classifier_model table: build it with `dbt build`")
        artifact_format, trained_with, blob = con.execute(
            "select artifact_format, sklearn_version, model_pickle from segment_classifier_model").fetchone()
    if artifact_format != ARTIFACT_FORMAT:
        raise ValueError(f"the saved model has artifact format {artifact_format}, this package reads {ARTIFACT_FORMAT}: rebuild")
    if trained_with != sklearn.__version__:
        raise ValueError(f"the saved model was fitted with scikit-learn {trained_with}, this is {sklearn.__version__}: rebuild")
    # Our own build wrote this pickle; never point --db at a file you do not trust.
    return pickle.loads(blob)


def read_lines(path: str | Path) -> pd.DataFrame:
    """Invoice lines from a .csv or .json (list of records) file, with the required columns checked."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"invoice lines file {path} not found")
    if path.suffix.lower() == ".csv":
        lines = pd.read_csv(path, dtype={"stock_code": str, "invoice_no": str})
    elif path.suffix.lower() == ".json":
        lines = pd.DataFrame(json.loads(path.read_text()))
    else:
        raise ValueError(f"invoice lines must be a .csv or .json file, got {path.name}")
    return lines


def _is_non_merchandise(codes: pd.Series, rules: pd.DataFrame) -> np.ndarray:
    exact = set(rules.loc[rules["match_type"] == "exact", "stock_code"])
    prefixes = tuple(rules.loc[rules["match_type"] == "prefix", "stock_code"])
    return np.array([code in exact or code.startswith(prefixes) for code in codes], dtype=bool)


def basket_features(
    lines: pd.DataFrame,
    product_categories: pd.DataFrame,
    non_merchandise_codes: pd.DataFrame,
    category_ids: list[int],
) -> pd.DataFrame:
    """One-row first_purchase_features for a new customer's lines, as the SQL model computes them.

    The first purchase invoice is the earliest (then lowest invoice_no) with a merchandise line of
    positive quantity and price; cancellations (invoice_no starting with C) at or before it set
    has_earlier_cancellation. Codes unknown to product_categories count in the basket value but in no
    category share.
    """
    missing = [c for c in REQUIRED_LINE_COLUMNS if c not in lines.columns]
    if missing:
        raise ValueError(f"invoice lines are missing columns {missing}; have {list(lines.columns)}")
    table = lines.copy()
    if "invoice_no" not in table.columns:
        table["invoice_no"] = "NEW"
    if "country" not in table.columns:
        table["country"] = None
    table["invoice_no"] = table["invoice_no"].astype(str).str.strip()
    table["stock_code"] = table["stock_code"].astype(str).str.strip().str.upper()
    table["quantity"] = pd.to_numeric(table["quantity"], errors="raise")
    table["unit_price"] = pd.to_numeric(table["unit_price"], errors="raise")
    table["invoiced_at"] = pd.to_datetime(table["invoiced_at"], errors="raise")
    merchandise = ~_is_non_merchandise(table["stock_code"], non_merchandise_codes)
    is_cancellation = table["invoice_no"].str.upper().str.startswith("C")
    purchases = table.loc[merchandise & ~is_cancellation & (table["quantity"] > 0) & (table["unit_price"] > 0)]
    if purchases.empty:
        raise ValueError("no purchase line: need a merchandise line with positive quantity and unit price")
    first = purchases.sort_values(["invoiced_at", "invoice_no"], kind="stable").iloc[0]
    basket = purchases.loc[purchases["invoice_no"] == first["invoice_no"]].copy()
    basket["value"] = basket["quantity"] * basket["unit_price"]
    basket = basket.merge(product_categories.loc[:, ["stock_code", "category_id"]], on="stock_code", how="left")
    value = float(basket["value"].sum())
    units = float(basket["quantity"].sum())
    countries = basket["country"].dropna()
    row = {
        "first_purchase_at": first["invoiced_at"],
        "country": sorted(countries.mode())[0] if len(countries) else None,
        "purchase_month": first["invoiced_at"].month,
        "purchase_weekday": first["invoiced_at"].isoweekday(),
        "purchase_hour": first["invoiced_at"].hour,
        "basket_value": value,
        "basket_lines": len(basket),
        "basket_products": basket["stock_code"].nunique(),
        "basket_units": units,
        "mean_unit_price": value / units,
        "max_unit_price": float(basket["unit_price"].max()),
        "has_earlier_cancellation": bool((merchandise & is_cancellation
                                          & (table["invoiced_at"] <= first["invoiced_at"])).any()),
    }
    for category_id in category_ids:
        category_value = float(basket.loc[basket["category_id"] == category_id, "value"].sum())
        row[f"{CATEGORY_SHARE_PREFIX}{category_id}"] = category_value / value
    return pd.DataFrame([row])


def score_first_invoice(db_path: str | Path, lines: pd.DataFrame) -> dict:
    """Predicted segment and probabilities for a new customer's first invoice lines.

    Returns a dict: segment_id, segment_name, probabilities {segment_name: p}, model_name, model_version.
    """
    artifact = load_artifact(db_path)
    with duckdb.connect(str(db_path), read_only=True) as con:
        categories = con.execute("select stock_code, category_id from product_categories").df()
        rules = con.execute("select stock_code, match_type from non_merchandise_codes").df()
    category_ids = [int(c[len(CATEGORY_SHARE_PREFIX):]) for c in artifact.feature_columns
                    if c.startswith(CATEGORY_SHARE_PREFIX)]
    features = basket_features(lines, categories, rules, category_ids)
    proba = artifact.pipeline.predict_proba(prepare_features(features, artifact.feature_columns))[0]
    names = dict(zip(artifact.segment_ids, artifact.segment_names))
    by_class = {int(c): float(p) for c, p in zip(artifact.pipeline.classes_, proba)}
    best = max(artifact.segment_ids, key=lambda s: (by_class.get(s, 0.0), -s))
    return {
        "segment_id": best,
        "segment_name": names[best],
        "probabilities": {names[s]: by_class.get(s, 0.0) for s in artifact.segment_ids},
        "model_name": artifact.model_name,
        "model_version": artifact.model_version,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m customer_segments.prediction.scoring",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("lines", help="the new customer's invoice lines, .csv or .json")
    parser.add_argument("--db", default=os.environ.get("SEGMENTS_DB", "customer_segments.duckdb"),
                        help="DuckDB file of the last build (default: $SEGMENTS_DB or customer_segments.duckdb)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    try:
        result = score_first_invoice(args.db, read_lines(args.lines))
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"segment: {result['segment_name']} (id {result['segment_id']})")
    for name, probability in sorted(result["probabilities"].items(), key=lambda item: -item[1]):
        print(f"  {probability:6.1%}  {name}")
    print(f"model: {result['model_name']} {result['model_version']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
