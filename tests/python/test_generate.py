"""Tests for the synthetic Online Retail generator (synthetic_shop.generate).

Rate bounds are loose brackets around what the real UCI file shows (541,909 lines); the
comment on each gives the real value.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from synthetic_shop.generate import (
    COLUMNS,
    FIRST_INVOICE_NO,
    PLANTED_GROUPS,
    GeneratedData,
    generate_invoice_lines,
    main,
    write_dataset,
)

MERCH_CODE = r"\d{5}[A-Z]?"
FEE_CODES = ("POST", "DOT", "M", "C2", "D", "S", "BANK CHARGES", "AMAZONFEE", "CRUK")


@pytest.fixture(scope="module")
def data() -> GeneratedData:
    return generate_invoice_lines()


@pytest.fixture(scope="module")
def lines(data: GeneratedData) -> pd.DataFrame:
    """The lines plus helper columns: canonical code, flags for cancellation and merchandise."""
    df = data.lines
    code = df["StockCode"].str.strip().str.upper()
    return df.assign(code=code, is_cancel=df["InvoiceNo"].str.upper().str.startswith("C"),
                     is_merch=code.str.fullmatch(MERCH_CODE))


def _clean_purchases(df: pd.DataFrame) -> pd.DataFrame:
    """Non-cancelled, merchandise, priced, identified purchase lines without exact duplicates."""
    keep = (~df["InvoiceNo"].str.upper().str.startswith(("C", "A"))
            & df["StockCode"].str.strip().str.upper().str.fullmatch(MERCH_CODE)
            & (df["UnitPrice"] > 0) & (df["Quantity"] > 0) & df["CustomerID"].notna())
    return df[keep].drop_duplicates()


# --- shape -----------------------------------------------------------------------------------

def test_columns_and_dtypes(data: GeneratedData) -> None:
    df = data.lines
    assert tuple(df.columns) == COLUMNS
    for col in ("InvoiceNo", "StockCode", "Description", "Country"):
        assert pd.api.types.is_string_dtype(df[col]), col
    assert df["Quantity"].dtype == np.int64
    assert pd.api.types.is_datetime64_dtype(df["InvoiceDate"])
    assert (df["InvoiceDate"].dt.second == 0).all()          # minute resolution
    assert df["UnitPrice"].dtype == np.float64
    assert df["CustomerID"].dtype == np.float64
    assert df[["InvoiceNo", "StockCode", "Quantity", "InvoiceDate", "UnitPrice", "Country"]].notna().all().all()
    pg = data.planted_groups
    assert list(pg.columns) == ["customer_id", "planted_group"]
    assert pg["customer_id"].dtype == np.int64
    assert pd.api.types.is_string_dtype(pg["planted_group"])



def test_window_hours_and_invoice_numbers(lines: pd.DataFrame) -> None:
    assert lines["InvoiceDate"].min() >= pd.Timestamp("2010-12-01")
    assert lines["InvoiceDate"].max() < pd.Timestamp("2011-12-10")
    assert lines["InvoiceDate"].dt.hour.between(7, 19).all()
    assert (lines["InvoiceDate"].dt.day_of_week != 5).all()   # the shop never sells on Saturdays
    assert lines["InvoiceNo"].str.fullmatch(r"[Cc]?\d{6}|A\d{6}").all()
    inv = lines.groupby("InvoiceNo").agg(ts=("InvoiceDate", "first"), n_ts=("InvoiceDate", "nunique"))
    assert (inv["n_ts"] == 1).all()
    inv["number"] = inv.index.str[-6:].astype(int)
    inv = inv.sort_values("number")
    assert inv["number"].iloc[0] == FIRST_INVOICE_NO
    assert inv["number"].is_unique
    assert inv["ts"].is_monotonic_increasing                  # numbers follow time


def test_invoice_sizes(lines: pd.DataFrame) -> None:
    per_invoice = lines.groupby("InvoiceNo").size()
    assert per_invoice.between(1, 60).all()
    sales = lines[~lines["is_cancel"] & lines["is_merch"]].groupby("InvoiceNo").size()
    assert 8 <= sales.median() <= 16                           # real: 13


def test_products_customers_and_countries(data: GeneratedData, lines: pd.DataFrame) -> None:
    merch = lines[lines["is_merch"]]
    assert 400 <= merch["code"].nunique() <= 600
    assert merch["code"].str.fullmatch(r"\d{5}[A-Z]").any()
    # one fixed description per product (ignoring the stray whitespace)
    described = merch.dropna(subset=["Description"])
    described = described[described["Quantity"] > 0]
    assert (described.groupby("code")["Description"].agg(lambda s: s.str.strip().nunique()) == 1).all()
    themes = ("CHRISTMAS", "BAG", "T-LIGHT|CANDLE", "MUG|TEA|CAKE|JAM", "CARD|WRAP|GIFT TAG",
              "GARDEN|WATERING|BIRD", "TOY|CHILDRENS", "SIGN|CLOCK|FRAME|CUSHION|DOORMAT|MIRROR")
    catalogue = described.drop_duplicates("code")["Description"]
    for pattern in themes:
        assert catalogue.str.contains(pattern).sum() >= 20, pattern
    identified = lines.dropna(subset=["CustomerID"])
    assert identified["CustomerID"].min() >= 12346
    home = identified.groupby("CustomerID")["Country"].agg(lambda s: s.mode().iloc[0])
    assert 0.83 <= (home == "United Kingdom").mean() <= 0.93
    assert home.nunique() == 11
    movers = (identified.groupby("CustomerID")["Country"].nunique() > 1).mean()
    assert 0.003 <= movers <= 0.03


def test_planted_groups_cover_every_customer(data: GeneratedData) -> None:
    pg = data.planted_groups
    assert pg["customer_id"].is_unique
    in_lines = set(data.lines["CustomerID"].dropna().astype(np.int64))
    assert set(pg["customer_id"]) == in_lines
    shares = pg["planted_group"].value_counts(normalize=True)
    assert set(shares.index) == set(PLANTED_GROUPS)
    assert shares["loyal_high_value"] == pytest.approx(0.10, abs=0.02)
    for group in PLANTED_GROUPS[1:]:
        assert shares[group] == pytest.approx(0.30, abs=0.03)


@pytest.mark.parametrize("n", [1, 2, 7])
def test_tiny_data_sets(n: int) -> None:
    data = generate_invoice_lines(n, seed=3)
    assert len(data.planted_groups) == n
    assert data.lines["CustomerID"].nunique() == n


# --- determinism -------------------------------------------------------------------------------

def test_same_seed_gives_identical_frames() -> None:
    a, b = generate_invoice_lines(300, seed=7), generate_invoice_lines(300, seed=7)
    pd.testing.assert_frame_equal(a.lines, b.lines)
    pd.testing.assert_frame_equal(a.planted_groups, b.planted_groups)


def test_different_seed_gives_different_frames() -> None:
    a, b = generate_invoice_lines(300, seed=7), generate_invoice_lines(300, seed=8)
    assert not a.lines.equals(b.lines)
    assert not a.planted_groups.equals(b.planted_groups)


def test_parquet_is_byte_identical(tmp_path) -> None:
    first = write_dataset(tmp_path / "a", n_customers=200, seed=5)
    second = write_dataset(tmp_path / "b", n_customers=200, seed=5)
    for key in ("invoice_lines", "planted_groups"):
        assert first[key].read_bytes() == second[key].read_bytes(), key


# --- dirt ------------------------------------------------------------------------------------

def test_cancellations_and_missing_customers(lines: pd.DataFrame) -> None:
    n = len(lines)
    assert 0.008 <= lines["is_cancel"].mean() <= 0.03                        # real 1.7%
    assert (lines.loc[lines["is_cancel"], "Quantity"] < 0).all()
    assert 1 <= lines["InvoiceNo"].str.startswith("c").sum() <= 10          # lowercase prefix
    assert 0.18 <= lines["CustomerID"].isna().mean() <= 0.32                # real 24.9%
    # missing customers are whole invoices, mostly UK
    assert (lines.groupby("InvoiceNo")["CustomerID"].agg(lambda s: s.isna().nunique()) == 1).all()
    assert (lines.loc[lines["CustomerID"].isna(), "Country"] == "United Kingdom").mean() > 0.9
    assert n > 0


def test_duplicates(lines: pd.DataFrame) -> None:
    raw = lines[list(COLUMNS)]
    assert 0.004 <= raw.duplicated().mean() <= 0.02                          # real 0.97%
    copies = raw.groupby(list(COLUMNS), dropna=False).size()
    assert (copies == 3).any()
    dup_rows = raw[raw.duplicated(keep=False)]
    assert not dup_rows["InvoiceNo"].str.upper().str.startswith("A").any()


def test_non_merchandise_codes(lines: pd.DataFrame) -> None:
    codes = set(lines["StockCode"])
    for code in FEE_CODES:
        assert code in codes, code
    assert "m" in codes
    assert lines["StockCode"].str.fullmatch(r"gift_0001_\d+").sum() >= 2
    assert {"gift_0001_10", "gift_0001_20"} <= codes
    fees = lines[~lines["is_merch"]]
    assert 0.002 <= len(fees) / len(lines) <= 0.015                         # real 0.55%
    discount = lines[lines["StockCode"] == "D"]
    assert (discount["Quantity"] == -1).all() and discount["is_cancel"].all()
    assert (discount["UnitPrice"] > 0).all() and discount["CustomerID"].notna().all()
    bad_debt = lines[lines["InvoiceNo"].str.startswith("A")]
    assert (bad_debt["StockCode"] == "B").all() and bad_debt["CustomerID"].isna().all()
    assert (bad_debt["UnitPrice"] > 0).sum() >= 1 and (bad_debt["UnitPrice"] < 0).sum() >= 1


def test_prices(lines: pd.DataFrame) -> None:
    zero = lines["UnitPrice"] == 0
    assert 0.002 <= zero.mean() <= 0.01                                     # real 0.46%
    assert lines.loc[zero, "CustomerID"].isna().mean() > 0.8                # mostly no customer
    assert (lines["UnitPrice"] < 0).equals(lines["InvoiceNo"].str.startswith("A") & (lines["UnitPrice"] < 0))
    assert (lines.loc[lines["UnitPrice"] < 0, "StockCode"] == "B").all()
    assert 1 <= (lines["UnitPrice"] == 0.001).sum() <= 10                   # real 4
    three_decimals = (lines["UnitPrice"].round(2) != lines["UnitPrice"]) & (lines["UnitPrice"] != 0.001)
    assert 1 <= three_decimals.sum() <= 20
    merch_prices = lines.loc[lines["is_merch"] & (lines["UnitPrice"] > 0), "UnitPrice"]
    assert 1 <= merch_prices.median() <= 4 and merch_prices.max() > 15


def test_stock_adjustments(lines: pd.DataFrame) -> None:
    adj = lines[(lines["Quantity"] < 0) & ~lines["is_cancel"]]
    assert 0.001 <= len(adj) / len(lines) <= 0.006                          # real 0.25%
    assert (adj["UnitPrice"] == 0).all() and adj["CustomerID"].isna().all()
    assert adj["Description"].isna().any()
    assert adj["Description"].isin(["damaged", "?"]).any()


def test_messy_text(lines: pd.DataFrame) -> None:
    desc, code = lines["Description"], lines["StockCode"]
    assert 0.001 <= desc.isna().mean() <= 0.006                             # real 0.27%
    assert 0.10 <= desc.str.endswith(" ").mean() <= 0.32                    # real 20.8%
    assert desc.str.startswith(" ").any()
    assert 1 <= (code != code.str.strip()).sum() <= 0.001 * len(lines)
    lower = code.str.fullmatch(r"\d{5}[a-z]")
    assert 0.001 <= lower.mean() <= 0.01                                    # real 0.36%
    # every lowercase code is a variant of a canonical uppercase one
    assert set(code[lower].str.upper()) <= set(code[code.str.fullmatch(r"\d{5}[A-Z]")])


def test_cancellations_match_earlier_purchases(lines: pd.DataFrame) -> None:
    who = lines["CustomerID"].notna() & lines["is_merch"]
    buys = lines[who & ~lines["is_cancel"] & (lines["Quantity"] > 0)]
    cancels = lines[who & lines["is_cancel"]].reset_index(drop=True)
    cancels["cid"] = np.arange(len(cancels))
    # latest purchase of the same customer and code at or before the cancellation
    last = (buys.groupby(["CustomerID", "code", "InvoiceDate"], as_index=False)["Quantity"].sum()
            .rename(columns={"InvoiceDate": "bought_at", "Quantity": "bought"}).sort_values("bought_at"))
    matched = pd.merge_asof(cancels.sort_values("InvoiceDate"), last, left_on="InvoiceDate",
                            right_on="bought_at", by=["CustomerID", "code"], direction="backward")
    unmatched = matched["bought_at"].isna()
    share = matched.loc[unmatched, "Quantity"].sum() / matched["Quantity"].sum()
    assert 0.05 <= share <= 0.40                                            # real 8.4%
    m = matched[~unmatched]
    cancelled = -m["Quantity"]
    assert (cancelled == m["bought"]).any()                                 # full
    assert (cancelled < m["bought"]).any()                                  # partial
    assert (cancelled > m["bought"]).any()                                  # more than bought
    assert (m["InvoiceDate"] == m["bought_at"]).any()                       # same minute
    assert (m.groupby(["CustomerID", "code", "bought_at"]).size() >= 2).any()   # cancelled twice
    assert (m["UnitPrice"] > 0).all()


# --- planted behaviour -----------------------------------------------------------------------

def test_kmeans_recovers_planted_groups(data: GeneratedData) -> None:
    clean = _clean_purchases(data.lines)
    ref = data.lines["InvoiceDate"].max() + pd.Timedelta(days=1)
    rfm = (clean.assign(value=clean["Quantity"] * clean["UnitPrice"])
           .groupby("CustomerID")
           .agg(last=("InvoiceDate", "max"), n_invoices=("InvoiceNo", "nunique"), net_spend=("value", "sum")))
    rfm["recency_days"] = (ref - rfm["last"]).dt.days
    features = np.log1p(rfm[["recency_days", "n_invoices", "net_spend"]].to_numpy(dtype=float))
    labels = KMeans(n_clusters=4, n_init=10, random_state=0).fit_predict(StandardScaler().fit_transform(features))
    truth = data.planted_groups.set_index("customer_id")["planted_group"].reindex(rfm.index.astype(np.int64))
    ari = adjusted_rand_score(truth.to_numpy(), labels)
    print(f"adjusted Rand index: {ari:.3f}")
    assert 0.6 <= ari < 0.98      # recoverable, but the groups overlap like real segments


def test_groups_lean_to_themes(data: GeneratedData) -> None:
    clean = _clean_purchases(data.lines)
    group = data.planted_groups.set_index("customer_id")["planted_group"]
    clean = clean.assign(group=group.reindex(clean["CustomerID"].astype(np.int64)).to_numpy())
    share = lambda pattern: clean["Description"].str.contains(pattern).groupby(clean["group"]).mean()  # noqa: E731
    assert share("CHRISTMAS")["loyal_high_value"] > share("CHRISTMAS")["recent_low_value"]
    assert share("CARD|WRAP|GIFT TAG")["recent_low_value"] > share("CARD|WRAP|GIFT TAG")["loyal_high_value"]


# --- API and CLI -----------------------------------------------------------------------------

@pytest.mark.parametrize("n", [0, -5, 2.5, True])
def test_invalid_customer_count(n) -> None:
    with pytest.raises(ValueError, match="n_customers"):
        generate_invoice_lines(n)


def test_invalid_format(tmp_path) -> None:
    with pytest.raises(ValueError, match="fmt"):
        write_dataset(tmp_path, n_customers=10, fmt="xlsx")
    assert not list(tmp_path.iterdir())


def test_cli_writes_parquet(tmp_path, capsys) -> None:
    out = tmp_path / "generated"
    assert main(["--out", str(out), "--customers", "60", "--seed", "1"]) == 0
    lines = pd.read_parquet(out / "invoice_lines.parquet")
    groups = pd.read_parquet(out / "planted_groups.parquet")
    assert tuple(lines.columns) == COLUMNS and len(groups) == 60
    printed = capsys.readouterr().out
    assert str(out / "invoice_lines.parquet") in printed and f"{len(lines)} invoice lines" in printed
    assert "60 customers" in printed
    expected = generate_invoice_lines(60, seed=1).lines
    pd.testing.assert_frame_equal(lines, expected)


def test_cli_writes_csv(tmp_path, capsys) -> None:
    assert main(["--out", str(tmp_path), "--customers", "20", "--format", "csv"]) == 0
    lines = pd.read_csv(tmp_path / "invoice_lines.csv")
    assert tuple(lines.columns) == COLUMNS
    assert (tmp_path / "planted_groups.parquet").exists()
    assert "invoice_lines.csv" in capsys.readouterr().out


def test_cli_rejects_bad_arguments(tmp_path, capsys) -> None:
    assert main(["--out", str(tmp_path), "--format", "xlsx"]) == 2
    assert main(["--out", str(tmp_path), "--customers", "0"]) == 2
    assert "error" in capsys.readouterr().err
