"""Per-segment customer lists for email and ad tools, read from the published database.

One CSV and one parquet file per segment, plus README.txt and manifest.json saying what the files
hold. Two safety rules:

- CSV text cells that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``,
  tab or carriage return; a product description or country in the source can carry one) get a leading
  apostrophe, the OWASP-recommended neutralisation. Parquet keeps the values as they are: typed
  columns are not evaluated by anything.
- Customer ids are pseudonymised with HMAC-SHA256 when the env var ``SEGMENTS_EXPORT_HMAC_KEY`` holds
  a key; the hash is computed here in Python, never in dbt, so the key cannot reach compiled SQL,
  target/ or dbt's logs, and it is never printed. Without a key the id column is called
  ``customer_id_raw`` and every file says plainly that ids are raw.

When a campaign is set (var campaign_name, table campaign_groups), every row carries its campaign
group, the segment files hold the treatment group only, and the control group goes to one file of its
own, so a control customer is never in a send list. The lists need only the core tables
(customer_segments, customer_rfm; campaign_groups when built), never a prediction model.

Usage::

    SEGMENTS_EXPORT_HMAC_KEY=... python -m customer_segments.delivery.exports [--db customer_segments.duckdb] [--out exports]
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import sys
from pathlib import Path

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

#: What a marketer gets per customer (money in £, dates as dates).
EXPORT_SQL = """
    select
        customer_segments.customer_id,
        customer_segments.segment_id,
        customer_segments.segment_name,
        customer_segments.suggested_actions,
        customer_rfm.country,
        customer_rfm.rfm_segment,
        cast(customer_rfm.first_purchase_at as date) as first_purchase_date,
        cast(customer_rfm.last_purchase_at as date) as last_purchase_date,
        customer_rfm.recency_days,
        customer_rfm.frequency as orders,
        customer_rfm.monetary as net_spend,
        customer_rfm.avg_order_value,
        campaign_groups.campaign,
        campaign_groups.campaign_group
    from customer_segments
    inner join customer_rfm
        on customer_segments.customer_id = customer_rfm.customer_id
    left join {campaign_groups} as campaign_groups
        on customer_segments.customer_id = campaign_groups.customer_id
    order by customer_segments.segment_id, customer_rfm.monetary desc, customer_segments.customer_id
"""
#: Stands in for table campaign_groups in a database built without it: no campaign, every customer sent.
NO_CAMPAIGN_GROUPS = ("(select cast(null as bigint) as customer_id, cast(null as varchar) as campaign, "
                      "cast(null as varchar) as campaign_group where false)")
#: The campaign's control group: held out of every send list, kept in one file to measure the campaign by.
CONTROL_STEM = "campaign_control_group"


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


def file_stem(segment_id: int, segment_name: str) -> str:
    """``segment_01_champions``: sortable and safe on every file system."""
    slug = re.sub(r"[^a-z0-9]+", "_", segment_name.lower()).strip("_") or "segment"
    return f"segment_{segment_id:02d}_{slug}"


def prepare(customers: pd.DataFrame, key: bytes | None) -> tuple[pd.DataFrame, str]:
    """Customer rows with the id replaced by a pseudonym (key given) or renamed ``customer_id_raw``,
    and the statement about ids to ship with them."""
    out = customers.copy()
    if key:
        out.insert(0, "customer_pseudonym", pseudonymise(out.pop("customer_id"), key))
        return out, PSEUDONYM_STATEMENT
    out = out.rename(columns={"customer_id": "customer_id_raw"})
    return out, RAW_ID_STATEMENT


def write_exports(db_path: Path, out_dir: Path, key: bytes | None) -> list[Path]:
    """Write one CSV and one parquet per segment, README.txt and manifest.json; return the paths."""
    db_path, out_dir = Path(db_path), Path(out_dir)
    with connect_published(db_path) as con:
        tables = {name for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main'").fetchall()}
        groups = "campaign_groups" if "campaign_groups" in tables else NO_CAMPAIGN_GROUPS
        customers = con.execute(EXPORT_SQL.format(campaign_groups=groups)).df()
    rows, statement = prepare(customers, key)
    rows.insert(1, "id_kind", "hmac-sha256 pseudonym" if key else "raw customer number")
    campaign = rows["campaign"].dropna().iloc[0] if rows["campaign"].notna().any() else None
    if campaign is None:
        rows = rows.drop(columns=["campaign", "campaign_group"])
    held_out = rows["campaign_group"].eq("control") if campaign is not None else pd.Series(False, index=rows.index)
    control, send = rows[held_out], rows[~held_out]
    out_dir.mkdir(parents=True, exist_ok=True)
    # Files of segments that no longer exist, or of an earlier campaign, must not linger next to the new ones.
    for old in [*out_dir.glob("segment_*.*"), *out_dir.glob(f"{CONTROL_STEM}.*")]:
        old.unlink()
    written, manifest = [], []
    if campaign is not None:
        control = control.reset_index(drop=True)
        control.to_parquet(out_dir / f"{CONTROL_STEM}.parquet", index=False)
        neutralise_formulas(control).to_csv(out_dir / f"{CONTROL_STEM}.csv", index=False, lineterminator="\r\n")
        written += [out_dir / f"{CONTROL_STEM}.csv", out_dir / f"{CONTROL_STEM}.parquet"]
    for (segment_id, segment_name), segment in send.groupby(["segment_id", "segment_name"], sort=True):
        stem = file_stem(int(segment_id), str(segment_name))
        segment = segment.reset_index(drop=True)
        segment.to_parquet(out_dir / f"{stem}.parquet", index=False)
        neutralise_formulas(segment).to_csv(out_dir / f"{stem}.csv", index=False, lineterminator="\r\n")
        written += [out_dir / f"{stem}.csv", out_dir / f"{stem}.parquet"]
        manifest.append({"segment_id": int(segment_id), "segment_name": str(segment_name),
                         "suggested_actions": str(segment.suggested_actions.iloc[0]),
                         "customers": len(segment), "files": [f"{stem}.csv", f"{stem}.parquet"]})
    (out_dir / "manifest.json").write_text(json.dumps(
        {"source": db_path.name, "ids": statement, "id_kind": rows.id_kind.iloc[0] if len(rows) else None,
         "campaign": campaign, "control_customers": len(control) if campaign is not None else None,
         "segments": manifest}, indent=2) + "\n", encoding="utf-8")
    held_out = ("" if campaign is None else
                f" Campaign {campaign!r}: the segment files are its send lists (treatment group only); its control "
                f"group ({len(control)} customers, held out to measure the campaign) is in {CONTROL_STEM}.csv and "
                "must not be contacted.")
    (out_dir / "README.txt").write_text(
        f"{statement}\n\nOne CSV and one parquet file per segment, from {db_path.name}.{held_out} CSV text cells "
        "starting with = + - @ tab or carriage return carry a leading apostrophe so that spreadsheets do not run "
        "them as formulas.\n", encoding="utf-8")
    return [*written, out_dir / "manifest.json", out_dir / "README.txt"]


def main(argv: list[str] | None = None) -> int:
    key = os.environ.get(KEY_ENV, "").encode() or None

    def export(db: Path, out: Path) -> str:
        paths = write_exports(db, out, key)
        return f"{len(paths)} files written to {out}: {'pseudonymised' if key else 'RAW'} customer ids"

    return run_reader_cli(f"Per-segment customer lists (CSV and parquet). Set {KEY_ENV} to pseudonymise "
                          "customer ids with HMAC-SHA256.", DEFAULT_OUT, export, argv)


if __name__ == "__main__":
    sys.exit(main())
