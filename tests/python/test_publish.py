"""The published database: a fresh file of one whole passing build, published atomically under a lock,
with the served file's mode and owner; readers never blocked, never facing a stale log; and readable by
the drivers BI tools use (SQLAlchemy through duckdb-engine, DuckDB 1.x)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import sqlalchemy

from conftest import ROOT, background_build, build_generated, built, generated_paths, publish_generated
from customer_segments.delivery.dbt_process import completed_relations, dbt_database_name
from customer_segments.delivery.file_replacement import PublishError, lock_path, publish, publish_build

pytestmark = pytest.mark.dbt

MARTS = ("customer_rfm", "customer_segments", "segment_profiles", "customer_orders")
WORKING_NAME = "customer_segments.build.duckdb"
HMAC_KEY = "k3y-that-must-never-leak-" + "x" * 16
#: A table an earlier build of a since-renamed model left in the working file.
STALE_TABLE = "segment_summary_renamed_since"
STALE_MARKER = "STALE-RELATION-OF-AN-EARLIER-BUILD"
#: The names build A's segments are given in the working file's segment_id_history, so that every id
#: that build B keeps changes its name.
EARLIER_NAME = "Earlier name of "
#: Products whose lines the second build's input leaves out: their names exist only in the first build.
DROPPED_PRODUCTS = 40
SERVED_MODE = 0o600
SERVED_OWNER = (4242, 4343)

#: A BI tool's process holding the published file open read-only, through DuckDB or through an
#: SQLAlchemy pool (duckdb-engine, as Superset uses it; its connections carry their own configuration, and
#: DuckDB refuses plain connections to the same file next to them, so each kind runs in its own process).
#: Prints its count, waits for a line on stdin, then prints what each way of reading sees (JSON).
READER = textwrap.dedent("""
    import json, sys, duckdb, sqlalchemy
    from sqlalchemy.pool import NullPool
    kind, path, count = sys.argv[1], sys.argv[2], "select count(*) from customer_segments"
    def engine(**options):
        return sqlalchemy.create_engine(f"duckdb:///{path}", connect_args={"read_only": True}, **options)
    def pooled(engine):
        with engine.connect() as c:
            return c.execute(sqlalchemy.text(count)).scalar()
    if kind == "duckdb":
        con = duckdb.connect(path, read_only=True)
        print(con.execute(count).fetchone()[0], flush=True)
        sys.stdin.readline()
        seen = {"open_connection": con.execute(count).fetchone()[0]}
        again = duckdb.connect(path, read_only=True)          # while `con` is open
        seen["new_connection_while_one_is_open"] = again.execute(count).fetchone()[0]
        con.close()
        third = duckdb.connect(path, read_only=True)          # `again` still open
        seen["new_connection_after_the_first_closed"] = third.execute(count).fetchone()[0]
        again.close()
        third.close()
        with duckdb.connect(path, read_only=True) as fresh:   # the last connection to the old file is closed
            seen["new_connection_after_all_closed"] = fresh.execute(count).fetchone()[0]
    else:
        pool = engine()
        print(pooled(pool), flush=True)                       # the connection goes back to the pool, open
        sys.stdin.readline()
        seen = {"pooled_connection": pooled(pool)}
        with pool.connect() as busy:                          # a second pool connection, the first one busy
            seen["second_pool_connection"] = pooled(pool)
        pool.dispose()
        seen["after_dispose"] = pooled(pool)
        pool.dispose()
        seen["nullpool_connection"] = pooled(engine(poolclass=NullPool))
    print(json.dumps(seen), flush=True)
""")


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def publish_command(work: Path, published: Path, data: Path, *extra: str) -> list[str]:
    # Named like the default working file: dbt-duckdb names its database after the part before the first dot.
    return [sys.executable, "-m", "customer_segments.delivery.publish", "--working", str(work / WORKING_NAME),
            "--published", str(published), "--project-dir", str(ROOT),
            "--vars", f'{{"transactions_path": "{data}"}}',
            "--target-path", str(work / "target"), "--log-path", str(work / "logs"), *extra]


def run_publish(work: Path, published: Path, data: Path, *extra: str, env: dict | None = None,
                ) -> subprocess.CompletedProcess:
    """`python -m customer_segments.delivery.publish` as a user runs it: dbt build into a working file, then publish."""
    return subprocess.run(publish_command(work, published, data, *extra), cwd=ROOT,
                          env={**os.environ, "DO_NOT_TRACK": "1", **(env or {})},
                          capture_output=True, text=True, timeout=900)


def dbt_processes(target: Path) -> list[str]:
    """Command lines of the live `dbt build` processes writing to ``target``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        publisher = any(b"customer_segments.delivery.publish" in arg for arg in args)
        if b"build" in args and str(target).encode() in args and not publisher:
            found.append(b" ".join(args).decode(errors="replace"))
    return found


@pytest.fixture()
def served(published_build, tmp_path) -> Path:
    """A private published file, as the last good build left it."""
    path = tmp_path / "served" / "customer_segments.duckdb"
    path.parent.mkdir()
    shutil.copyfile(published_build.db_path, path)
    return path


@pytest.fixture(scope="module")
def republished(generated_build, published_build, generated_data, tmp_path_factory) -> dict:
    return built(republish, tmp_path_factory)


@background_build("republished")
def republish(tmp_path_factory) -> dict:
    """Build B into the working file build A (the session build) left, with a reader holding the served
    file open, and publish; the served file was mode 0600 with its own owner. Build A's segments carry
    other names in the working file's segment_id_history (EARLIER_NAME).

    B's input has nine tenths of A's customers (a continuation of A's history: ids are kept) and
    none of the lines of DROPPED_PRODUCTS products, so
    those product names are A's alone; the working file also holds a table no model of the project
    makes any more (a model renamed since build A).
    """
    generated_build, published_build = built(build_generated, tmp_path_factory), built(publish_generated, tmp_path_factory)
    generated_data = generated_paths(tmp_path_factory)
    work = tmp_path_factory.mktemp("republish")
    working = work / WORKING_NAME
    shutil.copyfile(generated_build.db_path, working)
    with duckdb.connect(str(working)) as con:
        con.execute(f"create table {STALE_TABLE} as select '{STALE_MARKER}' as note")
        con.execute(f"update segment_id_history set segment_name = '{EARLIER_NAME}' || segment_name")
    served = work / "served" / "customer_segments.duckdb"
    served.parent.mkdir()
    shutil.copyfile(published_build.db_path, served)
    os.chmod(served, SERVED_MODE)
    if os.geteuid() == 0:
        os.chown(served, *SERVED_OWNER)
    before = served.stat()

    lines = pd.read_parquet(generated_data["invoice_lines"])
    customers = lines["CustomerID"].dropna().unique()
    kept = lines[~lines["CustomerID"].isin(customers[::10])]
    codes = sorted(kept["StockCode"].unique())[::7]
    dropped_lines = kept["StockCode"].isin(codes)
    others = set(kept.loc[~dropped_lines, "Description"].dropna())
    # Names of A alone: not the name, or part of the name, of any product left in B.
    unique_to_a = sorted(d for d in set(kept.loc[dropped_lines, "Description"].dropna())
                         if len(d) >= 12 and not any(d in other for other in others))[:DROPPED_PRODUCTS]
    smaller = work / "smaller.parquet"
    kept[~dropped_lines].to_parquet(smaller)
    with duckdb.connect(str(served), read_only=True) as con:
        old_count = con.execute("select count(*) from customer_segments").fetchone()[0]
    working_bytes_before = working.read_bytes()

    readers = {kind: subprocess.Popen([sys.executable, "-c", READER, kind, str(served)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True) for kind in ("duckdb", "sqlalchemy")}
    try:
        first = [int(reader.stdout.readline()) for reader in readers.values()]
        # The key is in the environment of the whole build: it must reach no log, target/ or compiled SQL.
        result = run_publish(work, served, smaller, env={"SEGMENTS_EXPORT_HMAC_KEY": HMAC_KEY})
        reader_alive = all(reader.poll() is None for reader in readers.values())
        seen = {}
        for reader in readers.values():
            reader.stdin.write("\n")
            reader.stdin.flush()
            seen.update(json.loads(reader.stdout.readline()))
    finally:
        for reader in readers.values():
            reader.kill()
            reader.wait()
    return {"work": work, "working": working, "served": served, "result": result, "before": before,
            "old_count": old_count, "first": first, "reader_alive": reader_alive,
            "seen": seen, "unique_to_a": unique_to_a, "working_bytes_before": working_bytes_before}


def test_reader_holding_the_file_neither_blocks_the_build_nor_loses_its_snapshot(republished):
    result, old = republished["result"], republished["old_count"]
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert republished["reader_alive"], "the reader should have held the file open through the publish"
    assert republished["first"] == [old, old]
    assert stat.S_IMODE(republished["working"].stat().st_mode) == 0o600, "the working file is the owner's only"
    assert republished["seen"]["open_connection"] == old
    with duckdb.connect(str(republished["served"]), read_only=True) as con:
        new_count = con.execute("select count(*) from customer_segments").fetchone()[0]
    assert 0 < new_count < old
    work = republished["work"]
    leaked = [p for p in work.rglob("*") if p.is_file() and HMAC_KEY.encode() in p.read_bytes()]
    assert leaked == [] and HMAC_KEY not in result.stdout + result.stderr


def test_a_process_sees_the_new_build_only_once_all_its_connections_to_the_file_are_closed(republished):
    seen, old = republished["seen"], republished["old_count"]
    with duckdb.connect(str(republished["served"]), read_only=True) as con:
        new = con.execute("select count(*) from customer_segments").fetchone()[0]
    assert new != old
    # DuckDB's instance cache: a connect() to a path the process already has open joins that (old) database.
    assert seen == {"open_connection": old, "new_connection_while_one_is_open": old,
                    "new_connection_after_the_first_closed": old, "new_connection_after_all_closed": new,
                    "pooled_connection": old, "second_pool_connection": old, "after_dispose": new,
                    "nullpool_connection": new}


def test_publish_output_opens_with_what_the_build_read(republished):
    result = republished["result"]
    assert result.returncode == 0, result.stderr[-4000:]
    smaller = republished["work"] / "smaller.parquet"
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("input: "))
    with duckdb.connect(str(republished["served"]), read_only=True) as con:
        input_lines = con.execute("select sum(input_lines) from line_accounting").fetchone()[0]
        first, last, as_of = con.execute("select first_invoice_date, last_invoice_date, as_of_date from build_dates").fetchone()
    assert lines[start] == f"input: {smaller} ({smaller.stat().st_size:,} bytes, {input_lines:,} lines)"
    assert lines[start + 1] == f"invoice dates: {first} to {last}; as-of date {as_of} (derived from the data)"
    assert lines[start + 2].startswith("column mapping: Country -> country, CustomerID -> customer_id")
    assert lines[start + 3] == f"vars not at their default: transactions_path={smaller}"
    assert lines[start + 4].startswith("project version ")
    assert lines[start + 5].startswith(f"published {republished['working']} -> ")


def test_publish_prints_each_segment_renamed_under_its_kept_id(republished):
    result = republished["result"]
    assert result.returncode == 0, result.stderr[-4000:]
    with duckdb.connect(str(republished["served"]), read_only=True) as con:
        builds = con.execute("select count(distinct build_started_at) from segment_id_history").fetchone()[0]
        kept = con.execute("""
            select segment_id, previous_segment_name, segment_name, centroid_shift from segment_id_history
            where build_started_at = (select max(build_started_at) from segment_id_history)
                and id_source like 'kept%' order by segment_id""").fetchall()
    # Both builds of the working file are in the published history; B keeps ids of A's segments.
    assert builds == 2 and kept
    renamed = [line for line in result.stdout.splitlines() if " renamed under its kept id: " in line]
    assert renamed == [f"segment {sid} renamed under its kept id: {before!r} -> {name!r} (centroid moved {shift:.3f})"
                       for sid, before, name, shift in kept]
    assert all(before.startswith(EARLIER_NAME) for _, before, _, _ in kept)
    # Printed after what the build read and what was published.
    assert result.stdout.splitlines()[-len(renamed):] == renamed


def test_published_file_is_fresh_and_holds_only_the_current_build(republished):
    assert republished["result"].returncode == 0, republished["result"].stderr[-4000:]
    served, working = republished["served"], republished["working"]
    names = [name.encode() for name in republished["unique_to_a"]]
    assert len(names) == DROPPED_PRODUCTS
    # The names are findable in a file's bytes: build A's file holds every one of them...
    assert all(name in republished["working_bytes_before"] for name in names)
    # ...the working file reused for build B still holds some in its free blocks...
    assert any(name in working.read_bytes() for name in names)
    # ...and the published file none.
    served_bytes = served.read_bytes()
    assert [n for n in names if n in served_bytes] == []
    assert STALE_MARKER.encode() not in served_bytes
    relations = completed_relations(republished["work"] / "target", working)
    with duckdb.connect(str(served), read_only=True) as con:
        published = con.execute("select table_name from duckdb_tables() union all "
                                "select view_name from duckdb_views() where not internal").fetchall()
        free_blocks = con.execute("select free_blocks from pragma_database_size()").fetchone()[0]
        # The view reads the published file's own tables, the same rows as in the working file.
        netted = con.execute("select count(*), sum(net_value) from int_invoice_lines_netted").fetchone()
        storage = con.execute("select tags['storage_version'] from duckdb_databases() "
                              "where database_name = current_database()").fetchone()[0]
    assert sorted(name for (name,) in published) == sorted(r.name for r in relations)
    assert STALE_TABLE not in {name for (name,) in published}
    assert free_blocks == 0 and served.stat().st_size < working.stat().st_size
    with duckdb.connect(str(working), read_only=True) as con:
        assert con.execute("select count(*), sum(net_value) from int_invoice_lines_netted").fetchone() == netted
    assert storage.startswith("v1.3.0")


def test_publish_keeps_the_mode_and_owner_of_the_file_it_replaces(republished):
    info, before = republished["served"].stat(), republished["before"]
    assert info.st_ino != before.st_ino, "a new file replaced the served one"
    assert oct(info.st_mode & 0o7777) == oct(SERVED_MODE)
    assert (info.st_uid, info.st_gid) == (before.st_uid, before.st_gid)
    out = republished["result"].stdout
    assert f"published {republished['working']} -> {republished['served']}: {info.st_size:,} bytes" in out
    assert "mode 0600" in out and "tables: " in out and "customer_segments" in out


@pytest.mark.parametrize("umask, mode", [(0o022, 0o640), (0o077, 0o600)])
def test_first_publish_is_0640_within_the_umask(generated_build, tmp_path, umask, mode):
    # A temporary directory a killed publisher left (SIGKILL cannot be caught) goes at the next publish.
    (tmp_path / "served").mkdir()
    leftover = tmp_path / "served" / ".customer_segments.duckdb.publishing.killed"
    leftover.mkdir()
    (leftover / "customer_segments.duckdb").write_bytes(b"half a copy")
    previous = os.umask(umask)
    try:
        published = publish(generated_build.db_path, tmp_path / "served" / "customer_segments.duckdb")
    finally:
        os.umask(previous)
    assert oct(published.stat().st_mode & 0o7777) == oct(mode)
    assert sorted(p.name for p in published.parent.iterdir()) == [published.name, lock_path(published).name]


def test_failed_build_leaves_the_published_file_byte_for_byte(served, generated_data, tmp_path):
    before, inode = sha256(served), served.stat().st_ino
    broken = tmp_path / "no_customer.parquet"
    pd.read_parquet(generated_data["invoice_lines"]).drop(columns=["CustomerID"]).to_parquet(broken)
    result = run_publish(tmp_path, served, broken)
    assert result.returncode != 0
    assert f"{served} left as it was" in result.stderr
    assert sha256(served) == before and served.stat().st_ino == inode
    assert sorted(p.name for p in served.parent.iterdir()) == [served.name, lock_path(served).name], \
        "no temporary file left behind"
    # The working file dbt created holds every customer's data: the owner's only, whatever the umask.
    assert stat.S_IMODE((tmp_path / WORKING_NAME).stat().st_mode) == 0o600


def test_a_killed_publisher_takes_dbt_with_it(served, generated_data, tmp_path):
    """SIGKILL cannot be forwarded: dbt is told by the kernel (parent-death signal) and stops, so no build
    goes on writing the working file once the lock is released."""
    before = sha256(served)
    publisher = subprocess.Popen(publish_command(tmp_path, served, generated_data["invoice_lines"]), cwd=ROOT,
                                 env={**os.environ, "DO_NOT_TRACK": "1"}, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
    try:
        assert publisher.stdout.readline(), "dbt printed nothing"
        assert dbt_processes(tmp_path / "target"), "dbt should be running"
        publisher.kill()
        publisher.wait(timeout=60)
    finally:
        publisher.kill()
        publisher.communicate()
    deadline = time.monotonic() + 60
    while dbt_processes(tmp_path / "target") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert dbt_processes(tmp_path / "target") == [], "dbt still runs after its publisher was killed"
    assert sha256(served) == before


def test_a_symlinked_published_path_replaces_the_file_it_points_to(published_build, generated_build, tmp_path):
    target = tmp_path / "real" / "customer_segments.duckdb"
    target.parent.mkdir()
    shutil.copyfile(published_build.db_path, target)
    link = tmp_path / "customer_segments.duckdb"
    link.symlink_to(target)
    inode = target.stat().st_ino
    working = tmp_path / "working.duckdb"
    shutil.copyfile(generated_build.db_path, working)
    result = publish_build(working, link)
    assert link.is_symlink() and link.resolve() == target.resolve() == result.path
    assert target.stat().st_ino != inode, "the link's target is the file replaced"
    assert lock_path(target).exists() and not lock_path(link).exists()
    with duckdb.connect(str(link), read_only=True) as con:
        assert con.execute("select count(*) from customer_segments").fetchone()[0] > 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_dbt_removes_temporary_files_and_leaves_the_served_file(served, generated_data, tmp_path,
                                                                               signum):
    before, inode = sha256(served), served.stat().st_ino
    publisher = subprocess.Popen(publish_command(tmp_path, served, generated_data["invoice_lines"]), cwd=ROOT,
                                 env={**os.environ, "DO_NOT_TRACK": "1"}, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
    try:
        assert publisher.stdout.readline(), "dbt printed nothing"   # dbt runs
        assert dbt_processes(tmp_path / "target"), "dbt should be running"
        publisher.send_signal(signum)
        assert publisher.wait(timeout=120) == 128 + signum
    finally:
        publisher.kill()
        stderr = publisher.communicate()[1]
    assert f"interrupted by {signum.name}: dbt stopped, {served} left as it was" in stderr
    deadline = time.monotonic() + 10   # reparented processes vanish once reaped
    while dbt_processes(tmp_path / "target") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert dbt_processes(tmp_path / "target") == [], "dbt still runs"
    assert sha256(served) == before and served.stat().st_ino == inode
    assert sorted(p.name for p in served.parent.iterdir()) == [served.name, lock_path(served).name]


@pytest.mark.parametrize("dbt_args", [["--select", "customer_rfm"], ["-s", "customer_rfm"], ["-scustomer_rfm"],
                                      ["--exclude=segment_product_purchases+"], ["--models", "x"], ["--selector", "x"],
                                      ["--resource-type", "model"], ["--defer", "--state", "prod"], ["--empty"],
                                      ["--target", "published"]])
def test_partial_builds_are_refused_before_dbt_runs(served, generated_data, tmp_path, dbt_args):
    before = sha256(served)
    result = run_publish(tmp_path, served, generated_data["invoice_lines"], *dbt_args)
    option = dbt_args[0].split("=")[0]
    option = option if option.startswith("--") else option[:2]
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: dbt option {option} refused: only a build of every model")
    assert len(result.stderr.splitlines()) == 1 and result.stdout == ""
    assert not (tmp_path / "target").exists() and sha256(served) == before


def test_only_results_where_every_node_of_the_project_passed_are_published(generated_build, tmp_path):
    target = generated_build.db_path.parent / "target"
    relations = completed_relations(target, generated_build.db_path)
    assert {"customer_segments", "segment_profiles", "segment_playbook"} <= {r.name for r in relations}
    assert [r.name for r in relations if r.is_view] == ["int_invoice_lines_netted"]
    manifest = json.loads((target / "manifest.json").read_text())
    results = json.loads((target / "run_results.json").read_text())

    def refused(edit) -> str:
        edited = json.loads(json.dumps(results))
        edit(edited)
        (tmp_path / "manifest.json").write_text(json.dumps(manifest))
        (tmp_path / "run_results.json").write_text(json.dumps(edited))
        with pytest.raises(PublishError) as error:
            completed_relations(tmp_path, generated_build.db_path)
        return str(error.value)

    a_test = next(i for i, r in enumerate(results["results"]) if r["unique_id"].startswith("test."))
    assert "did not run and pass" in refused(lambda r: r["results"].pop(a_test))
    assert "(fail)" in refused(lambda r: r["results"][a_test].update(status="fail"))
    # The first result is the on-run-start hook (refuse_unknown_vars); a model's is what must pass.
    a_model = next(i for i, r in enumerate(results["results"]) if r["unique_id"].startswith("model."))
    assert "(skipped)" in refused(lambda r: r["results"][a_model].update(status="skipped"))
    assert "run with select" in refused(lambda r: r["args"].update(select=["customer_rfm"]))
    assert "different dbt runs" in refused(lambda r: r["metadata"].update(invocation_id="another"))
    with pytest.raises(PublishError, match="not the working file"):
        completed_relations(target, tmp_path / "other.duckdb")
    with pytest.raises(PublishError, match="no results of this build"):
        completed_relations(target, generated_build.db_path, since=time.time() + 60)


def test_a_second_publisher_waits_for_the_lock_or_exits_with_no_wait(served, published_build, generated_data,
                                                                     tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from customer_segments.delivery.file_replacement import publish_lock\n"
         f"with publish_lock({str(served)!r}):\n    print('locked', flush=True); sys.stdin.readline()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        result = run_publish(tmp_path, served, generated_data["invoice_lines"], "--no-wait")
        assert result.returncode == 2
        assert result.stderr == (f"error: another publish of {served} is running (pid {holder.pid}, lock "
                                 f"{lock_path(served)}); nothing published\n")
        assert not (tmp_path / "target").exists(), "dbt must not run without the lock"
        waiter = subprocess.Popen(
            [sys.executable, "-c", "import sys; from customer_segments.delivery.file_replacement import publish\n"
             f"publish({str(published_build.db_path)!r}, {str(served)!r}); print('published')"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert waiter.stderr.readline() == f"waiting for another publish of {served} (pid {holder.pid}, lock " \
                                           f"{lock_path(served)})\n"
        inode = served.stat().st_ino
        time.sleep(0.5)
        assert waiter.poll() is None and served.stat().st_ino == inode, "the waiter must not publish yet"
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert waiter.communicate(timeout=120)[0] == "published\n" and waiter.returncode == 0
        assert served.stat().st_ino != inode
    finally:
        holder.kill()
        holder.wait()


def test_publish_refuses_a_served_file_open_read_write_or_with_a_log(served, published_build, tmp_path):
    before = sha256(served)
    writer = subprocess.Popen(
        [sys.executable, "-c", "import sys, duckdb\n"
         f"con = duckdb.connect({str(served)!r}); print('open', flush=True); sys.stdin.readline()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "open"
        with pytest.raises(PublishError, match=rf"is open read-write by .*python.* \(PID {writer.pid}\)"):
            publish(published_build.db_path, served)
    finally:
        writer.kill()
        writer.wait()
    assert sha256(served) == before
    assert sorted(p.name for p in served.parent.iterdir()) == [served.name, lock_path(served).name]

    Path(f"{served}.wal").write_bytes(b"")
    with pytest.raises(PublishError, match=r"\.wal exists: a process opened the published file read-write"):
        publish(published_build.db_path, served)
    assert sha256(served) == before
    with pytest.raises(PublishError, match="working database not found"):
        publish(tmp_path / "missing.duckdb", tmp_path / "out.duckdb")


def test_publish_refuses_the_working_file_as_published_file(published_build, tmp_path, generated_data):
    link = tmp_path / "link.duckdb"
    link.symlink_to(published_build.db_path)
    with pytest.raises(PublishError, match="SEGMENTS_DB and SEGMENTS_PUBLISHED are the same file"):
        publish_build(link, published_build.db_path)
    result = subprocess.run(
        [sys.executable, "-m", "customer_segments.delivery.publish", "--project-dir", str(ROOT)], cwd=tmp_path,
        env={**os.environ, "SEGMENTS_DB": str(link), "SEGMENTS_PUBLISHED": str(published_build.db_path)},
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "SEGMENTS_DB and SEGMENTS_PUBLISHED are the same file" in result.stderr



@pytest.mark.parametrize("name, value", [("SEGMENTS_MEMORY_LIMIT", "3GB'; drop table customer_rfm; --"),
                                         ("SEGMENTS_STORAGE_VERSION", "v1.3.0' (select 1)")])
def test_publish_refuses_a_hostile_env_var_before_dbt_runs(served, tmp_path, name, value):
    before = sha256(served)
    result = subprocess.run(
        [sys.executable, "-m", "customer_segments.delivery.publish", "--project-dir", str(ROOT),
         "--working", str(tmp_path / "working.duckdb"), "--published", str(served)],
        cwd=tmp_path, env={**os.environ, name: value}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(f"error: env var {name} must be")
    assert sha256(served) == before and not (tmp_path / "working.duckdb").exists()

# read_sql_table asks for indexes too; DuckDB has none to reflect, which the driver says on every call.
@pytest.mark.filterwarnings("ignore:duckdb-engine doesn't yet support reflection on indices")
def test_sqlalchemy_through_duckdb_engine_reads_the_published_file_read_only(published_build):
    segmented = published_build.scalar("select count(*) from customer_segments")
    # Read before the engine opens the file: one process cannot also open it with another configuration.
    rfm_columns = [name for (name,) in published_build.query(
        "select column_name from information_schema.columns where table_name = 'customer_rfm' order by ordinal_position")]
    profiles_rows = published_build.scalar("select count(*) from segment_profiles")
    # The URI Superset takes: duckdb:///<path> with read_only in the engine parameters.
    engine = sqlalchemy.create_engine(f"duckdb:///{published_build.db_path}", connect_args={"read_only": True})
    try:
        tables = set(sqlalchemy.inspect(engine).get_table_names())
        assert set(MARTS) <= tables
        # Column reflection: what Superset does to add a dataset, and pandas.read_sql_table.
        columns = [column["name"] for column in sqlalchemy.inspect(engine).get_columns("customer_rfm")]
        assert columns == rfm_columns
        assert len(pd.read_sql_table("segment_profiles", engine)) == profiles_rows
        with engine.connect() as con:
            rows = con.execute(sqlalchemy.text(
                "select segment_id, segment_name, customers from segment_profiles order by segment_id")).fetchall()
            assert [r.segment_id for r in rows] == [1, 2, 3, 4]
            assert sum(r.customers for r in rows) == segmented
            with pytest.raises(sqlalchemy.exc.DBAPIError, match="read-only"):
                con.execute(sqlalchemy.text("create table intruder as select 1 as x"))
    finally:
        engine.dispose()


def duckdb1(script: str) -> subprocess.CompletedProcess:
    path = Path(os.environ.get("SEGMENTS_DUCKDB1_DIR", ROOT / ".venv" / "duckdb1"))
    assert path.exists(), f"DuckDB 1.x reader not installed at {path}: run `make setup`"
    script = "import duckdb\nassert duckdb.__version__.startswith('1.'), duckdb.__version__\n" + script
    return subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(path)},
                          capture_output=True, text=True, timeout=120)


def test_published_file_opens_with_the_duckdb_1x_reader(published_build):
    marts = ", ".join(repr(m) for m in MARTS)
    result = duckdb1(textwrap.dedent(f"""
        con = duckdb.connect({str(published_build.db_path)!r}, read_only=True)
        for mart in ({marts}):
            print(mart, con.execute(f'select count(*) from {{mart}}').fetchone()[0])
    """))
    assert result.returncode == 0, result.stderr
    counts = dict(line.split() for line in result.stdout.splitlines())
    assert counts == {m: str(published_build.scalar(f"select count(*) from {m}")) for m in MARTS}


def test_published_view_reads_with_the_duckdb_1x_reader(published_build):
    result = duckdb1(f"con = duckdb.connect({str(published_build.db_path)!r}, read_only=True)\n"
                     "print(con.execute('select count(*) from int_invoice_lines_netted').fetchone()[0])")
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == published_build.scalar("select count(*) from int_invoice_lines_netted")


def test_the_working_files_database_is_named_as_dbt_duckdb_names_it():
    assert dbt_database_name(Path("customer_segments.build.duckdb")) == "customer_segments"
    assert dbt_database_name(Path("/x/.hidden.duckdb")) == "hidden"
    assert dbt_database_name(Path("working.duckdb")) == "working"
