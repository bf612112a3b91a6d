"""Parquet files: the file's own columns as typed, each row numbered in file order."""

from __future__ import annotations

import duckdb

from customer_segments.ingest.columns import READER_PREFIX
from customer_segments.ingest.errors import InputError


def parquet_source(con: duckdb.DuckDBPyConnection, path: str) -> tuple[str, dict]:
    """A SQL `from` clause reading the parquet file with the reader's source columns, and its parameters."""
    try:
        columns = [row[0].lower() for row in
                   con.execute("describe select * from read_parquet($path)", {"path": path}).fetchall()]
    except duckdb.Error as exc:
        raise InputError(f"{path}: cannot be read as parquet: {exc}") from None
    row = f"{READER_PREFIX}row"
    if "file_row_number" in columns:
        # DuckDB cannot add its own file_row_number beside the file's: number the rows in reading order.
        numbered = f"(select *, row_number() over () - 1 as {row} from read_parquet($path))"
    else:
        numbered = (f"(select * exclude (file_row_number), file_row_number as {row} "
                    "from read_parquet($path, file_row_number = true))")
    # file_row_number is 0-based; line numbers are 1-based like an editor's.
    source = (
        f"(select * exclude ({row}), $path as {READER_PREFIX}source_name, "
        f"{row} + 1 as {READER_PREFIX}source_line_number, {row} + 1 as {READER_PREFIX}source_row_id "
        f"from {numbered})"
    )
    return source, {"path": path}
