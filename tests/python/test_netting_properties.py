"""Property tests of the real netting SQL, and proof that a quote in a var cannot change a query.

`dbt compile` runs once per session; each hypothesis example then executes the compiled SQL of
int_cancellation_lines_matched and int_invoice_lines_netted (the models' own SQL, on real DuckDB)
against an in-memory table holding the example's lines, and compares it with a sequential reference
(one event at a time).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import background_build, built, run_dbt
from netting_reference import Event, event_order, sequential_matches

# Every test here runs on the SQL of one `dbt compile`.
pytestmark = pytest.mark.dbt

#: A marker holding a quote and a comment start: pasted raw into SQL it would break the query.
QUOTED_MARKER = "X'--"
CATALOG = "compiled"  # dbt names the database after the DuckDB file: compiled.duckdb
STG_COLUMNS = ("line_id bigint, invoice_no varchar, customer_id bigint, stock_code varchar, description varchar, "
               "country varchar, invoiced_at timestamp, quantity bigint, unit_price decimal(18,3), line_status varchar")


@pytest.fixture(scope="session")
def compiled_sql(tmp_path_factory) -> dict[str, str]:
    return built(compile_netting, tmp_path_factory)


@background_build("compiled_sql")
def compile_netting(tmp_path_factory) -> dict[str, str]:
    """The compiled SQL of the staging, matching and netting models (vars with a quote in the marker)."""
    work_dir = tmp_path_factory.mktemp("compile")
    result = run_dbt(
        ["compile", "--select", "stg_retail__invoice_lines", "int_cancellation_lines_matched", "int_invoice_lines_netted"],
        work_dir / f"{CATALOG}.duckdb",
        work_dir,
        {"transactions_path": "unused.parquet", "cancellation_marker": QUOTED_MARKER},
    )
    assert result.returncode == 0, result.stdout[-3000:]
    compiled = work_dir / "target" / "compiled" / "shop_segments" / "models"
    return {
        "staging": (compiled / "staging" / "stg_retail__invoice_lines.sql").read_text(),
        "matching": (compiled / "intermediate" / "int_cancellation_lines_matched.sql").read_text(),
        "netting": (compiled / "intermediate" / "int_invoice_lines_netted.sql").read_text(),
    }


def connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"attach ':memory:' as {CATALOG}")
    return con


# ---------------------------------------------------------------- netting properties

START = datetime(2011, 1, 1, 10, 0)

events = st.lists(
    st.tuples(
        st.sampled_from(["purchase", "cancellation"]),
        st.integers(min_value=1, max_value=12),   # units
        st.integers(min_value=0, max_value=6),    # minute: small, so equal timestamps are common
        st.integers(min_value=1, max_value=2),    # customer
        st.sampled_from(["A", "B"]),              # stock code
        st.sampled_from([Decimal("0.850"), Decimal("2.550"), Decimal("12.750")]),
        st.integers(min_value=1, max_value=3),    # invoice: few, so same-minute lines share one
        st.sampled_from([None, "MUG", "MUG RED"]),  # description
    ),
    min_size=1,
    max_size=25,
)


def as_rows(example: list[tuple]) -> list[tuple]:
    """Staged lines; the line id is the position in the example, as staging numbers a file's lines."""
    rows = []
    for line_id, (kind, units, minute, customer, code, price, invoice, description) in enumerate(example, start=1):
        quantity = units if kind == "purchase" else -units
        invoice_no = f"{'C' if kind == 'cancellation' else ''}5{invoice:05d}"
        rows.append((line_id, invoice_no, customer, code, description, None, START + timedelta(minutes=minute),
                     quantity, price, kind))
    return rows


def as_event(row: tuple) -> Event:
    line_id, invoice_no, customer, code, description, country, at, quantity, price, kind = row
    return Event(line_id, customer, code, at, quantity, kind == "cancellation", invoice_no, price, description, country)


def by_content(rows: list[tuple], netted: dict[int, tuple]) -> Counter:
    """Each line's content (all but its line id) with its results: lines equal in content are
    interchangeable, so this is what must not depend on the order of the rows."""
    return Counter((row[1:], netted[row[0]]) for row in rows)


#: One connection for the session's examples: each example replaces the input table.
_CON: list[duckdb.DuckDBPyConnection] = []


def run_netting(compiled: dict[str, str], rows: list[tuple]) -> dict[int, tuple]:
    if not _CON:
        _CON.append(connect())
    con = _CON[0]
    frame = pd.DataFrame(rows, columns=[c.split()[0] for c in STG_COLUMNS.split(", ")])
    con.register("example_lines", frame)
    casts = ", ".join(f"cast({name} as {kind}) as {name}"
                      for name, kind in (c.split(maxsplit=1) for c in STG_COLUMNS.split(", ")))
    # Staging's line value of a line-level file: quantity x unit price.
    con.execute(f"create or replace table {CATALOG}.main.stg_retail__invoice_lines as select {casts}, "
                "cast(quantity * unit_price as decimal(38, 3)) as line_value from example_lines")
    con.unregister("example_lines")
    con.execute(f"create or replace table {CATALOG}.main.int_cancellation_lines_matched as {compiled['matching']}")
    result = con.execute(
        "select line_id, matched_quantity, unmatched_quantity, gross_value, cancelled_value, net_value "
        f"from ({compiled['netting']})"
    ).fetchall()
    return {row[0]: row[1:] for row in result}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(example=events, data=st.data())
def test_netting_properties_hold_for_random_sequences(compiled_sql, example, data):
    rows = as_rows(example)
    netted = run_netting(compiled_sql, rows)
    expected = sequential_matches(as_event(r) for r in rows)
    by_id = {row[0]: row for row in rows}
    assert set(netted) == set(by_id)
    purchased = defaultdict(int)
    matched_so_far = defaultdict(int)
    for row in sorted(rows, key=lambda r: event_order(as_event(r))):
        line_id, key = row[0], (row[2], row[3])
        matched, unmatched, gross, cancelled, net = netted[line_id]
        # net = gross - matched value, on every line.
        assert net == gross - cancelled
        if row[9] == "purchase":
            purchased[key] += row[7]
            assert (matched, unmatched, cancelled) == (0, 0, 0) and gross == row[7] * row[8]
        else:
            assert matched == expected[line_id]
            assert matched + unmatched == -row[7] and matched >= 0 and unmatched >= 0
            assert cancelled == matched * row[8] and gross == 0
            matched_so_far[key] += matched
            # Never more cancelled than purchased so far.
            assert matched_so_far[key] <= purchased[key]
    # Row order of the input does not change any result: the same lines in another order, numbered by
    # their new position as staging would number them, net the same, line ids aside.
    reordered = [(line_id, *row[1:]) for line_id, row in enumerate(data.draw(st.permutations(rows)), start=1)]
    assert by_content(reordered, run_netting(compiled_sql, reordered)) == by_content(rows, netted)


# ---------------------------------------------------------------- vars never pasted raw

def test_a_quote_in_the_cancellation_marker_stays_inside_its_literal(compiled_sql):
    assert "'X''--'" in compiled_sql["staging"]
    con = connect()
    con.execute(f"create table {CATALOG}.main.non_merchandise_codes (stock_code varchar, match_type varchar)")
    con.execute(
        f"create table {CATALOG}.main.base_retail__invoice_lines as select * from (values "
        "(2, 'x''--1', 'A', 'MUG', -1, timestamp '2011-01-01 10:00', 2.5::decimal(18,3), null::decimal(18,3), 7, 'UK', null), "
        "(3, 'X1', 'A', 'MUG', -1, timestamp '2011-01-01 10:00', 2.5::decimal(18,3), null::decimal(18,3), 7, 'UK', null), "
        "(4, 'C1', 'A', 'MUG', -1, timestamp '2011-01-01 10:00', 2.5::decimal(18,3), null::decimal(18,3), 7, 'UK', null)"
        ") as t (source_row_id, invoice_no, stock_code, description, quantity, invoiced_at, unit_price, "
        "line_total, customer_id, country, parse_error)"
    )
    statuses = dict(con.execute(f"select invoice_no, line_status from ({compiled_sql['staging']})").fetchall())
    # The marker matches in any case and is shown upper-cased, as one spelling of the invoice number.
    assert statuses == {"X'--1": "cancellation", "X1": "stock_adjustment", "C1": "stock_adjustment"}
