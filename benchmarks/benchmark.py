"""Scale benchmark: the full `dbt build` at 1x, 10x and 100x the real data, next to plain pandas.

Run with ``make bench`` (not part of the test suite). The large inputs replicate the real UCI file (or,
when it is absent, a generated data set of the same size) with offset customer ids and invoice numbers,
so every replica is a distinct set of customers with the real data's shape and dirt. Figures go to
BENCHMARKS.md: wall time and peak memory of the build, each step's time and share, and the pandas
comparison.
"""

from __future__ import annotations

import argparse
import json
import os
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


def node_timings(run_results: Path, sampler: MemorySampler) -> list[dict]:
    """One entry per dbt node: name, kind, seconds, peak RSS during it (bytes)."""
    from datetime import datetime

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
            }
        )
    return nodes


def dbt_build(data_path: Path, work_dir: Path, memory_limit: str) -> dict:
    """A full `dbt build` on ``data_path`` into a fresh DuckDB file: wall time, peak RSS, per-node timings."""
    work_dir.mkdir(parents=True, exist_ok=True)
    db_path = work_dir / "bench.duckdb"
    db_path.unlink(missing_ok=True)
    env = {**os.environ, "SEGMENTS_DB": str(db_path), "SEGMENTS_MEMORY_LIMIT": memory_limit, "DO_NOT_TRACK": "1"}
    dbt = Path(sys.executable).parent / "dbt"
    args = [str(dbt), "build", "--target-path", str(work_dir / "target"), "--log-path", str(work_dir / "logs"),
            "--vars", json.dumps({"transactions_path": str(data_path)})]
    result, wall, sampler = run_sampled(args, env)
    if result.returncode != 0:
        raise RuntimeError(f"dbt build failed on {data_path}:\n{result.stdout[-5000:]}")
    return {
        "wall_seconds": wall,
        "peak_rss": sampler.peak(),
        "nodes": node_timings(work_dir / "target" / "run_results.json", sampler),
        "db_bytes": db_path.stat().st_size,
    }


def pandas_build(data_path: Path) -> dict:
    """The plain pandas pipeline (benchmark.pandas_reference) in a child process: wall time and peak RSS."""
    args = [sys.executable, "-m", "benchmarks.pandas_reference", str(data_path)]
    result, wall, sampler = run_sampled(args, {**os.environ})
    if result.returncode != 0:
        raise RuntimeError(f"pandas reference failed on {data_path}:\n{result.stdout[-5000:]}")
    return {"wall_seconds": wall, "peak_rss": sampler.peak(), "output": result.stdout.strip()}


def gib(n_bytes: int) -> str:
    return f"{n_bytes / 2**30:.2f}"


def render(results: list[dict], load_before: str, load_after: str) -> str:
    """BENCHMARKS.md: one summary table, then each size's steps by time with their share."""
    lines = [
        f"## Latest run ({time.strftime('%Y-%m-%d %H:%M')})",
        "",
        "Produced by `make bench` (`python -m benchmarks.benchmark`). Inputs: the real UCI file",
        "replicated 1x, 10x and 100x with offset customer ids and invoice numbers (parquet, data/bench/).",
        "Each size: one full `dbt build` (all models and all tests) into a fresh DuckDB file, with",
        "SEGMENTS_MEMORY_LIMIT as shown, then the plain pandas pipeline (benchmarks.pandas_reference:",
        "the same cleaning, dedup, netting, RFM and K-means) on the same file. Peak memory is the resident",
        "memory of the whole process tree, sampled every 50 ms. The machine is shared: load is noted.",
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--memory-limit", default=os.environ.get("SEGMENTS_MEMORY_LIMIT", "3GB"))
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas comparison")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md")
    args = parser.parse_args(argv)
    load_before = os.popen("uptime").read().strip()
    base = base_file(BENCH_DIR)
    results = []
    for size in args.sizes:
        data_path = replicate(base, size, BENCH_DIR / f"invoice_lines_{size}x.parquet")
        lines, customers = count_input(data_path)
        print(f"{size}x: {lines:,} lines, {customers:,} customers: dbt build ...", flush=True)
        dbt = dbt_build(data_path, BENCH_DIR / f"build_{size}x", args.memory_limit)
        print(f"  dbt build {dbt['wall_seconds']:.1f} s, peak {gib(dbt['peak_rss'])} GiB", flush=True)
        pandas = None
        if not args.no_pandas:
            pandas = pandas_build(data_path)
            print(f"  pandas {pandas['wall_seconds']:.1f} s, peak {gib(pandas['peak_rss'])} GiB", flush=True)
        results.append({"size": size, "lines": lines, "customers": customers, "dbt": dbt, "pandas": pandas})
    load_after = os.popen("uptime").read().strip()
    write_report(args.out, render(results, load_before, load_after))
    (BENCH_DIR / "results.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
