"""The DuckDB shell the setup installs (PyPI duckdb-cli) opens the published file read-only, as the README says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.dbt

SHELL = Path(sys.executable).parent / "duckdb"


def test_the_shell_reads_the_published_file_read_only(published_build):
    expected = published_build.scalar("select count(*) from customer_rfm")
    result = subprocess.run([str(SHELL), "-readonly", "-csv", "-noheader", str(published_build.db_path), "-c",
                             "select count(*) from customer_rfm"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) == expected
    refused = subprocess.run([str(SHELL), "-readonly", str(published_build.db_path), "-c",
                              "create table t (x int)"], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "read-only" in (refused.stdout + refused.stderr).lower()
