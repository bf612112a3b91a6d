"""Scale benchmark: the full `dbt build` and its core at 1x, 10x and 100x the real data, next to two peers.

Run with ``make bench`` (not part of the test suite); ``--sizes 1 10`` (or env SEGMENTS_BENCH_SIZES="1 10")
runs fewer sizes. The large inputs replicate the real UCI file (or, when it is absent, a generated data
set of the same size) with offset customer ids and invoice numbers, so every replica is a distinct set of
customers with the real data's shape and dirt. On each size, one after another on the same file: the
full build (every model, every test), its core (``--select +path:models/marts/customer_segments.py``),
the single-query DuckDB pass (benchmarks.duckdb_reference) and the plain pandas notebook
(benchmarks.pandas_reference). Figures go to BENCHMARKS.md: wall time and peak memory of each, the
ratios issue 18 sets targets for (full / DuckDB pass, core / DuckDB pass, full / pandas), each step's
time and share, and how the line-level part's cost grows from one size to the next.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("SEGMENTS_REAL_DATA", ROOT.parent / "shared" / "data" / "online_retail.parquet"))
BENCH_DIR = ROOT / "data" / "bench"
#: Replicas get customer ids offset by this much: above the largest real id (18287).
CUSTOMER_ID_OFFSET = 100_000
SIZES = (1, 10, 100)
#: The core subgraph: what customer_segments needs (lines, netting, RFM, the choice of k), with its tests.
CORE_SELECTOR = "+path:models/marts/customer_segments.py"
#: The line-level part of the build (read, stage, net, RFM): these models and the tests on them alone.
LINE_LEVEL_MODELS = ("base_retail__invoice_lines", "base_retail__rejected_lines", "stg_retail__invoice_lines",
                     "int_cancellation_lines_matched", "int_invoice_lines_netted", "int_customer_invoices",
                     "customer_rfm")
#: Issue 18's targets at 100x: full build / DuckDB pass, core / DuckDB pass, peak GiB, line-level 10x->100x.
TARGETS = {"full_over_duckdb": 3.0, "core_over_duckdb": 1.5, "peak_gib": 4.0, "line_level_growth": 10.5}


def base_file(bench_dir: Path) -> Path:
    """The 1x input: the real file when present, else a generated data set of about the same size."""
    if REAL_DATA.exists():
        return REAL_DATA
    generated = bench_dir / "generated" / "invoice_lines.parquet"
    if not generated.exists():
        from synthetic_shop.generate import write_dataset

        # ~127 lines per customer: 4,300 customers is about the real file's 541,909 lines.
        write_dataset(generated.parent, n_customers=4_300, seed=42)
    return generated


def replicate(source: Path, times: int, out_path: Path) -> Path:
    """Write ``times`` copies of ``source`` as one parquet file, replica r with customer ids + r x offset
    and invoice numbers suffixed '-r' (the cancellation marker stays in front). Kept if already written."""
    if times == 1:
        return source
    if out_path.exists():
        return out_path
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(".tmp.parquet")
    con = duckdb.connect()
    con.execute("set preserve_insertion_order = true")
    con.execute("set enable_progress_bar = false")
    con.execute(
        f"""
        copy (
            select
                case when replica = 0 then InvoiceNo else InvoiceNo || '-' || replica end as InvoiceNo,
                StockCode, Description, Quantity, InvoiceDate, UnitPrice,
                CustomerID + replica * {CUSTOMER_ID_OFFSET} as CustomerID,
                Country
            from range($times) as replicas (replica)
            cross join read_parquet($source, file_row_number = true)
            order by replica, file_row_number
        ) to '{tmp}' (format parquet, compression zstd, row_group_size 1000000)
        """,
        {"times": times, "source": str(source)},
    )
    con.close()
    tmp.rename(out_path)
    return out_path


@dataclass
class MemorySampler:
    """Samples the resident memory of a process and its children every ``interval`` seconds."""

    pid: int
    interval: float = 0.05
    samples: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _tree_rss(self) -> int:
        total, pending = 0, [self.pid]
        while pending:
            pid = pending.pop()
            try:
                with open(f"/proc/{pid}/status") as status:
                    for line in status:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1]) * 1024
                with open(f"/proc/{pid}/task/{pid}/children") as children:
                    pending.extend(int(c) for c in children.read().split())
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
        return total

    def run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), self._tree_rss()))
            time.sleep(self.interval)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()

    def peak(self, start: float | None = None, end: float | None = None) -> int:
        window = [rss for t, rss in self.samples if (start is None or t >= start) and (end is None or t <= end)]
        return max(window, default=0)


def run_sampled(args: list[str], env: dict | None = None,
                cwd: Path = ROOT) -> tuple[subprocess.CompletedProcess, float, MemorySampler]:
    """Run a command, returning its result, wall seconds and memory samples."""
    started = time.time()
    process = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sampler = MemorySampler(process.pid)
    thread = sampler.start()
    output, _ = process.communicate()
    sampler.stop()
    thread.join()
    wall = time.time() - started
    return subprocess.CompletedProcess(args, process.returncode, output, ""), wall, sampler


def line_level_nodes(manifest: Path) -> set[str]:
    """Unique ids of LINE_LEVEL_MODELS and of the tests (data and unit) that depend on nothing else."""
    nodes = json.loads(manifest.read_text())
    models = {uid for uid, node in nodes["nodes"].items()
              if node["resource_type"] == "model" and node["name"] in LINE_LEVEL_MODELS}
    tests = {uid for uid, node in {**nodes["nodes"], **nodes.get("unit_tests", {})}.items()
             if node["resource_type"] in {"test", "unit_test"}
             and (set(node["depends_on"]["nodes"]) & models)
             and set(node["depends_on"]["nodes"]) <= models | {n for n in node["depends_on"]["nodes"] if n.startswith("seed.")}}
    return models | tests


def node_timings(run_results: Path, sampler: MemorySampler) -> list[dict]:
    """One entry per dbt node: name, kind, seconds, peak RSS during it (bytes), whether it is line-level."""
    from datetime import datetime

    manifest = run_results.with_name("manifest.json")
    line_level = line_level_nodes(manifest) if manifest.exists() else set()
    results = json.loads(run_results.read_text())["results"]
    nodes = []
    for result in results:
        execute = next((t for t in result.get("timing", []) if t["name"] == "execute"), None)
        compile_ = next((t for t in result.get("timing", []) if t["name"] == "compile"), None)
        if not execute:
            continue
        begin = datetime.fromisoformat((compile_ or execute)["started_at"].replace("Z", "+00:00")).timestamp()
        end = datetime.fromisoformat(execute["completed_at"].replace("Z", "+00:00")).timestamp()
        unique_id = result["unique_id"]
        nodes.append(
            {
                "node": unique_id.split(".", 2)[-1] if not unique_id.startswith("test.") else unique_id.split(".")[2],
                "kind": unique_id.split(".")[0],
                "seconds": result["execution_time"],
                "peak_rss": sampler.peak(begin, end),
                "status": result["status"],
                "line_level": unique_id in line_level,
            }
        )
    return nodes


def dbt_build(data_path: Path, work_dir: Path, memory_limit: str, select: str | None = None) -> dict:
    """A `dbt build` (``select``: a selector, else everything) on ``data_path`` into a fresh DuckDB file:
    wall time, peak RSS, per-node timings and dbt's counts (a full build that fails stops the benchmark;
    the core's failures are recorded, as issue 18 reports them)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    db_path = work_dir / "bench.duckdb"
    db_path.unlink(missing_ok=True)
    env = {**os.environ, "SEGMENTS_DB": str(db_path), "SEGMENTS_MEMORY_LIMIT": memory_limit, "DO_NOT_TRACK": "1"}
    dbt = Path(sys.executable).parent / "dbt"
    args = [str(dbt), "build", "--target-path", str(work_dir / "target"), "--log-path", str(work_dir / "logs"),
            "--vars", json.dumps({"transactions_path": str(data_path)}), *(["--select", select] if select else [])]
    result, wall, sampler = run_sampled(args, env)
    if result.returncode != 0 and select is None:
        raise RuntimeError(f"dbt build failed on {data_path}:\n{result.stdout[-5000:]}")
    done = re.findall(r"Done\. PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+)", result.stdout)
    counts = dict(zip(("pass", "warn", "error", "skip"), map(int, done[-1]), strict=True)) if done else {}
    return {
        "wall_seconds": wall,
        "peak_rss": sampler.peak(),
        "nodes": node_timings(work_dir / "target" / "run_results.json", sampler),
        "db_bytes": db_path.stat().st_size if db_path.exists() else 0,
        "counts": counts,
        "returncode": result.returncode,
    }


def peer_run(module: str, data_path: Path) -> dict:
    """A peer of the benchmark (``python -m <module> FILE``) in a child process: wall time, peak RSS, output."""
    args = [sys.executable, "-m", module, str(data_path)]
    result, wall, sampler = run_sampled(args, {**os.environ})
    if result.returncode != 0:
        raise RuntimeError(f"{module} failed on {data_path}:\n{result.stdout[-5000:]}")
    return {"wall_seconds": wall, "peak_rss": sampler.peak(), "output": result.stdout.strip()}


def gib(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:.2f}"


def ratio(top: float, bottom: float) -> float:
    return top / bottom if bottom else math.nan


def line_level_seconds(nodes: list[dict]) -> float:
    return sum(n["seconds"] for n in nodes if n.get("line_level"))


def ratio_rows(results: list[dict]) -> list[str]:
    """The ratios issue 18 sets targets for, one row per size, and how the line-level part grows."""
    lines = [
        "| size | full build (s) | core (s) | DuckDB pass (s) | pandas (s) | full / DuckDB | core / DuckDB "
        "| full / pandas | peak GiB: full, core, DuckDB, pandas | core status |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        full, core, duck, pandas = (r.get(key) or {} for key in ("dbt", "core", "duckdb", "pandas"))
        wall = {name: run.get("wall_seconds", math.nan) for name, run in
                (("full", full), ("core", core), ("duckdb", duck), ("pandas", pandas))}
        peaks = ", ".join(gib(run["peak_rss"]) if run else "n/a" for run in (full, core, duck, pandas))
        counts = core.get("counts") or {}
        status = (f"{counts.get('pass', 0)} pass, {counts.get('error', 0)} errors, {counts.get('skip', 0)} skipped"
                  if core else "not run")
        lines.append(f"| {r['size']}x | {wall['full']:.1f} | {wall['core']:.1f} | {wall['duckdb']:.1f} | "
                     f"{wall['pandas']:.1f} | {ratio(wall['full'], wall['duckdb']):.2f} | "
                     f"{ratio(wall['core'], wall['duckdb']):.2f} | {ratio(wall['full'], wall['pandas']):.2f} | "
                     f"{peaks} | {status} |")
    lines += [
        "",
        "Line-level part (read, stage, net, RFM: " + ", ".join(LINE_LEVEL_MODELS) + ", and the tests on them alone),"
        " node seconds of the full build:",
        "",
        "| size | line-level seconds | share of node seconds | growth from the size before (input grew) |",
        "|---|---:|---:|---|",
    ]
    previous = None
    for r in results:
        nodes = r["dbt"]["nodes"]
        seconds, total = line_level_seconds(nodes), sum(n["seconds"] for n in nodes) or 1.0
        growth = (f"{ratio(seconds, previous[1]):.2f}x ({r['size'] // previous[0]}x)" if previous else "")
        lines.append(f"| {r['size']}x | {seconds:.1f} | {seconds / total:.1%} | {growth} |")
        previous = (r["size"], seconds)
    return lines


def target_lines(results: list[dict]) -> list[str]:
    """Issue 18's targets against the 100x figures (when 100x was run) and the line-level growth 10x -> 100x."""
    by_size = {r["size"]: r for r in results}
    if 100 not in by_size:
        return ["Issue 18's targets are set at 100x, which this run did not include."]
    r = by_size[100]
    full, core, duck, pandas = (r.get(key) or {} for key in ("dbt", "core", "duckdb", "pandas"))
    checks = [
        ("full build / DuckDB pass", ratio(full["wall_seconds"], duck.get("wall_seconds", math.nan)),
         TARGETS["full_over_duckdb"]),
        ("core / DuckDB pass", ratio(core.get("wall_seconds", math.nan), duck.get("wall_seconds", math.nan)),
         TARGETS["core_over_duckdb"]),
        ("full build peak GiB", full["peak_rss"] / 2**30, TARGETS["peak_gib"]),
        ("core peak GiB", core.get("peak_rss", math.nan) / 2**30, TARGETS["peak_gib"]),
        ("full build / pandas", ratio(full["wall_seconds"], pandas.get("wall_seconds", math.nan)), 1.0),
    ]
    if 10 in by_size:
        checks.append(("line-level cost 10x -> 100x", ratio(line_level_seconds(r["dbt"]["nodes"]),
                                                            line_level_seconds(by_size[10]["dbt"]["nodes"])),
                       TARGETS["line_level_growth"]))
    return [f"- {name}: {value:.2f} (target at most {target:g}: {'met' if value <= target else 'not met'})"
            for name, value, target in checks]


def render(results: list[dict], load_before: str, load_after: str) -> str:
    """BENCHMARKS.md: the runs and their ratios, the targets, then each size's steps by time with their share."""
    sizes = ", ".join(f"{r['size']}x" for r in results)
    lines = [
        f"## Latest run ({time.strftime('%Y-%m-%d %H:%M')})",
        "",
        "Produced by `make bench` (`python -m benchmarks.benchmark`). Inputs: the real UCI file",
        f"replicated {sizes} with offset customer ids and invoice numbers (parquet, data/bench/).",
        "Each size, one after another on the same file: the full `dbt build` (all models and all tests) into a",
        f"fresh DuckDB file, its core (`dbt build --select {CORE_SELECTOR}`) into another, with",
        "SEGMENTS_MEMORY_LIMIT as shown, then the single-query DuckDB pass (benchmarks.duckdb_reference: one",
        "query for clean lines, dedup and RFM, then a K-means k scan with a sampled silhouette) and the plain",
        "pandas notebook (benchmarks.pandas_reference: the same cleaning, dedup, netting and RFM as the build,",
        "then the same k scan). Peak memory is the resident memory of the whole process tree, sampled every",
        "50 ms. The machine is shared: load is noted.",
        "",
        f"Machine: {os.cpu_count()} cores. Load before: `{load_before}`; after: `{load_after}`.",
        "",
        "| size | input lines | customers | dbt build wall (s) | dbt peak RSS (GiB) | pandas wall (s) | pandas peak RSS (GiB) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        pandas = r.get("pandas") or {}
        lines.append(
            f"| {r['size']}x | {r['lines']:,} | {r['customers']:,} | {r['dbt']['wall_seconds']:.1f} | "
            f"{gib(r['dbt']['peak_rss'])} | {pandas.get('wall_seconds', float('nan')):.1f} | "
            f"{gib(pandas.get('peak_rss', 0)) if pandas else 'n/a'} |"
        )
    lines += ["", "### Ratios", "", *ratio_rows(results), "", *target_lines(results)]
    for r in results:
        nodes = sorted(r["dbt"]["nodes"], key=lambda n: -n["seconds"])
        total = sum(n["seconds"] for n in nodes) or 1.0
        lines += [
            "",
            f"### {r['size']}x: steps by time (node seconds sum {total:.1f} s over 2 threads; "
            f"wall {r['dbt']['wall_seconds']:.1f} s)",
            "",
            "| step | kind | seconds | share | peak RSS during step (GiB) |",
            "|---|---|---:|---:|---:|",
        ]
        shown = nodes[:15]
        for n in shown:
            lines.append(f"| {n['node']} | {n['kind']} | {n['seconds']:.2f} | {n['seconds'] / total:.1%} "
                         f"| {gib(n['peak_rss'])} |")
        rest = nodes[15:]
        if rest:
            rest_seconds = sum(n["seconds"] for n in rest)
            lines.append(f"| {len(rest)} other nodes | | {rest_seconds:.2f} | {rest_seconds / total:.1%} | |")
    return "\n".join(lines) + "\n"


#: BENCHMARKS.md keeps hand-written notes around the generated figures, which go between these lines.
BEGIN_MARK = "<!-- make bench writes from here -->"
END_MARK = "<!-- make bench writes up to here -->"


def write_report(path: Path, generated: str) -> None:
    """Put ``generated`` between the marks of ``path``, keeping the text around them (the whole file
    when it has no marks yet)."""
    block = f"{BEGIN_MARK}\n{generated}{END_MARK}\n"
    text = path.read_text() if path.exists() else ""
    if BEGIN_MARK in text and END_MARK in text:
        head, rest = text.split(BEGIN_MARK, 1)
        tail = rest.split(END_MARK, 1)[1].lstrip("\n")
        path.write_text(head + block + ("\n" + tail if tail else ""))
    else:
        path.write_text(block)


def count_input(data_path: Path) -> tuple[int, int]:
    con = duckdb.connect()
    return con.execute(
        "select count(*), count(distinct CustomerID) from read_parquet($p)", {"p": str(data_path)}
    ).fetchone()


def measure(name: str, data_path: Path, size: int, memory_limit: str) -> dict:
    """One of the four runs of a size: the full build, its core, the DuckDB pass or the pandas notebook."""
    if name == "dbt":
        return dbt_build(data_path, BENCH_DIR / f"build_{size}x", memory_limit)
    if name == "core":
        return dbt_build(data_path, BENCH_DIR / f"core_{size}x", memory_limit, CORE_SELECTOR)
    return peer_run(f"benchmarks.{name}_reference", data_path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_sizes = [int(size) for size in os.environ.get("SEGMENTS_BENCH_SIZES", "").split()] or list(SIZES)
    parser.add_argument("--sizes", type=int, nargs="+", default=default_sizes)
    parser.add_argument("--memory-limit", default=os.environ.get("SEGMENTS_MEMORY_LIMIT", "3GB"))
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas notebook")
    parser.add_argument("--no-core", action="store_true", help="skip the core subgraph build")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    load_before = os.popen("uptime").read().strip()
    base = base_file(BENCH_DIR)
    results = []
    for size in args.sizes:
        data_path = replicate(base, size, BENCH_DIR / f"invoice_lines_{size}x.parquet")
        lines, customers = count_input(data_path)
        print(f"{size}x: {lines:,} lines, {customers:,} customers", flush=True)
        result = {"size": size, "lines": lines, "customers": customers}
        for name in ("dbt", "core", "duckdb", "pandas"):
            if (name == "core" and args.no_core) or (name == "pandas" and args.no_pandas):
                continue
            result[name] = measure(name, data_path, size, args.memory_limit)
            print(f"  {name}: {result[name]['wall_seconds']:.1f} s, peak {gib(result[name]['peak_rss'])} GiB", flush=True)
        results.append(result)
    load_after = os.popen("uptime").read().strip()
    report = render(results, load_before, load_after)
    print(report.split("### Ratios", 1)[1].split("\n### ", 1)[0])
    write_report(args.out, report)
    (BENCH_DIR / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
