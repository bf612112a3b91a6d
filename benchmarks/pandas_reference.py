"""The pipeline as a plain pandas notebook would write it, for the scale benchmark only.

Same rules as the dbt models (exact-duplicate removal, the line filters, closed-form cancellation
netting, RFM), all in memory, then the same K-means k scan as the single-query DuckDB pass
(benchmarks.k_scan). `python -m benchmarks.pandas_reference FILE.parquet` prints the number of
customers, their net spend and the chosen k with its segment sizes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.k_scan import k_scan

SEEDS = Path(__file__).resolve().parents[1] / "seeds"


def clean_lines(raw: pd.DataFrame, codes: pd.DataFrame) -> pd.DataFrame:
    """Distinct purchase and cancellation lines of known customers and merchandise codes."""
    lines = raw.drop_duplicates().copy()
    lines["StockCode"] = lines["StockCode"].str.strip().str.upper()
    lines["line_id"] = np.arange(len(lines))
    exact = set(codes.loc[codes["match_type"] == "exact", "stock_code"])
    prefixes = tuple(codes.loc[codes["match_type"] == "prefix", "stock_code"])
    is_non_merchandise = lines["StockCode"].isin(exact) | lines["StockCode"].str.startswith(prefixes)
    is_cancellation = lines["InvoiceNo"].str.upper().str.startswith("C")
    keep = (
        lines["CustomerID"].notna() & ~is_non_merchandise & (lines["UnitPrice"] > 0) & (lines["Quantity"] != 0)
        & ((is_cancellation & (lines["Quantity"] < 0)) | (~is_cancellation & (lines["Quantity"] > 0)))
    )
    lines["is_cancellation"] = is_cancellation
    return lines.loc[keep]


def net_lines(lines: pd.DataFrame) -> pd.DataFrame:
    """Matched cancelled value per line by the closed form M_i = Q_i + min(0, min_j<=i (P_j - Q_j))."""
    ordered = lines.sort_values(["CustomerID", "StockCode", "InvoiceDate", "is_cancellation", "line_id"])
    keys = [ordered["CustomerID"], ordered["StockCode"]]
    purchased = ordered["Quantity"].where(~ordered["is_cancellation"], 0).groupby(keys).cumsum()
    requested = (-ordered["Quantity"]).where(ordered["is_cancellation"], 0).groupby(keys).cumsum()
    cancels = ordered.loc[ordered["is_cancellation"]].assign(gap=(purchased - requested)[ordered["is_cancellation"]],
                                                             requested=requested[ordered["is_cancellation"]])
    cancel_keys = [cancels["CustomerID"], cancels["StockCode"]]
    matched_to_date = cancels["requested"] + cancels["gap"].groupby(cancel_keys).cummin().clip(upper=0)
    matched = matched_to_date - matched_to_date.groupby(cancel_keys).shift(fill_value=0)
    ordered["cancelled_value"] = 0.0
    ordered.loc[cancels.index, "cancelled_value"] = matched * cancels["UnitPrice"]
    ordered["gross_value"] = np.where(ordered["is_cancellation"], 0.0, ordered["Quantity"] * ordered["UnitPrice"])
    return ordered


def rfm(netted: pd.DataFrame) -> pd.DataFrame:
    purchases = netted.loc[~netted["is_cancellation"]]
    as_of = netted["InvoiceDate"].max().normalize() + pd.Timedelta(days=1)
    customers = purchases.groupby("CustomerID").agg(last=("InvoiceDate", "max"), frequency=("InvoiceNo", "nunique"))
    value = netted.groupby("CustomerID")[["gross_value", "cancelled_value"]].sum()
    customers["monetary"] = value["gross_value"] - value["cancelled_value"]
    customers["recency_days"] = (as_of - customers["last"].dt.normalize()).dt.days
    return customers


def main(argv: list[str] | None = None) -> int:
    path = (argv or sys.argv[1:])[0]
    codes = pd.read_csv(SEEDS / "non_merchandise_codes.csv", dtype=str)
    customers = rfm(net_lines(clean_lines(pd.read_parquet(path), codes)))
    k, sizes = k_scan(customers)
    print(f"customers={len(customers)} monetary={customers['monetary'].sum():.2f} k={k} segments={sizes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
