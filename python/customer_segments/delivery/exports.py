"""Customer lists per segment for email and ad tools, read from the published database.

One CSV and one parquet file per segment (and, on request, one of all segments), plus README.txt and
manifest.json saying what the files hold. Each row: the customer id, the segment, the as-of date, RFM
facts, money to two decimals, and the prediction layer's purchases, spend, churn risk and CLV where it
publishes them (absent, with the reason in both README.txt and manifest.json, where it does not). What
is the same for every customer of a segment (label, suggested actions) and of the whole export (what
the ids are, the horizons) is in manifest.json, not on the rows. Two safety rules:

- CSV text cells that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``,
  tab or carriage return; a product description or country in the source can carry one) get a leading
  apostrophe, the OWASP-recommended neutralisation. Parquet keeps the values as they are: typed
  columns are not evaluated by anything.
- Customer ids are pseudonymised with HMAC-SHA256 when the env var ``SEGMENTS_EXPORT_HMAC_KEY`` holds
  a key; the hash is computed here in Python, never in dbt, so the key cannot reach compiled SQL,
  target/ or dbt's logs, and it is never printed. Without a key the id column is called
  ``customer_id_raw`` and every file says plainly that ids are raw.

When a campaign is set (var campaign_name, table campaign_groups), every row carries its campaign
group, the segment files (and the file of all segments) hold the treatment group only, and the control
group goes to one file of its own, so a control customer is never in a send list. The lists need only
the core tables (customer_segments, customer_rfm; campaign_groups when built), never a prediction model.
When the shop's customer ids are text (var customer_id_kind ``key``: `c1025`, a UUID), each row also
carries the shop's own id (``customer_key``, table customer_identities) beside the customer number the
build made from it, unless the ids are pseudonymised (the key would undo the pseudonym). When they are
e-mail addresses, the files carry each address's normalised SHA-256 (``email_sha256``), never the address.

Usage::

    SEGMENTS_EXPORT_HMAC_KEY=... python -m customer_segments.delivery.exports \\
        [--db customer_segments.duckdb] [--out exports] [--all-in-one]
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import sys
from pathlib import Path

import duckdb
import pandas as pd

from customer_segments.delivery.published import connect_published, run_reader_cli

KEY_ENV = "SEGMENTS_EXPORT_HMAC_KEY"
#: Shorter keys make the pseudonyms guessable by brute force over the small space of customer numbers.
MIN_KEY_BYTES = 32
DEFAULT_OUT = Path("exports")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

RAW_ID_STATEMENT = ("Customer ids in these files are RAW customer numbers, not pseudonymised. "
                    f"Set {KEY_ENV} to a secret of at least {MIN_KEY_BYTES} bytes to export HMAC-SHA256 pseudonyms.")
PSEUDONYM_STATEMENT = ("Customer ids in these files are HMAC-SHA256 pseudonyms of the customer number "
                       f"(64 hex characters), keyed by the secret in {KEY_ENV}; the same key gives the same pseudonym.")

#: What each column of the files holds (manifest.json repeats it for the columns a run writes).
COLUMNS = {
    "customer_pseudonym": f"HMAC-SHA256 pseudonym of the customer number (64 hex characters), keyed by {KEY_ENV}",
    "customer_id_raw": "the customer number as the build read it: raw, not pseudonymised",
    "customer_key": ("the shop's own customer id, as in its export (trimmed): the customer number is made from it "
                     "(manifest.json customer_id_kind)"),
    "email_sha256": ("SHA-256 (64 lower-case hex characters) of the e-mail address trimmed and lower-cased, as "
                     "Google Customer Match and Meta Custom Audiences take hashed e-mails; blank without an address"),
    "segment_id": "segment number (manifest.json: its label and suggested actions)",
    "segment_name": "segment name",
    "as_of_date": "the build's as-of date: recency, predictions and churn risk are as of this day",
    "country": "the customer's country",
    "rfm_segment": "classic RFM segment (table customer_rfm)",
    "first_purchase_date": "day of the first purchase",
    "last_purchase_date": "day of the last purchase",
    "recency_days": "days from the last purchase to the as-of date",
    "orders": "purchase invoices",
    "net_spend": "net spend after cancellations (the shop's currency, two decimals)",
    "avg_order_value": "net spend per order (two decimals)",
    "predicted_purchases_next_horizon": ("expected purchase invoices in the horizon after the as-of date "
                                         "(manifest.json predictions: horizon_days and the method)"),
    "predicted_spend_next_horizon": "expected net spend in that horizon (two decimals)",
    "churn_risk": ("1 - probability alive (BG/NBD) at the as-of date, only when the churn gate publishes it; blank "
                   "for a customer without a repeat purchase"),
    "clv": "customer lifetime value: expected net spend over the CLV horizon, discounted (manifest.json predictions)",
    "campaign": "the campaign (var campaign_name)",
    "campaign_group": "treatment: in a send list; control: held out to measure the campaign, never to be contacted",
}

#: What a marketer gets per customer: money to two decimals (half away from zero, in both files; the exact
#: decimals stay in the published file), dates as dates. {extra} adds predictions and e-mail when there.
EXPORT_SQL = """
    select
        customer_segments.customer_id,
        customer_segments.segment_id,
        customer_segments.segment_name,
        customer_rfm.as_of_date,
        customer_rfm.country,
        customer_rfm.rfm_segment,
        cast(customer_rfm.first_purchase_at as date) as first_purchase_date,
        cast(customer_rfm.last_purchase_at as date) as last_purchase_date,
        customer_rfm.recency_days,
        customer_rfm.frequency as orders,
        round(customer_rfm.monetary, 2) as net_spend,
        round(customer_rfm.avg_order_value, 2) as avg_order_value,{extra}
        campaign_groups.campaign,
        campaign_groups.campaign_group
    from customer_segments
    inner join customer_rfm
        on customer_segments.customer_id = customer_rfm.customer_id
    left join {campaign_groups} as campaign_groups
        on customer_segments.customer_id = campaign_groups.customer_id{identity_join}{forecast_join}
    order by customer_segments.segment_id, customer_rfm.monetary desc, customer_segments.customer_id
"""
#: Churn risk keeps a third decimal: most customers of the real data are below 0.02, and two decimals would tie them.
CHURN_DECIMALS = 3
#: The prediction layer's per-customer table, and what the exports take from it.
FORECAST_TABLE = "customer_purchase_forecast"
FORECAST_JOIN = f"""
    left join {FORECAST_TABLE} as forecast
        on customer_segments.customer_id = forecast.customer_id"""
PREDICTION_SQL = {
    "predicted_purchases_next_horizon": "round(forecast.expected_purchases, 2)",
    "predicted_spend_next_horizon": "round(forecast.expected_spend, 2)",
    "churn_risk": f"round(1 - forecast.probability_alive, {CHURN_DECIMALS})",
    "clv": "round(forecast.clv, 2)",
}
#: The shop's own ids (one row per customer number) and the e-mail column the exports hash when it holds
#: addresses (a build whose customer column holds e-mails); KEY_COLUMN, the shop's id, when its ids are text.
EMAIL_TABLE, EMAIL_COLUMN, KEY_COLUMN = "customer_identities", "email", "customer_key"
IDENTITY_JOIN = f"""
    left join {EMAIL_TABLE} as identities
        on customer_segments.customer_id = identities.customer_id"""
#: What the customer numbers are, by build_input.customer_id_kind (manifest.json and README.txt say it).
CUSTOMER_ID_KINDS = {
    "number": "the shop's own customer numbers",
    "key": "made from the shop's own text ids (column customer_key) by a stable 60-bit hash",
    "email": "made from the customers' e-mail addresses (trimmed, lower-cased) by a stable 60-bit hash; "
             "the addresses are not in these files, only their SHA-256 (email_sha256)",
}
#: Stands in for table campaign_groups in a database built without it: no campaign, every customer sent.
NO_CAMPAIGN_GROUPS = ("(select cast(null as bigint) as customer_id, cast(null as varchar) as campaign, "
                      "cast(null as varchar) as campaign_group where false)")
#: The campaign's control group: held out of every send list, kept in one file to measure the campaign by.
CONTROL_STEM = "campaign_control_group"


#: The file of every segment's send list (--all-in-one).
ALL_SEGMENTS_STEM = "all_segments"
DATE_COLUMNS = ("as_of_date", "first_purchase_date", "last_purchase_date")


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells starting with a formula trigger get a leading apostrophe.

    Only text columns change: numbers (a negative amount is not an injection) stay numbers.
    """
    safe = frame.copy()
    for column in safe.columns:
        if pd.api.types.is_string_dtype(safe[column]) or safe[column].dtype == object:
            safe[column] = safe[column].map(
                lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_PREFIXES) else v)
    return safe


def pseudonymise(customer_ids: pd.Series, key: bytes) -> pd.Series:
    """HMAC-SHA256 of each id's decimal text, as 64 lower-case hex characters.

    Raises
    ------
    ValueError
        When the key is shorter than :data:`MIN_KEY_BYTES` (the message never shows the key).
    """
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"{KEY_ENV} must hold at least {MIN_KEY_BYTES} bytes (it has {len(key)})")
    return customer_ids.map(lambda cid: hmac.new(key, str(int(cid)).encode(), hashlib.sha256).hexdigest())


def normalise_email(address: object) -> str | None:
    """An e-mail address as Google Customer Match and Meta Custom Audiences hash it: leading and trailing
    whitespace removed, lower-cased; None for a missing or blank address.

    Nothing else is rewritten: removing the dots of a gmail.com address is Google's rule for enhanced
    conversions (Campaign Manager 360), not part of a Customer Match or Custom Audience upload.
    """
    if not isinstance(address, str):
        return None
    return address.strip().lower() or None


def hash_emails(addresses: pd.Series) -> pd.Series:
    """SHA-256 of each normalised address (UTF-8), 64 lower-case hex characters; None without an address."""
    normal = [normalise_email(address) for address in addresses]
    return pd.Series([None if a is None else hashlib.sha256(a.encode("utf-8")).hexdigest() for a in normal],
                     index=addresses.index, dtype=object)


def file_stem(segment_id: int, segment_name: str) -> str:
    """``segment_01_champions``: sortable and safe on every file system."""
    slug = re.sub(r"[^a-z0-9]+", "_", segment_name.lower()).strip("_") or "segment"
    return f"segment_{segment_id:02d}_{slug}"


def prepare(customers: pd.DataFrame, key: bytes | None) -> tuple[pd.DataFrame, str]:
    """Customer rows with the id replaced by a pseudonym (key given; the shop's own id dropped) or renamed
    ``customer_id_raw``, an e-mail column replaced by its hash, and the statement about ids to ship with them."""
    out = customers.copy()
    if "email" in out.columns:
        out.insert(1, "email_sha256", hash_emails(out.pop("email")))
    if key:
        out = out.drop(columns=[KEY_COLUMN], errors="ignore")
        out.insert(0, "customer_pseudonym", pseudonymise(out.pop("customer_id"), key))
        return out, PSEUDONYM_STATEMENT
    out = out.rename(columns={"customer_id": "customer_id_raw"})
    if KEY_COLUMN in out.columns:
        out.insert(1, KEY_COLUMN, out.pop(KEY_COLUMN))
    return out, RAW_ID_STATEMENT


def tidy(rows: pd.DataFrame) -> pd.DataFrame:
    """Dates as dates (parquet date32, CSV YYYY-MM-DD) and no negative zero from rounding (``-0.00``)."""
    out = rows.copy()
    for column in DATE_COLUMNS:
        out[column] = pd.to_datetime(out[column]).dt.date
    for column in out.select_dtypes("float").columns:
        out[column] = out[column] + 0.0
    return out


#: The predictions the exports take, as README.txt names them (manifest.json: key -> its account).
PREDICTION_NAMES = {"purchases_and_spend": "predicted purchases and spend", "churn_risk": "churn risk", "clv": "CLV"}


def _absent(reason: str) -> dict:
    return {"included": False, "reason": reason}


def describe_predictions(con: duckdb.DuckDBPyConnection, tables: set[str]) -> tuple[list[str], dict]:
    """The prediction columns the files get, and manifest.json's account of each prediction: its columns,
    horizon and method when the prediction layer publishes it, else why it is absent."""
    parts = tuple(PREDICTION_NAMES)
    if FORECAST_TABLE not in tables:
        return [], dict.fromkeys(parts, _absent(
            f"table {FORECAST_TABLE} is not in this database: the prediction layer was not built (a full dbt build makes it)"))
    notes = dict(con.execute("select note, detail from build_notes where model = ?", [FORECAST_TABLE]).fetchall()
                 if "build_notes" in tables else [])
    rows, alive, clv, horizon, method = con.execute(
        f"select count(*), count(probability_alive), count(clv), max(horizon_days), max(method) from {FORECAST_TABLE}"
    ).fetchone()
    if rows == 0:
        return [], dict.fromkeys(parts, _absent(f"{FORECAST_TABLE} is empty: {notes.get('skipped', 'no method chosen')}"))
    settings = dict(con.execute("select name, value from build_settings where name in "
                                "('clv_horizon_days', 'clv_annual_discount_rate')").fetchall()
                    if "build_settings" in tables else [])
    account = {
        "purchases_and_spend": {"included": True, "columns": list(PREDICTION_SQL)[:2], "horizon_days": int(horizon),
                                "method": method, "source": f"{FORECAST_TABLE}.expected_purchases, expected_spend"},
        "churn_risk": ({"included": True, "columns": ["churn_risk"], "customers_with_a_value": int(alive),
                        "source": f"1 - {FORECAST_TABLE}.probability_alive (published through the churn gate)"}
                       if alive else _absent(notes.get("probability_alive absent",
                                                       "probability_alive is NULL for every customer"))),
        "clv": ({"included": True, "columns": ["clv"], "source": f"{FORECAST_TABLE}.clv",
                 "horizon_days": int(settings["clv_horizon_days"]) if "clv_horizon_days" in settings else None,
                 "annual_discount_rate": (float(settings["clv_annual_discount_rate"])
                                          if "clv_annual_discount_rate" in settings else None)}
                if clv else _absent("clv is NULL for every customer")),
    }
    return [c for part in account.values() if part["included"] for c in part["columns"]], account


def customer_id_kind(con: duckdb.DuckDBPyConnection, tables: set[str]) -> str:
    """What the build's customer numbers are (build_input.customer_id_kind); 'number' for a file built
    before the column existed, when every customer column was read as numbers."""
    has_kind = "build_input" in tables and con.execute(
        "select count(*) from information_schema.columns where table_schema = 'main' and table_name = 'build_input' "
        "and column_name = 'customer_id_kind'").fetchone()[0]
    return str(con.execute("select customer_id_kind from build_input").fetchone()[0]) if has_kind else "number"


def identity_columns(con: duckdb.DuckDBPyConnection, tables: set[str], kind: str) -> list[str]:
    """The columns the rows take from table customer_identities: the shop's id when its ids are text keys,
    the e-mail (hashed by :func:`prepare`) when the table holds addresses."""
    if EMAIL_TABLE not in tables:
        return []
    emails = con.execute(f"select count({EMAIL_COLUMN}) from {EMAIL_TABLE}").fetchone()[0]
    return [column for column, wanted in ((KEY_COLUMN, kind == "key"), (EMAIL_COLUMN, emails > 0)) if wanted]


def read_customers(db_path: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict, str]:
    """The export's rows, each segment's constants (label, suggested actions), the predictions' account and
    what the customer numbers are (build_input.customer_id_kind)."""
    with connect_published(db_path) as con:
        tables = {name for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main'").fetchall()}
        predictions, account = describe_predictions(con, tables)
        kind = customer_id_kind(con, tables)
        identities = identity_columns(con, tables, kind)
        extra = "".join(f"\n        {PREDICTION_SQL[c]} as {c}," for c in predictions)
        extra += "".join(f"\n        identities.{column} as {column}," for column in identities)
        customers = con.execute(EXPORT_SQL.format(
            extra=extra, campaign_groups="campaign_groups" if "campaign_groups" in tables else NO_CAMPAIGN_GROUPS,
            identity_join=IDENTITY_JOIN if identities else "", forecast_join=FORECAST_JOIN if predictions else "")).df()
        segments = con.execute("select segment_id, min(segment_label) as segment_label, min(suggested_actions) as "
                               "suggested_actions from customer_segments group by segment_id").df()
    return customers, segments.set_index("segment_id"), account, kind


def _write(rows: pd.DataFrame, out_dir: Path, stem: str) -> list[Path]:
    """``stem``.csv (formulas neutralised, decimals written with two places, churn risk three) and
    ``stem``.parquet (typed)."""
    rows = rows.reset_index(drop=True)
    rows.to_parquet(out_dir / f"{stem}.parquet", index=False)
    text = neutralise_formulas(rows)
    if "churn_risk" in text.columns:
        text["churn_risk"] = text["churn_risk"].map(lambda v: "" if pd.isna(v) else f"{v:.{CHURN_DECIMALS}f}")
    text.to_csv(out_dir / f"{stem}.csv", index=False, lineterminator="\r\n", float_format="%.2f")
    return [out_dir / f"{stem}.csv", out_dir / f"{stem}.parquet"]


def _readme(statement: str, source: str, campaign: str | None, control: int, account: dict, all_in_one: bool,
            hashed_email: bool, kind: str) -> str:
    held_out = ("" if campaign is None else
                f" Campaign {campaign!r}: the segment files are its send lists (treatment group only); its control "
                f"group ({control} customers, held out to measure the campaign) is in {CONTROL_STEM}.csv and "
                "must not be contacted.")
    together = (f" {ALL_SEGMENTS_STEM}.csv holds every segment's send list in one file (column segment_name says "
                "which)." if all_in_one else "")
    email = (" email_sha256 is the SHA-256 of the trimmed, lower-cased e-mail address, the hashed form Google "
             "Customer Match and Meta Custom Audiences take: unsalted, so anyone holding an address can match it."
             if hashed_email else "")
    absent = "".join(f"\n- {PREDICTION_NAMES[part]}: {value['reason']}" for part, value in account.items()
                     if not value["included"])
    statement += f" The customer numbers are {CUSTOMER_ID_KINDS[kind]}."
    return (f"{statement}\n\nOne CSV and one parquet file per segment, from {source}.{together}{held_out}{email} "
            "Segment labels, suggested actions, what each column holds and the predictions' horizons are in "
            "manifest.json. Money is rounded to two decimals, churn risk to three. CSV text cells starting with "
            "= + - @ tab or carriage return carry a leading apostrophe so that spreadsheets do not run them as "
            "formulas.\n"
            + (f"\nNot in these files, and why:{absent}\n" if absent else ""))


def write_exports(db_path: Path, out_dir: Path, key: bytes | None, all_in_one: bool = False) -> list[Path]:
    """Write one CSV and one parquet per segment (and of all segments when ``all_in_one``), the control
    group's when a campaign is set, README.txt and manifest.json; return the paths."""
    db_path, out_dir = Path(db_path), Path(out_dir)
    customers, constants, account, kind = read_customers(db_path)
    rows, statement = prepare(customers, key)
    rows = tidy(rows)
    campaign = rows["campaign"].dropna().iloc[0] if rows["campaign"].notna().any() else None
    if campaign is None:
        rows = rows.drop(columns=["campaign", "campaign_group"])
    held_out = rows["campaign_group"].eq("control") if campaign is not None else pd.Series(False, index=rows.index)
    control, send = rows[held_out], rows[~held_out]
    out_dir.mkdir(parents=True, exist_ok=True)
    # Files of segments that no longer exist, or of an earlier campaign or run, must not linger next to the new ones.
    for old in [*out_dir.glob("segment_*.*"), *out_dir.glob(f"{CONTROL_STEM}.*"), *out_dir.glob(f"{ALL_SEGMENTS_STEM}.*")]:
        old.unlink()
    written, manifest = [], []
    if campaign is not None:
        written += _write(control, out_dir, CONTROL_STEM)
    for (segment_id, segment_name), segment in send.groupby(["segment_id", "segment_name"], sort=True):
        files = _write(segment, out_dir, file_stem(int(segment_id), str(segment_name)))
        written += files
        manifest.append({"segment_id": int(segment_id), "segment_name": str(segment_name),
                         "segment_label": str(constants.loc[segment_id, "segment_label"]),
                         "suggested_actions": str(constants.loc[segment_id, "suggested_actions"]),
                         "customers": len(segment), "files": [path.name for path in files]})
    if all_in_one:
        written += _write(send, out_dir, ALL_SEGMENTS_STEM)
    as_of = sorted({d.isoformat() for d in rows["as_of_date"]})
    (out_dir / "manifest.json").write_text(json.dumps(
        {"source": db_path.name, "as_of_date": as_of[0] if len(as_of) == 1 else None, "ids": statement,
         "id_kind": "hmac-sha256 pseudonym" if key else "raw customer number",
         "customer_id_kind": kind, "customer_numbers": CUSTOMER_ID_KINDS[kind],
         "campaign": campaign, "control_customers": len(control) if campaign is not None else None,
         "predictions": account, "columns": {column: COLUMNS[column] for column in rows.columns},
         "segments": manifest,
         "all_segments": ({"customers": len(send), "files": [f"{ALL_SEGMENTS_STEM}.csv", f"{ALL_SEGMENTS_STEM}.parquet"]}
                          if all_in_one else None)}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / "README.txt").write_text(_readme(statement, db_path.name, campaign, len(control), account, all_in_one,
                                                "email_sha256" in rows.columns, kind), encoding="utf-8")
    return [*written, out_dir / "manifest.json", out_dir / "README.txt"]


def main(argv: list[str] | None = None) -> int:
    key = os.environ.get(KEY_ENV, "").encode() or None

    def export(db: Path, out: Path, all_in_one: bool) -> str:
        paths = write_exports(db, out, key, all_in_one=all_in_one)
        return f"{len(paths)} files written to {out}: {'pseudonymised' if key else 'RAW'} customer ids"

    return run_reader_cli(f"Customer lists per segment (CSV and parquet). Set {KEY_ENV} to pseudonymise "
                          "customer ids with HMAC-SHA256.", DEFAULT_OUT, export, argv,
                          flags={"--all-in-one": f"also write {ALL_SEGMENTS_STEM}.csv/.parquet: every segment's "
                                                 "send list in one file"})


if __name__ == "__main__":
    sys.exit(main())
