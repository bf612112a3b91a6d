"""Benchmark: what the segmentation models add to `dbt build`, on an input and on N copies of it.

    python benchmarks/bench_segmentation.py --data ../shared/data/online_retail.parquet --scale 10

With --scale N the input is replicated N times into --work (customer ids and invoice numbers offset per
copy, so the copies are distinct customers), then `dbt build` runs on it and the script prints the wall
time of the whole build and dbt's own timing of each Python segmentation model. Prints figures; asserts
nothing (timings are noisy on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("segment_k_selection", "customer_segments", "segment_algorithm_comparison",
          "segment_feature_set_comparison", "segment_feature_importance")


def replicate(data: Path, copies: int, out: Path) -> Path:
    """``copies`` copies of the invoice lines, copy i with customer ids + i*100000 and invoice numbers + i*1000000."""
    lines = pd.read_parquet(data)
    frames = []
    for i in range(copies):
        copy = lines.copy()
        copy["CustomerID"] = copy["CustomerID"] + i * 100_000
        copy["InvoiceNo"] = copy["InvoiceNo"].astype("str").str.replace(
            r"\d+", lambda m, i=i: str(int(m.group()) + i * 1_000_000), regex=True)
        frames.append(copy)
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(frames, ignore_index=True).to_parquet(out, index=False)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_segmentation"))
    args = parser.parse_args(argv)
    data = args.data.resolve()
    if args.scale > 1:
        data = replicate(data, args.scale, args.work / f"lines_x{args.scale}.parquet")
    db = args.work / f"bench_x{args.scale}.duckdb"
    db.unlink(missing_ok=True)
    env = {**os.environ, "SEGMENTS_DB": str(db), "DO_NOT_TRACK": "1"}
    dbt = Path(sys.executable).parent / "dbt"
    started = time.perf_counter()
    result = subprocess.run([str(dbt), "build", "--vars", json.dumps({"transactions_path": str(data)}),
                             "--target-path", str(args.work / "target"), "--log-path", str(args.work / "logs")],
                            cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        print(result.stdout[-3000:])
        return 1
    timings = {r["unique_id"].split(".")[-1]: r["execution_time"]
               for r in json.loads((args.work / "target" / "run_results.json").read_text())["results"]}
    lines = len(pd.read_parquet(data, columns=["InvoiceNo"]))
    print(f"input: {lines:,} lines (x{args.scale}); dbt build wall time {wall:.1f} s")
    for model in MODELS:
        print(f"  {model:34s} {timings[model]:6.1f} s")
    print(f"  {'segmentation models, total':34s} {sum(timings[m] for m in MODELS):6.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
