"""`make demo` never replaces a publish of another input: publish --keep-other-input refuses before dbt runs.

The served file is a real published build of the generated data (fixture published_build); the refusal
comes before any dbt run, so these tests cost no build of their own.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from customer_segments.delivery.dbt_process import planned_input
from customer_segments.delivery.publish import OTHER_INPUT, other_input

pytestmark = pytest.mark.dbt

ROOT = Path(__file__).resolve().parents[2]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def publish(published: Path, working: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DO_NOT_TRACK": "1"}
    return subprocess.run([sys.executable, "-m", "customer_segments.delivery.publish", "--working", str(working),
                           "--published", str(published), *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


def test_planned_input_follows_vars_then_env_then_default(tmp_path):
    assert planned_input(["--vars", "{transactions_path: a/b.csv}"], tmp_path) == str(tmp_path / "a" / "b.csv")
    assert planned_input(["--vars={'transactions_path': '/x/y.parquet'}"], tmp_path) == "/x/y.parquet"
    assert planned_input([], tmp_path, {"SEGMENTS_DATA": "/d/e.csv"}) == "/d/e.csv"
    assert planned_input(["--vars", "{k_min: 3}"], tmp_path, {}) == str(
        tmp_path / "data" / "generated" / "invoice_lines.parquet")


def test_the_same_input_may_replace_the_served_file(published_build):
    assert other_input(str(published_build.data_path.absolute()), published_build.db_path) is None


def test_another_input_is_refused_before_dbt_runs(published_build, tmp_path):
    before = digest(published_build.db_path)
    working = tmp_path / "working.duckdb"
    other = tmp_path / "demo" / "invoice_lines.parquet"
    result = publish(published_build.db_path, working, "--keep-other-input",
                     "--vars", f"{{transactions_path: '{other}'}}")
    assert result.returncode == OTHER_INPUT, result.stdout + result.stderr
    assert f"was built from {published_build.data_path.absolute()}" in result.stderr
    assert f"this build would read {other}" in result.stderr
    assert "make demo FORCE=1" in result.stderr
    assert not working.exists(), "dbt ran although the publish was refused"
    assert digest(published_build.db_path) == before
