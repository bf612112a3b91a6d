"""The published database: atomic publication after a passing build only, readers never blocked, and
readable by the drivers BI tools use (SQLAlchemy through duckdb-engine, DuckDB 1.x)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import sqlalchemy

from conftest import ROOT
from customer_segments.publish import PublishError, publish

pytestmark = pytest.mark.dbt

MARTS = ("customer_rfm", "customer_segments", "segment_profiles", "customer_orders")
HMAC_KEY = "k3y-that-must-never-leak-" + "x" * 16

#: Holds the published file open read-only: prints its customer count, waits for a line on stdin,
#: then counts again on the same connection (its snapshot) and exits.
READER = textwrap.dedent("""
    import sys, duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    print(con.execute("select count(*) from customer_segments").fetchone()[0], flush=True)
    sys.stdin.readline()
    print(con.execute("select count(*) from customer_segments").fetchone()[0], flush=True)
""")


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_publish(work: Path, published: Path, data: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m customer_segments.publish` as a user runs it: dbt build into a working file, then publish."""
    return subprocess.run(
        [sys.executable, "-m", "customer_segments.publish", "--working", str(work / "working.duckdb"),
         "--published", str(published), "--project-dir", str(ROOT),
         "--vars", f'{{"transactions_path": "{data}"}}',
         "--target-path", str(work / "target"), "--log-path", str(work / "logs")],
        cwd=ROOT, env={**os.environ, "DO_NOT_TRACK": "1", **(env or {})},
        capture_output=True, text=True, timeout=900)


@pytest.fixture()
def served(published_build, tmp_path) -> Path:
    """A private published file, as the last good build left it."""
    path = tmp_path / "served" / "customer_segments.duckdb"
    path.parent.mkdir()
    shutil.copyfile(published_build.db_path, path)
    return path


def test_reader_holding_the_file_neither_blocks_the_build_nor_loses_its_snapshot(served, generated_data, tmp_path):
    # New data so that the new build differs from the published one: two thirds of the customers.
    lines = pd.read_parquet(generated_data["invoice_lines"])
    customers = lines["CustomerID"].dropna().unique()
    smaller = tmp_path / "smaller.parquet"
    lines[~lines["CustomerID"].isin(customers[::3])].to_parquet(smaller)
    with duckdb.connect(str(served), read_only=True) as con:
        old_count = con.execute("select count(*) from customer_segments").fetchone()[0]

    reader = subprocess.Popen([sys.executable, "-c", READER, str(served)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert int(reader.stdout.readline()) == old_count
        # The key is in the environment of the whole build: it must reach no log, target/ or compiled SQL.
        result = run_publish(tmp_path, served, smaller, env={"SEGMENTS_EXPORT_HMAC_KEY": HMAC_KEY})
        assert reader.poll() is None, "the reader should still hold the file open"
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
        assert f"published {tmp_path / 'working.duckdb'} -> {served}" in result.stdout
        # The connected reader keeps its consistent snapshot...
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert int(reader.stdout.readline()) == old_count
    finally:
        reader.kill()
        reader.wait()
    # ...and new connections see the new build.
    with duckdb.connect(str(served), read_only=True) as con:
        new_count = con.execute("select count(*) from customer_segments").fetchone()[0]
    assert 0 < new_count < old_count
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and HMAC_KEY.encode() in p.read_bytes()]
    assert leaked == [] and HMAC_KEY not in result.stdout + result.stderr


def test_failed_build_leaves_the_published_file_byte_for_byte(served, generated_data, tmp_path):
    before, inode = sha256(served), served.stat().st_ino
    broken = tmp_path / "no_customer.parquet"
    pd.read_parquet(generated_data["invoice_lines"]).drop(columns=["CustomerID"]).to_parquet(broken)
    result = run_publish(tmp_path, served, broken)
    assert result.returncode != 0
    assert f"{served} left as it was" in result.stderr
    assert sha256(served) == before and served.stat().st_ino == inode
    assert [p.name for p in served.parent.iterdir()] == [served.name], "no temporary file left behind"


def test_publish_refuses_a_published_file_someone_wrote_to(served, published_build, tmp_path):
    Path(f"{served}.wal").write_bytes(b"")
    before = sha256(served)
    with pytest.raises(PublishError, match=r"\.wal exists: a process opened the published file read-write"):
        publish(published_build.db_path, served)
    assert sha256(served) == before
    with pytest.raises(PublishError, match="working database not found"):
        publish(tmp_path / "missing.duckdb", tmp_path / "out.duckdb")


def test_sqlalchemy_through_duckdb_engine_reads_the_published_file_read_only(published_build):
    segmented = published_build.scalar("select count(*) from customer_segments")
    # The URI Superset takes: duckdb:///<path> with read_only in the engine parameters.
    engine = sqlalchemy.create_engine(f"duckdb:///{published_build.db_path}", connect_args={"read_only": True})
    try:
        tables = set(sqlalchemy.inspect(engine).get_table_names())
        assert set(MARTS) <= tables
        with engine.connect() as con:
            rows = con.execute(sqlalchemy.text(
                "select segment_id, segment_name, customers from segment_profiles order by segment_id")).fetchall()
            assert [r.segment_id for r in rows] == [1, 2, 3, 4]
            assert sum(r.customers for r in rows) == segmented
            with pytest.raises(sqlalchemy.exc.DBAPIError, match="read-only"):
                con.execute(sqlalchemy.text("create table intruder as select 1 as x"))
    finally:
        engine.dispose()


def test_published_file_opens_with_the_duckdb_1x_reader(published_build):
    duckdb1 = Path(os.environ.get("SEGMENTS_DUCKDB1_DIR", ROOT / ".venv" / "duckdb1"))
    assert duckdb1.exists(), f"DuckDB 1.x reader not installed at {duckdb1}: run `make setup`"
    marts = ", ".join(repr(m) for m in MARTS)
    script = textwrap.dedent(f"""
        import duckdb
        assert duckdb.__version__.startswith('1.'), duckdb.__version__
        con = duckdb.connect({str(published_build.db_path)!r}, read_only=True)
        for mart in ({marts}):
            print(mart, con.execute(f'select count(*) from {{mart}}').fetchone()[0])
    """)
    result = subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(duckdb1)},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    counts = dict(line.split() for line in result.stdout.splitlines())
    assert counts == {m: str(published_build.scalar(f"select count(*) from {m}")) for m in MARTS}
