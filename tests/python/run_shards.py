"""`make test`: the whole suite as SHARDS pytest processes side by side, one per core.

One pytest process keeps about one core busy: its tests run one at a time, and most of them wait on a
dbt process. Each shard gets its share of the test files (conftest.shard_of_files) and the session's
builds are made once for all of them in a directory they share (conftest._shared). Each shard's output
goes to a file and is printed when the shard ends; the exit status is the first failing shard's.
Arguments are passed to every shard's pytest.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARDS = int(os.environ.get("SEGMENTS_TEST_SHARDS", "2"))


def main(args: list[str]) -> int:
    shared = Path(tempfile.mkdtemp(prefix="segments-shards-"))
    started = time.monotonic()
    try:
        running = {}
        for shard in range(1, SHARDS + 1):
            output = shared / f"shard-{shard}.log"
            env = {**os.environ, "SEGMENTS_TEST_SHARD": f"{shard}/{SHARDS}", "SEGMENTS_TEST_SHARED": str(shared)}
            with output.open("w") as out:
                running[shard] = subprocess.Popen([sys.executable, "-m", "pytest", *args], cwd=ROOT, env=env,
                                                  stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            print(f"shard {shard}/{SHARDS}: pytest started, its output is printed when it ends", flush=True)
        returncodes, seconds = {}, {}
        while running:
            pid, status = os.wait()
            shard = next((s for s, proc in running.items() if proc.pid == pid), None)
            if shard is None:
                continue
            running.pop(shard).returncode = returncodes[shard] = os.waitstatus_to_exitcode(status)
            seconds[shard] = time.monotonic() - started
            print(f"\n{'=' * 30} shard {shard}/{SHARDS} (ended after {seconds[shard]:.0f} s) {'=' * 30}", flush=True)
            sys.stdout.write((shared / f"shard-{shard}.log").read_text(errors="replace"))
            sys.stdout.flush()
        for shard in sorted(returncodes):
            print(f"shard {shard}/{SHARDS}: exit {returncodes[shard]} after {seconds[shard]:.0f} s")
        print(f"all shards: {time.monotonic() - started:.0f} s")
        return next((code for _, code in sorted(returncodes.items()) if code != 0), 0)
    finally:
        shutil.rmtree(shared, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
