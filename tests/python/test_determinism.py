"""Same input, same bytes: real `dbt build` runs compared table by table, and the thread pools of dbt's
Python models.

The input is the generated data set plus a few same-minute cancellations of one customer and code that
together ask for more than was bought, so which of them comes first decides how much each one matched
(the generated data has same-minute cancellations, but none where the order changes an outcome). It is
built twice: once as written, and once with the same lines in a random row order. Every table and view
of the two DuckDB files must hold the same rows, compared with `EXCEPT ALL` both ways, apart from the
columns that only say where a line sat in its file, and build_info's build start time and the input's
file size, which differ by design (BY_DESIGN_COLUMNS). The two builds also differ in everything that is
not the input (dbt's thread scheduling, the wall clock, and the hash seed: each runs as a process of
its own, not a child of the tests' dbt fork server), so a fit that drifts, a timing stored in a table or
an order that follows a set's hashing shows up as well.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from conftest import DBT, ROOT, Build, background_build, built, dbt_build, generated_paths

pytestmark = pytest.mark.dbt

#: Columns that hold a line's position in its input file, and so differ between the two row orders:
#: source_row_id (the reader's position over the whole input), source_line_number (the line within its
#: file or sheet, and the rejects' line) and line_id (the staged line's first copy's source_row_id).
#: No other column of the project is derived from file position.
POSITION_COLUMNS = frozenset({"line_id", "source_line_number", "source_row_id"})
#: Columns that differ between the two builds by design, by relation: build_info.build_started_at is
#: dbt's run_started_at (when the build started, not what it read), and build_info.input_file_bytes and
#: build_input.input_file_bytes are the size of the input file, which the shuffled copy writes
#: differently (same lines, another file); segment_id_history and customer_segment_assignments are keyed by
#: that same build start. Every other column of these tables is compared.
BY_DESIGN_COLUMNS = {"build_info": frozenset({"build_started_at", "input_file_bytes"}),
                     "build_input": frozenset({"input_file_bytes"}),
                     "segment_id_history": frozenset({"build_started_at"}),
                     "customer_segment_assignments": frozenset({"build_started_at"})}
#: Row order of the shuffled copy (any seed that reverses one of the planted pairs would do).
SHUFFLE_SEED = 7

PURCHASED_AT = datetime(2011, 6, 1, 10, 0)
CANCELLED_AT = datetime(2011, 6, 2, 11, 30)
#: Planted same-minute cases, one customer each (ids the generator never uses): what was bought, then
#: two cancellations of the same minute written to the file in the opposite of their content order,
#: and the units each of those two matches under the rule (in content order, first takes first).
#: (invoice, quantity, price, description) per cancellation; the purchase is of 5 units at 2.10.
SAME_MINUTE_CASES = {
    # By invoice number: C581002 first takes 3 of the 5; C581003 gets the remaining 2.
    99901: ([("C581003", -4, 2.10, "JUMBO BAG RED"), ("C581002", -3, 2.10, "JUMBO BAG RED")], [2, 3]),
    # One cancellation invoice, by quantity: -6 sorts first and takes all 5; -2 gets nothing.
    99902: ([("C581005", -2, 2.10, "JUMBO BAG RED"), ("C581005", -6, 2.10, "JUMBO BAG RED")], [0, 5]),
    # Same invoice and quantity, by price: the 1.25 line first takes 3; the 2.10 line gets 2.
    99903: ([("C581007", -3, 2.10, "JUMBO BAG RED"), ("C581007", -3, 1.25, "JUMBO BAG RED")], [2, 3]),
    # Equal but for the description: "JUMBO BAG" before "JUMBO BAG RED".
    99904: ([("C581009", -3, 2.10, "JUMBO BAG RED"), ("C581009", -3, 2.10, "JUMBO BAG")], [2, 3]),
}
PLANTED_CODE = "85099B"


def planted_lines() -> pd.DataFrame:
    rows = []
    for customer, (cancellations, _) in SAME_MINUTE_CASES.items():
        rows.append((f"58{customer - 99000:04d}", PLANTED_CODE, "JUMBO BAG RED", 5, PURCHASED_AT, 2.10, customer))
        rows += [(invoice, PLANTED_CODE, description, quantity, CANCELLED_AT, price, customer)
                 for invoice, quantity, price, description in cancellations]
    frame = pd.DataFrame(rows, columns=["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate",
                                        "UnitPrice", "CustomerID"])
    return frame.assign(CustomerID=frame["CustomerID"].astype("float64"), Country="United Kingdom")


@background_build("two_row_orders")
def build_two_row_orders(tmp_path_factory) -> tuple[Build, Build, pd.DataFrame]:
    """Builds of the same lines in file order and in a shuffled order, and the shuffled frame."""
    work = tmp_path_factory.mktemp("determinism")
    generated = pd.read_parquet(generated_paths(tmp_path_factory)["invoice_lines"])
    lines = pd.concat([generated, planted_lines().astype(generated.dtypes.to_dict())], ignore_index=True)
    shuffled = lines.sample(frac=1, random_state=SHUFFLE_SEED).reset_index(drop=True)
    # One path for both inputs, written in turn: the input's path is data too (source_name, build_settings).
    path = work / "invoice_lines.parquet"
    builds = []
    for name, frame in (("file_order", lines), ("shuffled", shuffled)):
        frame.to_parquet(path, index=False)
        build = dbt_build(work / name, path, fresh_process=True)
        assert build.returncode == 0, build.output[-5000:]
        builds.append(build)
    return builds[0], builds[1], shuffled


@pytest.fixture(scope="module")
def two_row_orders(tmp_path_factory, generated_data) -> tuple[Build, Build, pd.DataFrame]:
    return built(build_two_row_orders, tmp_path_factory)


def relations(db_path: Path) -> list[str]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        return [name for (name,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main' order by 1").fetchall()]


def differing_rows(first: Path, second: Path, relation: str) -> tuple[int, int]:
    """Rows of relation only in the first file and only in the second (EXCEPT ALL both ways), position
    columns and the relation's BY_DESIGN_COLUMNS aside."""
    with duckdb.connect() as con:
        con.execute(f"attach '{first}' as first_build (read_only)")
        con.execute(f"attach '{second}' as second_build (read_only)")
        columns = [name for (name,) in con.execute(
            "select column_name from information_schema.columns where table_catalog = 'first_build' "
            "and table_schema = 'main' and table_name = ? order by ordinal_position", [relation]).fetchall()]
        excluded = POSITION_COLUMNS | BY_DESIGN_COLUMNS.get(relation, frozenset())
        kept = ", ".join(f'"{name}"' for name in columns if name not in excluded)
        a = f"select {kept} from first_build.main.\"{relation}\""
        b = f"select {kept} from second_build.main.\"{relation}\""
        return (con.execute(f"select count(*) from ({a} except all {b})").fetchone()[0],
                con.execute(f"select count(*) from ({b} except all {a})").fetchone()[0])


def test_the_shuffled_file_reverses_a_planted_pair(two_row_orders):
    """Precondition: in one file or the other, a planted pair sits against its content order, so a
    tie-break on file position would give the two builds different results."""
    _, _, shuffled = two_row_orders
    planted = shuffled[shuffled["CustomerID"] >= 99901]
    reversed_pairs = 0
    for customer, (cancellations, _) in SAME_MINUTE_CASES.items():
        rows = planted[(planted["CustomerID"] == customer) & (planted["Quantity"] < 0)]
        order = list(zip(rows["InvoiceNo"], rows["Quantity"], rows["UnitPrice"], rows["Description"]))
        reversed_pairs += order == [(i, q, p, d) for i, q, p, d in reversed(cancellations)]
    assert reversed_pairs >= 1


def test_same_minute_cancellations_match_in_content_order(two_row_orders):
    for build in two_row_orders[:2]:
        for customer, (cancellations, expected) in SAME_MINUTE_CASES.items():
            matched = {(invoice, quantity, float(price), description): units
                       for invoice, quantity, price, description, units in build.query(
                           "select invoice_no, quantity, unit_price, description, matched_quantity "
                           f"from int_cancellation_lines_matched where customer_id = {customer}")}
            assert [matched[(i, q, p, d)] for i, q, p, d in cancellations] == expected, customer


def test_every_table_and_view_is_the_same_in_both_row_orders(two_row_orders):
    first, second, _ = two_row_orders
    names = relations(first.db_path)
    assert names == relations(second.db_path)
    assert len(names) > 30  # every model and seed of the project, not a handful
    rows = {name: differing_rows(first.db_path, second.db_path, name) for name in names}
    assert {name: counts for name, counts in rows.items() if counts != (0, 0)} == {}


# ---------------------------------------------------------------- thread pools inside dbt's threads

PROBE_MODEL = '''
import json
import os
import threading

import customer_segments  # first, as in every Python model of the project

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from threadpoolctl import threadpool_info


def model(dbt, session):
    dbt.config(materialized="table")
    X = np.random.default_rng(0).normal(size=(3000, 4))
    KMeans(n_clusters=4, n_init=2, random_state=0).fit(X)  # loads scikit-learn's OpenMP runtime
    X.T @ X  # and uses numpy's BLAS
    return pd.DataFrame({
        "pid": [os.getpid()],
        "thread": [threading.get_ident()],
        "openmp_threads": [_openmp_effective_n_threads()],
        "pools": [json.dumps([{k: pool[k] for k in ("user_api", "internal_api", "num_threads")}
                              for pool in threadpool_info()])],
    })
'''


def test_every_native_pool_has_one_thread_inside_dbt_python_models(tmp_path):
    """Two Python models run by dbt on 2 threads of one process: OpenMP (per thread) and BLAS (per
    process) each have one thread in both, set by importing the package, not by the environment."""
    project = tmp_path / "probe"
    (project / "models").mkdir(parents=True)
    (project / "dbt_project.yml").write_text("name: probe\nversion: '1.0'\nconfig-version: 2\nprofile: probe\n")
    (project / "profiles.yml").write_text(
        f"probe:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: {tmp_path / 'probe.duckdb'}\n"
        "      threads: 2\n")
    for name in ("probe_a", "probe_b"):
        (project / "models" / f"{name}.py").write_text(PROBE_MODEL)
    env = {key: value for key, value in os.environ.items()
           if key not in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    env.update(PYTHONPATH=os.pathsep.join([str(ROOT / "python"), env.get("PYTHONPATH", "")]), DO_NOT_TRACK="1")
    result = subprocess.run([str(DBT), "run", "--project-dir", str(project), "--profiles-dir", str(project),
                             "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
                            cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    with duckdb.connect(str(tmp_path / "probe.duckdb"), read_only=True) as con:
        probes = con.execute("select pid, thread, openmp_threads, pools from probe_a "
                             "union all select pid, thread, openmp_threads, pools from probe_b").fetchall()
    assert len({pid for pid, *_ in probes}) == 1 and len({thread for _, thread, *_ in probes}) == 2
    for _, _, openmp_threads, pools in probes:
        pools = json.loads(pools)
        assert openmp_threads == 1
        assert {pool["user_api"] for pool in pools} >= {"openmp", "blas"}, pools
        assert all(pool["num_threads"] == 1 for pool in pools), pools
