"""What changed between builds of the working file, from table segment_id_history: one line per
segment whose id was kept while its name changed, so that a dashboard filtering on a name, or a list
exported under it, is not silently re-labelled by a publish.
"""

from __future__ import annotations

import duckdb

#: The latest build's segments whose kept id had another name in the build before.
RENAMED_SQL = """
    select segment_id, previous_segment_name, segment_name, centroid_shift
    from segment_id_history
    where build_started_at = (select max(build_started_at) from segment_id_history)
        and previous_segment_name is not null
        and previous_segment_name != segment_name
    order by segment_id
"""


def renamed_segments(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str, str, float | None]]:
    """(segment_id, name before, name now, centroid shift) of each renamed segment of the latest build;
    [] for a file without segment_id_history (built by an older version or without the segments)."""
    tables = {name for (name,) in con.execute(
        "select table_name from information_schema.tables where table_schema = 'main'").fetchall()}
    if "segment_id_history" not in tables:
        return []
    return [(int(sid), str(before), str(now), shift) for sid, before, now, shift in con.execute(RENAMED_SQL).fetchall()]


def renamed_segment_lines(path: str) -> list[str]:
    """One line per renamed segment of the DuckDB file at ``path`` (read-only), e.g.
    ``segment 2 renamed under its kept id: 'Regulars' -> 'Loyal regulars' (centroid moved 0.120)``."""
    with duckdb.connect(path, read_only=True) as con:
        renamed = renamed_segments(con)
    return [f"segment {sid} renamed under its kept id: {before!r} -> {now!r}"
            + ("" if shift is None else f" (centroid moved {shift:.3f})")
            for sid, before, now, shift in renamed]
