"""Campaign exports: per-segment lists from the published file, formula injection neutralised in CSV,
ids pseudonymised with HMAC-SHA256 (key never written anywhere) or plainly marked raw; the prediction
layer's columns where it publishes them, per-segment constants in the manifest, money to two decimals,
one file of all segments on request, e-mails hashed as Google and Meta take them."""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from conftest import ROOT
from customer_segments.delivery.exports import (
    ALL_SEGMENTS_STEM,
    COLUMNS,
    RAW_ID_STATEMENT,
    hash_emails,
    neutralise_formulas,
    normalise_email,
    pseudonymise,
    tidy,
    write_exports,
)

KEY = "campaign-secret-" + "s" * 24
#: Country values planted in the published file, as a source file could carry them.
HOSTILE = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


def run_exports(db: Path, out: Path, key: str | None = None, *flags: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SEGMENTS_EXPORT_HMAC_KEY"}
    if key is not None:
        env["SEGMENTS_EXPORT_HMAC_KEY"] = key
    return subprocess.run([sys.executable, "-m", "customer_segments.delivery.exports", "--db", str(db), "--out", str(out),
                           *flags], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def read_csvs(out: Path, pattern: str = "*.csv") -> pd.DataFrame:
    # Every cell as text, exactly as a spreadsheet would receive it.
    return pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in sorted(out.glob(pattern))],
                     ignore_index=True)


def read_parquets(out: Path, pattern: str = "segment_*.parquet") -> pd.DataFrame:
    return pd.concat([pd.read_parquet(p) for p in sorted(out.glob(pattern))], ignore_index=True)


@pytest.fixture(scope="module")
def hostile_db(published_build, tmp_path_factory) -> tuple[Path, dict[int, str]]:
    """A published file whose customers' countries start with formula triggers."""
    path = tmp_path_factory.mktemp("hostile") / "served.duckdb"
    shutil.copyfile(published_build.db_path, path)
    with duckdb.connect(str(path)) as con:
        ids = [r[0] for r in con.execute(
            f"select customer_id from customer_segments order by customer_id limit {len(HOSTILE)}").fetchall()]
        for customer_id, value in zip(ids, HOSTILE):
            con.execute("update customer_rfm set country = ? where customer_id = ?", [value, customer_id])
    return path, dict(zip(ids, HOSTILE))


def test_neutralise_formulas_prefixes_only_text_triggers():
    frame = pd.DataFrame({"text": ["=1+1", "+x", "-x", "@x", "\tx", "\rx", "ok", "a=b", None],
                          "amount": [-5.0, 1, 2, 3, 4, 5, 6, 7, 8]})
    safe = neutralise_formulas(frame)
    assert safe["text"].tolist()[:8] == ["'=1+1", "'+x", "'-x", "'@x", "'\tx", "'\rx", "ok", "a=b"]
    assert pd.isna(safe["text"].iloc[8])
    assert safe["amount"].tolist() == frame["amount"].tolist()  # numbers stay numbers
    assert frame["text"].iloc[0] == "=1+1"  # the input is not modified


def test_pseudonymise_is_hmac_sha256_and_rejects_short_keys():
    ids = pd.Series([12346, 17850])
    expected = [hmac.new(KEY.encode(), b"12346", hashlib.sha256).hexdigest(),
                hmac.new(KEY.encode(), b"17850", hashlib.sha256).hexdigest()]
    assert pseudonymise(ids, KEY.encode()).tolist() == expected
    with pytest.raises(ValueError, match="at least 32 bytes") as error:
        pseudonymise(ids, b"short-key")
    assert "short-key" not in str(error.value)


@pytest.mark.dbt
def test_one_list_per_segment_with_its_constants_in_the_manifest(published_build, tmp_path):
    result = run_exports(published_build.db_path, tmp_path)
    assert result.returncode == 0, result.stderr
    profiles = published_build.query(
        "select segment_id, segment_name, suggested_actions, customers from segment_profiles order by 1")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [(s["segment_id"], s["segment_name"], s["suggested_actions"], s["customers"])
            for s in manifest["segments"]] == profiles
    labels = dict(published_build.query("select distinct segment_id, segment_label from customer_segments"))
    assert {s["segment_id"]: s["segment_label"] for s in manifest["segments"]} == labels
    for segment in manifest["segments"]:
        csv_rows = pd.read_csv(tmp_path / segment["files"][0])
        parquet_rows = pd.read_parquet(tmp_path / segment["files"][1])
        assert len(csv_rows) == len(parquet_rows) == segment["customers"]
        assert set(csv_rows.segment_name) == {segment["segment_name"]}
        # What is the same on every row of a segment or of the export is said once, in the manifest.
        assert not {"suggested_actions", "segment_label", "id_kind"} & set(csv_rows.columns)
        assert list(csv_rows.columns) == list(parquet_rows.columns) == list(manifest["columns"])
        assert csv_rows.customer_id_raw.is_unique
    everyone = pd.concat(pd.read_parquet(p) for p in tmp_path.glob("*.parquet"))
    segments = dict(published_build.query("select customer_id, segment_id from customer_segments"))
    assert dict(zip(everyone.customer_id_raw, everyone.segment_id)) == segments
    assert float(everyone.net_spend.sum()) == pytest.approx(float(published_build.scalar(
        "select sum(monetary) from customer_segments")))


@pytest.mark.dbt
def test_raw_ids_are_said_plainly(published_build, tmp_path):
    result = run_exports(published_build.db_path, tmp_path)
    assert "RAW customer ids" in result.stdout
    assert RAW_ID_STATEMENT in (tmp_path / "README.txt").read_text()
    assert json.loads((tmp_path / "manifest.json").read_text())["ids"] == RAW_ID_STATEMENT
    assert json.loads((tmp_path / "manifest.json").read_text())["id_kind"] == "raw customer number"
    assert "customer_id_raw" in read_csvs(tmp_path).columns
    # Whole-number ids are the shop's own: no customer_key beside them, and the files say so.
    assert json.loads((tmp_path / "manifest.json").read_text())["customer_id_kind"] == "number"
    assert "customer_key" not in read_csvs(tmp_path).columns
    assert "The customer numbers are the shop's own customer numbers." in (tmp_path / "README.txt").read_text()


@pytest.mark.dbt
def test_csv_cells_that_could_run_as_formulas_are_neutralised(hostile_db, tmp_path):
    db, planted = hostile_db
    assert run_exports(db, tmp_path).returncode == 0
    rows = read_csvs(tmp_path).set_index("customer_id_raw")
    for customer_id, value in planted.items():
        assert rows.loc[str(customer_id), "country"] == "'" + value
    # The raw CSV text: no cell starts with a trigger once quoting is undone, but a negative number (a
    # customer's predicted spend can be below zero) stays a number.
    for path in tmp_path.glob("*.csv"):
        with open(path, newline="", encoding="utf-8") as handle:
            for record in csv.reader(handle):
                assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) and not re.fullmatch(r"-\d+\.\d\d", cell)
                               for cell in record), record
    # Parquet keeps the typed values as they are.
    parquet = pd.concat(pd.read_parquet(p) for p in tmp_path.glob("*.parquet")).set_index("customer_id_raw")
    assert {c: parquet.loc[c, "country"] for c in planted} == planted


@pytest.mark.dbt
def test_pseudonymised_ids_leak_neither_ids_nor_key(published_build, tmp_path):
    result = run_exports(published_build.db_path, tmp_path / "a", key=KEY)
    assert result.returncode == 0, result.stderr
    assert KEY not in result.stdout + result.stderr
    for path in (tmp_path / "a").iterdir():
        assert KEY.encode() not in path.read_bytes(), path
    rows = pd.concat(pd.read_parquet(p) for p in (tmp_path / "a").glob("*.parquet"))
    assert "customer_id_raw" not in rows.columns
    assert json.loads((tmp_path / "a" / "manifest.json").read_text())["id_kind"] == "hmac-sha256 pseudonym"
    ids = [r[0] for r in published_build.query("select customer_id from customer_segments")]
    expected = {hmac.new(KEY.encode(), str(i).encode(), hashlib.sha256).hexdigest() for i in ids}
    assert set(rows.customer_pseudonym) == expected
    assert "HMAC-SHA256 pseudonyms" in (tmp_path / "a" / "README.txt").read_text()
    # Another key, other pseudonyms; a short key is refused without echoing it.
    run_exports(published_build.db_path, tmp_path / "b", key=KEY[::-1])
    other = pd.concat(pd.read_parquet(p) for p in (tmp_path / "b").glob("*.parquet"))
    assert not set(other.customer_pseudonym) & expected
    short = run_exports(published_build.db_path, tmp_path / "c", key="tiny-secret")
    assert short.returncode == 2 and "at least 32 bytes" in short.stderr and "tiny-secret" not in short.stderr


#: Meta's published example of a hashed e-mail (Marketing API, Custom Audiences: hash("sha256", "mary@example.com")).
META_EXAMPLE = ("mary@example.com", "f1904cf1a9d73a55fa5de0ac823c4403ded71afd4c3248d00bdcd0866552bb79")


def test_emails_are_trimmed_lower_cased_and_hashed_as_google_and_meta_take_them():
    address, digest = META_EXAMPLE
    hashed = hash_emails(pd.Series([address, "  Mary@Example.COM\t", "\n MARY@EXAMPLE.COM ", None, "", "   ", 17850]))
    assert hashed.tolist() == [digest] * 3 + [None] * 4
    # No provider's own rewriting: the dots of a gmail.com address stay (Google drops them for enhanced
    # conversions only, not for a Customer Match upload), and so does a +tag.
    assert normalise_email(" John.Doe+news@GMAIL.com ") == "john.doe+news@gmail.com"
    assert hash_emails(pd.Series(["John.Doe@gmail.com"]))[0] == hashlib.sha256(b"john.doe@gmail.com").hexdigest()
    # A non-ASCII address: lower-cased as Unicode, its UTF-8 bytes hashed.
    assert hash_emails(pd.Series(["ÉLODIE@exemple.fr"]))[0] == hashlib.sha256("élodie@exemple.fr".encode()).hexdigest()


def test_tidy_gives_dates_as_dates_and_no_negative_zero():
    days = pd.to_datetime(["2011-12-10", "2010-12-01"])
    frame = pd.DataFrame({"as_of_date": days, "first_purchase_date": days, "last_purchase_date": days,
                          "net_spend": [-0.0, 1.5], "clv": [np.nan, 2.0]})
    out = tidy(frame)
    assert [d.isoformat() for d in out.as_of_date] == ["2011-12-10", "2010-12-01"]
    assert not np.signbit(out.net_spend.iloc[0])
    assert out.to_csv(index=False, float_format="%.2f").splitlines()[1:] == [
        "2011-12-10,2011-12-10,2011-12-10,0.00,", "2010-12-01,2010-12-01,2010-12-01,1.50,2.00"]
    assert frame.net_spend.iloc[0] == 0 and np.signbit(frame.net_spend.iloc[0])  # the input is not modified


def test_every_export_column_is_documented():
    page = (ROOT / "docs" / "exports.md").read_text()
    assert [column for column in COLUMNS if f"`{column}`" not in page] == []


def forecast_frame(build) -> pd.DataFrame:
    return pd.DataFrame(build.query(
        "select customer_id, expected_purchases, expected_spend, clv, probability_alive from customer_purchase_forecast"),
        columns=["customer_id", "expected_purchases", "expected_spend", "clv", "probability_alive"]
    ).set_index("customer_id")


@pytest.mark.dbt
def test_predictions_as_of_date_and_money_as_a_marketer_reads_them(published_build, tmp_path):
    write_exports(published_build.db_path, tmp_path, key=None)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    rows = read_parquets(tmp_path).set_index("customer_id_raw")
    forecast = forecast_frame(published_build).loc[rows.index]
    # The chosen method's predictions, to two decimals (within half a cent of the published doubles).
    for column, source in [("predicted_purchases_next_horizon", "expected_purchases"),
                           ("predicted_spend_next_horizon", "expected_spend"), ("clv", "clv")]:
        assert np.abs(rows[column] - forecast[source]).max() <= 0.005 + 1e-9, column
        assert np.allclose(rows[column] * 100, np.round(rows[column] * 100)), column
    horizon, method = published_build.query(
        "select distinct horizon_days, method from customer_purchase_forecast")[0]
    predictions = manifest["predictions"]
    assert (predictions["purchases_and_spend"]["horizon_days"], predictions["purchases_and_spend"]["method"]) == \
        (horizon, method) == (365, "naive_past_rate")
    assert (predictions["clv"]["horizon_days"], predictions["clv"]["annual_discount_rate"]) == (1095, 0.1)
    # The churn gate withholds P(alive) on this data: no churn column; the manifest and README.txt say why.
    note = published_build.scalar("select detail from build_notes where model = 'customer_purchase_forecast' "
                                  "and note = 'probability_alive absent'")
    assert "churn_risk" not in rows.columns and predictions["churn_risk"] == {"included": False, "reason": note}
    assert f"- churn risk: {note}" in (tmp_path / "README.txt").read_text()
    as_of = published_build.scalar("select as_of_date from build_info")
    assert set(rows.as_of_date) == {as_of} and manifest["as_of_date"] == as_of.isoformat()
    # Money within half a penny of the exact decimals, written with two decimals; dates as ISO dates.
    exact = dict(published_build.query("select customer_id, monetary from customer_rfm"))
    assert max(abs(float(exact[c]) - v) for c, v in rows.net_spend.items()) <= 0.005 + 1e-9
    text = read_csvs(tmp_path, "segment_*.csv")
    for column in ("net_spend", "avg_order_value", "predicted_purchases_next_horizon",
                   "predicted_spend_next_horizon", "clv"):
        assert text[column].str.fullmatch(r"-?\d+\.\d\d").all(), column
    for column in ("as_of_date", "first_purchase_date", "last_purchase_date"):
        assert text[column].str.fullmatch(r"\d{4}-\d\d-\d\d").all(), column
        assert str(pq.read_schema(next(tmp_path.glob("segment_*.parquet"))).field(column).type) == "date32[day]"


@pytest.mark.dbt
def test_all_segments_in_one_file_on_request(published_build, tmp_path):
    result = run_exports(published_build.db_path, tmp_path, None, "--all-in-one")
    assert result.returncode == 0, result.stderr
    together = pd.read_parquet(tmp_path / f"{ALL_SEGMENTS_STEM}.parquet")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert len(together) == published_build.scalar("select count(*) from customer_segments")
    assert manifest["all_segments"] == {"customers": len(together),
                                        "files": [f"{ALL_SEGMENTS_STEM}.csv", f"{ALL_SEGMENTS_STEM}.parquet"]}
    # The same rows, in the same order, as the segment files one after the other; segment_name says which.
    pd.testing.assert_frame_equal(together, read_parquets(tmp_path))
    pd.testing.assert_frame_equal(read_csvs(tmp_path, f"{ALL_SEGMENTS_STEM}.csv"), read_csvs(tmp_path, "segment_*.csv"))
    # Without the flag, no file of all segments is left from the run before.
    write_exports(published_build.db_path, tmp_path, key=None)
    assert not list(tmp_path.glob(f"{ALL_SEGMENTS_STEM}.*"))
    assert json.loads((tmp_path / "manifest.json").read_text())["all_segments"] is None


@pytest.mark.dbt
def test_churn_risk_is_exported_where_the_churn_gate_publishes_it(copy_of_build, tmp_path):
    with duckdb.connect(str(copy_of_build.db_path)) as con:
        # As a build whose data identifies dropout writes it: P(alive) for repeat customers only, and no note.
        con.execute("update customer_purchase_forecast set probability_alive = "
                    "case when repeat_purchases > 0 then (customer_id % 97) / 96.0 end")
        con.execute("delete from build_notes where note = 'probability_alive absent'")
    write_exports(copy_of_build.db_path, tmp_path, key=None)
    rows = read_parquets(tmp_path).set_index("customer_id_raw")
    expected = 1 - forecast_frame(copy_of_build).loc[rows.index, "probability_alive"].astype(float)
    assert rows.churn_risk.isna().equals(expected.isna()) and 0 < rows.churn_risk.count() < len(rows)
    assert np.abs(rows.churn_risk - expected).max() <= 0.0005 + 1e-9
    # Three decimals in the CSV (most real customers' risk is below 0.02), blank without a repeat purchase.
    text = read_csvs(tmp_path, "segment_*.csv")
    assert text.churn_risk.str.fullmatch(r"[01]\.\d{3}|").all() and text.churn_risk.eq("").sum() == rows.churn_risk.isna().sum()
    churn = json.loads((tmp_path / "manifest.json").read_text())["predictions"]["churn_risk"]
    assert churn["included"] and churn["customers_with_a_value"] == copy_of_build.scalar(
        "select count(probability_alive) from customer_purchase_forecast")
    assert "Not in these files" not in (tmp_path / "README.txt").read_text()


@pytest.mark.dbt
def test_an_email_column_is_exported_hashed_never_as_the_address(copy_of_build, tmp_path):
    with duckdb.connect(str(copy_of_build.db_path)) as con:
        # As a build of an e-mail customer column fills it (here with spellings the exports must normalise).
        con.execute("update customer_identities set email = "
                    "case when customer_id % 10 <> 0 then ' Shopper' || customer_id || '@Example.COM ' end")
    write_exports(copy_of_build.db_path, tmp_path, key=None)
    rows = read_parquets(tmp_path)
    expected = [None if c % 10 == 0 else hashlib.sha256(f"shopper{c}@example.com".encode()).hexdigest()
                for c in rows.customer_id_raw]
    hashed = [v if isinstance(v, str) else None for v in rows.email_sha256]  # parquet reads a null back as NaN
    assert hashed == expected and rows.email_sha256.notna().any()
    assert list(rows.columns[:2]) == ["customer_id_raw", "email_sha256"]
    for path in tmp_path.glob("*.csv"):
        assert "example.com" not in path.read_text().lower(), path
    assert not rows.astype(str).apply(lambda column: column.str.contains("@")).any().any()
    assert "email_sha256" in json.loads((tmp_path / "manifest.json").read_text())["columns"]
    assert "unsalted" in (tmp_path / "README.txt").read_text()
