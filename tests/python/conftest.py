"""Shared fixtures: real `dbt build` runs on real DuckDB files, in temporary directories.

A test that runs dbt (through run_dbt or a build fixture) carries the `dbt` marker; run_dbt refuses to run
for any other test, so `pytest -m "not dbt"` (`make test-fast`) runs no dbt at all.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from synthetic_shop.generate import write_dataset

ROOT = Path(__file__).resolve().parents[2]
REAL_DATA = Path(os.environ.get("SEGMENTS_REAL_DATA", ROOT.parent / "shared" / "data" / "online_retail.parquet"))
DBT = Path(sys.executable).parent / "dbt"
#: The generated data set the end-to-end tests build on (same as `make data`, smaller for speed).
GENERATED_CUSTOMERS = 3000
GENERATED_SEED = 42
#: Whether the test being set up or run carries the `dbt` marker (set by pytest_runtest_setup below).
_test_may_run_dbt = False


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # tryfirst: before the test's fixtures (the session builds among them) are set up.
    global _test_may_run_dbt
    _test_may_run_dbt = item.get_closest_marker("dbt") is not None


@dataclass(frozen=True)
class Build:
    """A finished `dbt build`: its DuckDB file, its input and what dbt printed."""

    db_path: Path
    data_path: Path
    returncode: int
    output: str

    def query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.db_path), read_only=True) as con:
            return con.execute(sql).fetchall()

    def scalar(self, sql: str):
        return self.query(sql)[0][0]


def run_dbt(command: list[str], db_path: Path, work_dir: Path, dbt_vars: dict | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the real dbt CLI on the project, writing the DuckDB file, target/ and logs/ under work_dir
    (``env``: env vars set for the run)."""
    if not _test_may_run_dbt:
        raise RuntimeError("this test runs dbt: mark it (or its module) with pytest.mark.dbt")
    env = {**os.environ, "SEGMENTS_DB": str(db_path), "DO_NOT_TRACK": "1", **(env or {})}
    args = [str(DBT), *command, "--target-path", str(work_dir / "target"), "--log-path", str(work_dir / "logs")]
    if dbt_vars:
        args += ["--vars", json.dumps(dbt_vars)]
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)


def dbt_build(work_dir: Path, data_path: Path, dbt_vars: dict | None = None, db_name: str = "segments.duckdb") -> Build:
    work_dir.mkdir(parents=True, exist_ok=True)
    db_path = work_dir / db_name
    result = run_dbt(["build"], db_path, work_dir, {"transactions_path": str(data_path), **(dbt_vars or {})})
    return Build(db_path=db_path, data_path=data_path, returncode=result.returncode, output=result.stdout + result.stderr)


@pytest.fixture(scope="session")
def generated_data(tmp_path_factory) -> dict[str, Path]:
    return write_dataset(tmp_path_factory.mktemp("generated"), n_customers=GENERATED_CUSTOMERS, seed=GENERATED_SEED)


@pytest.fixture(scope="session")
def generated_build(tmp_path_factory, generated_data) -> Build:
    build = dbt_build(tmp_path_factory.mktemp("build"), generated_data["invoice_lines"])
    assert build.returncode == 0, build.output[-5000:]
    return build


@pytest.fixture()
def copy_of_build(generated_build, tmp_path) -> Build:
    """A private copy of the generated build's DuckDB file, safe to tamper with."""
    db_path = tmp_path / "copy.duckdb"
    shutil.copyfile(generated_build.db_path, db_path)
    return Build(db_path, generated_build.data_path, generated_build.returncode, generated_build.output)


@pytest.fixture(scope="session")
def real_data() -> Path:
    if not REAL_DATA.exists():
        pytest.skip(f"real data set not found at {REAL_DATA}")
    return REAL_DATA


@pytest.fixture(scope="session")
def real_build(tmp_path_factory, real_data) -> Build:
    build = dbt_build(tmp_path_factory.mktemp("real"), real_data)
    assert build.returncode == 0, build.output[-5000:]
    return build


@pytest.fixture(scope="session")
def published_build(tmp_path_factory, generated_build) -> Build:
    """The generated build published as readers get it (file_replacement.publish), in its own directory."""
    from customer_segments.delivery.file_replacement import publish

    work = tmp_path_factory.mktemp("publish")
    working = work / "working.duckdb"
    shutil.copyfile(generated_build.db_path, working)
    published = publish(working, work / "served" / "customer_segments.duckdb")
    return Build(published, generated_build.data_path, generated_build.returncode, generated_build.output)
