"""The single-query DuckDB pass the build is measured against (issue 18), for the benchmark only.

One SQL query over the parquet file: drop cancellations, lines without a customer and non-positive
quantities or prices, remove exact duplicate lines, and compute RFM per customer (recency in days
from the day after the last invoice, distinct invoices, spend); then the K-means k scan of
benchmarks.k_scan. It nets nothing, checks nothing and writes nothing: the floor a full build is
compared with. `python -m benchmarks.duckdb_reference FILE.parquet` prints customers, spend and the
chosen k with its segment sizes.
"""

from __future__ import annotations

import sys

import duckdb

from benchmarks.k_scan import k_scan

RFM_QUERY = """
with lines as (
    select distinct InvoiceNo, StockCode, Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country
    from read_parquet($path)
    where CustomerID is not null
      and not starts_with(upper(InvoiceNo), 'C')
      and Quantity > 0
      and UnitPrice > 0
),

as_of as (
    select cast(max(InvoiceDate) as date) + 1 as as_of_date from lines
)

select
    lines.CustomerID as customer_id,
    date_diff('day', cast(max(lines.InvoiceDate) as date), any_value(as_of.as_of_date)) as recency_days,
    count(distinct lines.InvoiceNo) as frequency,
    sum(lines.Quantity * lines.UnitPrice) as monetary
from lines
cross join as_of
group by lines.CustomerID
order by lines.CustomerID
"""


def main(argv: list[str] | None = None) -> int:
    path = (argv or sys.argv[1:])[0]
    customers = duckdb.connect().execute(RFM_QUERY, {"path": path}).df()
    k, sizes = k_scan(customers)
    print(f"customers={len(customers)} monetary={customers['monetary'].sum():.2f} k={k} segments={sizes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
