"""Campaign exports: per-segment lists from the published file, formula injection neutralised in CSV,
ids pseudonymised with HMAC-SHA256 (key never written anywhere) or plainly marked raw."""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from conftest import ROOT
from customer_segments.delivery.exports import RAW_ID_STATEMENT, neutralise_formulas, pseudonymise

KEY = "campaign-secret-" + "s" * 24
#: Country values planted in the published file, as a source file could carry them.
HOSTILE = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]


def run_exports(db: Path, out: Path, key: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SEGMENTS_EXPORT_HMAC_KEY"}
    if key is not None:
        env["SEGMENTS_EXPORT_HMAC_KEY"] = key
    return subprocess.run([sys.executable, "-m", "customer_segments.delivery.exports", "--db", str(db), "--out", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def read_csvs(out: Path) -> pd.DataFrame:
    # Every cell as text, exactly as a spreadsheet would receive it.
    return pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in sorted(out.glob("*.csv"))],
                     ignore_index=True)


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
def test_one_list_per_segment_with_name_and_actions(published_build, tmp_path):
    result = run_exports(published_build.db_path, tmp_path)
    assert result.returncode == 0, result.stderr
    profiles = published_build.query(
        "select segment_id, segment_name, suggested_actions, customers from segment_profiles order by 1")
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [(s["segment_id"], s["segment_name"], s["suggested_actions"], s["customers"])
            for s in manifest["segments"]] == profiles
    for segment in manifest["segments"]:
        csv_rows = pd.read_csv(tmp_path / segment["files"][0])
        parquet_rows = pd.read_parquet(tmp_path / segment["files"][1])
        assert len(csv_rows) == len(parquet_rows) == segment["customers"]
        assert set(csv_rows.segment_name) == {segment["segment_name"]}
        assert set(csv_rows.suggested_actions) == {segment["suggested_actions"]}
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
    rows = read_csvs(tmp_path)
    assert "customer_id_raw" in rows.columns and set(rows.id_kind) == {"raw customer number"}


@pytest.mark.dbt
def test_csv_cells_that_could_run_as_formulas_are_neutralised(hostile_db, tmp_path):
    db, planted = hostile_db
    assert run_exports(db, tmp_path).returncode == 0
    rows = read_csvs(tmp_path).set_index("customer_id_raw")
    for customer_id, value in planted.items():
        assert rows.loc[str(customer_id), "country"] == "'" + value
    # The raw CSV text: no cell starts with a trigger once quoting is undone.
    for path in tmp_path.glob("*.csv"):
        with open(path, newline="", encoding="utf-8") as handle:
            for record in csv.reader(handle):
                assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in record), record
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
    assert "customer_id_raw" not in rows.columns and set(rows.id_kind) == {"hmac-sha256 pseudonym"}
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
