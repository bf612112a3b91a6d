"""Docs, exposures and the semantic layer: `dbt docs generate` works with no network, every mart and
column is described, and `mf query` answers the metrics by segment, country and month, matching SQL."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT, Build, background_build, build_generated, built

pytestmark = pytest.mark.dbt

MF = Path(sys.executable).parent / "mf"
METRICS = "net_revenue,orders,customers,average_order_value"


def offline(command: list[str]) -> list[str]:
    """The command inside a fresh network namespace with no interface up, when the machine allows it."""
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "-rn", "true"], capture_output=True).returncode == 0:
        return [unshare, "-rn", *command]
    return command


@pytest.fixture(scope="module")
def docs(generated_build, tmp_path_factory) -> tuple[Build, Path]:
    return built(generate_docs, tmp_path_factory)


@background_build("docs")
def generate_docs(tmp_path_factory) -> tuple[Build, Path]:
    """`dbt docs generate`, offline, on a copy of the generated build; returns the copy and target/."""
    generated_build = built(build_generated, tmp_path_factory)
    work = tmp_path_factory.mktemp("docs")
    db_path = work / "segments.duckdb"
    shutil.copyfile(generated_build.db_path, db_path)
    env = {**os.environ, "SEGMENTS_DB": str(db_path), "DO_NOT_TRACK": "1"}
    result = subprocess.run(
        offline([str(Path(sys.executable).parent / "dbt"), "docs", "generate", "--target-path", str(work / "target"),
                 "--log-path", str(work / "logs"), "--vars", json.dumps({"transactions_path": str(generated_build.data_path)})]),
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    return Build(db_path, generated_build.data_path, 0, result.stdout), work / "target"


def test_docs_site_is_generated_offline(docs):
    _, target = docs
    assert (target / "index.html").stat().st_size > 100_000
    catalog = json.loads((target / "catalog.json").read_text())
    assert "model.shop_segments.customer_orders" in catalog["nodes"]


def test_every_mart_and_column_is_described(docs):
    _, target = docs
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    marts = {key: node for key, node in manifest["nodes"].items()
             if node["resource_type"] == "model" and node["original_file_path"].startswith("models/marts/")}
    assert {"customer_rfm", "customer_segments", "segment_profiles", "customer_orders"} <= {n["name"] for n in marts.values()}
    undescribed = []
    for key, node in marts.items():
        if not node["description"].strip():
            undescribed.append(node["name"])
        described = {name for name, col in node["columns"].items() if col.get("description", "").strip()}
        # A documented name like category_share_<category_id> stands for one column per id.
        patterns = [re.compile(re.sub(r"<\w+>", r"\\d+", re.escape(name)) + "$")
                    for name in described if "<" in name]
        for column in catalog["nodes"][key]["columns"]:
            if column not in described and not any(p.match(column) for p in patterns):
                undescribed.append(f"{node['name']}.{column}")
    assert undescribed == []


def test_report_and_exports_are_exposures(docs):
    _, target = docs
    exposures = json.loads((target / "manifest.json").read_text())["exposures"]
    depends = {e["name"]: set(e["depends_on"]["nodes"]) for e in exposures.values()}
    assert "model.shop_segments.segment_profiles" in depends["segment_report"]
    assert "model.shop_segments.customer_segments" in depends["campaign_exports"]


def mf_query(docs, tmp_path: Path, group_by: str, *extra: str, as_printed: bool = False) -> pd.DataFrame:
    """`mf query` as a user runs it (``as_printed``: the table it prints, parsed, rather than its --csv file).
    mf reads <project>/target/semantic_manifest.json, so it runs from
    a project directory that links to ours and holds the target/ generated above."""
    build, target = docs
    project = tmp_path / "project"
    (project / "target").mkdir(parents=True)
    for name in ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds", "tests"):
        (project / name).symlink_to(ROOT / name)
    shutil.copyfile(target / "semantic_manifest.json", project / "target" / "semantic_manifest.json")
    out = tmp_path / "result.csv"
    # The profile's read-only `published` target, as next to BI tools holding the file open.
    env = {**os.environ, "SEGMENTS_PUBLISHED": str(build.db_path), "DBT_TARGET": "published", "DBT_PROJECT_DIR": str(project),
           "DBT_PROFILES_DIR": str(project), "DBT_LOG_PATH": str(tmp_path / "logs"), "DO_NOT_TRACK": "1"}
    # Offline also keeps mf's update check (a request to the package index) from leaving the machine.
    output = [] if as_printed else ["--csv", str(out)]
    result = subprocess.run(offline([str(MF), "query", "--metrics", METRICS, "--group-by", group_by, *extra, *output]),
                            cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0 and (as_printed or out.exists()), (result.stdout + result.stderr)[-4000:]
    assert not Path(f"{build.db_path}.wal").exists()
    return printed_table(result.stdout) if as_printed else pd.read_csv(out)


def printed_table(stdout: str) -> pd.DataFrame:
    """The table `mf query` prints: a header line, a line of dashes, then one line per row."""
    lines = stdout.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("----"))
    rows = [line.split() for line in lines[rule + 1:] if line.strip()]
    return pd.DataFrame(rows, columns=lines[rule - 1].split())


def test_mf_query_by_segment_matches_the_marts(docs, tmp_path):
    build, _ = docs
    result = mf_query(docs, tmp_path, "order__segment_name").set_index("order__segment_name")
    expected = pd.DataFrame(build.query("""
        select segment_name,
               sum(net_value)::double as net_revenue,
               count(*) filter (where invoice_type = 'purchase') as orders,
               count(distinct customer_id) filter (where invoice_type = 'purchase') as customers
        from customer_orders group by segment_name
    """), columns=["segment_name", "net_revenue", "orders", "customers"]).set_index("segment_name")
    assert set(result.index) == set(expected.index)
    for name, row in expected.iterrows():
        assert result.loc[name, "net_revenue"] == pytest.approx(row.net_revenue)
        assert result.loc[name, "orders"] == row.orders and result.loc[name, "customers"] == row.customers
        assert result.loc[name, "average_order_value"] == pytest.approx(row.net_revenue / row.orders)
    # The semantic layer agrees with the segment profiles.
    for name, revenue in build.query("select segment_name, net_revenue::double from segment_profiles"):
        assert result.loc[name, "net_revenue"] == pytest.approx(revenue)


def test_mf_query_by_month_and_country_adds_up(docs, tmp_path):
    build, _ = docs
    result = mf_query(docs, tmp_path, "metric_time__month,order__customer_country")
    assert result["net_revenue"].sum() == pytest.approx(float(build.scalar("select sum(monetary) from customer_rfm")))
    assert result["orders"].sum() == build.scalar("select sum(frequency) from customer_rfm")
    months = pd.to_datetime(result["metric_time__month"])
    assert (months.dt.day == 1).all() and months.nunique() >= 12


#: The monthly query of docs/analysts.md, word for word after `mf query --metrics ...`.
DOCUMENTED_MONTHLY = ("metric_time__month", "--order", "metric_time__month", "--decimals", "2")


def test_the_documented_monthly_query_is_ordered_with_two_decimals(docs, tmp_path):
    documented = (ROOT / "docs" / "analysts.md").read_text()
    assert f"--metrics {METRICS} \\\n    --group-by {' '.join(DOCUMENTED_MONTHLY)}" in documented
    build, _ = docs
    result = mf_query(docs, tmp_path, *DOCUMENTED_MONTHLY, as_printed=True)
    months = pd.to_datetime(result["metric_time__month"])
    assert months.is_monotonic_increasing and months.is_unique and len(months) >= 12
    for column in ("net_revenue", "average_order_value"):
        # Plain decimals with two places, as the docs show them (never 1.11362e+06).
        assert result[column].str.fullmatch(r"-?[0-9]+\.[0-9]{2}").all(), result[column].tolist()
    total = float(build.scalar("select sum(monetary) from customer_rfm"))
    assert result["net_revenue"].astype(float).sum() == pytest.approx(total, abs=0.01 * len(result))
