"""Real dbt CLI runs without paying for dbt's imports each time: a fork server for the tests.

A dbt process spends about 6 of a small build's 15 CPU seconds importing dbt, its DuckDB adapter, pandas
and scikit-learn before it reads a file. The server is one process that imports them once and then, for
each run asked of it, forks a child that runs exactly what the `dbt` console script runs
(``dbt.cli.main.cli`` with the run's arguments, working directory and environment) and exits. Each run
is still its own process with the project's code and dbt's state fresh from import: nothing of one run
is left in the next, since the server itself never runs dbt. Forking is safe because the server runs one
thread of its own (checked before it serves); the one other native thread, pyarrow's jemalloc background
thread, is jemalloc's, which prepares itself for fork.

What a forked child shares with its siblings is the server's hash seed and random state. A test that
compares two builds for what the process could change (test_determinism.py) runs them as separate
processes (run_dbt(..., fresh_process=True)).

Protocol, over a Unix socket, one connection per run: the client sends one JSON line {args, cwd, env,
stdout, stderr} (the last two file paths), the child answers a line {"pid": n} when it starts and a line
{"code": exit code, "cpu": its CPU seconds} when dbt is done.
"""

from __future__ import annotations

import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import NoReturn

#: Imported once in the server, in this order: the package first (it fixes the native thread pools at one
#: thread before numpy loads, as in every Python model), then what every dbt run loads.
PRELOAD = ("customer_segments", "numpy", "pandas", "sklearn.cluster", "duckdb", "dbt.cli.main",
           "dbt.adapters.duckdb", "dbt.adapters.duckdb.impl")


#: Native threads a library starts on import that are safe across fork (jemalloc's pthread_atfork hooks).
FORK_SAFE_THREADS = frozenset({"jemalloc_bg_thd"})


def _other_threads() -> list[str]:
    """The names of the process's native threads other than the main one and FORK_SAFE_THREADS."""
    names = [Path(f"/proc/self/task/{task}/comm").read_text().strip() for task in os.listdir("/proc/self/task")
             if int(task) != os.getpid()]
    return [name for name in names if name not in FORK_SAFE_THREADS]


def _run_child(conn: socket.socket, request: dict) -> NoReturn:
    """In the forked child: run the dbt CLI as the console script would, report, and exit as it does."""
    # The atexit handlers the server holds came with its imports, as the console script's would (dbt-duckdb's
    # closes its DuckDB connection): they run at this child's exit, beside those the run registers.
    try:
        os.setpgrp()  # so the client's kill reaches anything dbt starts too
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(target, fd)
            os.close(target)
        conn.sendall((json.dumps({"pid": os.getpid()}) + "\n").encode())
        from dbt.cli.main import cli

        sys.argv = [request["dbt"], *request["args"]]
        try:
            cli()
            code = 0
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:  # anything else the console script would have printed and exited 1 on
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    conn.sendall((json.dumps({"code": code, "cpu": round(usage.ru_utime + usage.ru_stime, 2)}) + "\n").encode())
    # A normal exit, as the console script's: its atexit handlers close dbt's DuckDB connection, which
    # writes its log (the .wal) into the file. (os._exit would leave the last tables in the .wal, lost to
    # a test that copies the .duckdb file.)
    raise SystemExit(code)


def serve(socket_path: str) -> None:
    for module in PRELOAD:
        __import__(module)
    if threading.active_count() != 1 or _other_threads():
        raise SystemExit(f"dbt fork server: threads {_other_threads()} after the imports; forking is unsafe")
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(socket_path)
    server.listen(16)
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        request = json.loads(conn.makefile("r").readline())
        if request.get("stop"):
            conn.close()
            return
        if os.fork() == 0:
            server.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _run_child(conn, request)
        conn.close()


class ForkServer:
    """The client side: start the server once, then run(args, cwd, env) from any thread."""

    def __init__(self, python: str, dbt: str, socket_path: Path) -> None:
        self.dbt = dbt
        self.socket_path = socket_path
        self.lock = threading.Lock()
        self.process: subprocess.Popen | None = None
        self.python = python

    def start(self) -> None:
        """Start the server unless it runs (in a thread, say, so its imports overlap other work)."""
        with self.lock:
            if self.process is None:
                env = {**os.environ, "DO_NOT_TRACK": "1"}
                # The console script's own import path: its directory first, not this one's.
                code = (f"import sys; sys.path[0] = {str(Path(self.dbt).parent)!r}; "
                        f"sys.path.insert(1, {str(Path(__file__).parent)!r}); "
                        f"import dbt_fork_server; dbt_fork_server.serve({str(self.socket_path)!r})")
                self.process = subprocess.Popen([self.python, "-c", code], stdout=subprocess.PIPE,
                                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                                env=env, text=True)
                line = self.process.stdout.readline()
                if line.strip() != "ready":
                    raise RuntimeError(f"the dbt fork server did not start (rc {self.process.poll()})")

    def run(self, args: list[str], cwd: Path, env: dict[str, str], stdout: Path, stderr: Path,
            timeout: float) -> tuple[int, float]:
        """Run ``dbt *args`` in a fresh child; its exit code and CPU seconds. Killed after ``timeout``
        seconds (exit code -9)."""
        self.start()
        started = time.monotonic()
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(str(self.socket_path))
            conn.sendall((json.dumps({"dbt": self.dbt, "args": args, "cwd": str(cwd), "env": env,
                                      "stdout": str(stdout), "stderr": str(stderr)}) + "\n").encode())
            replies = conn.makefile("r")
            pid = json.loads(replies.readline())["pid"]
            # Done when the child is gone, not when it has reported: until it exits, the DuckDB file it
            # wrote is still locked (dbt-duckdb closes it at exit, as the console script's process does).
            try:
                exited = os.pidfd_open(pid)
            except ProcessLookupError:  # already gone
                exited = None
            if exited is not None:
                try:
                    if not select.select([exited], [], [], timeout)[0]:
                        os.killpg(pid, signal.SIGKILL)
                        select.select([exited], [], [], 60)
                        return -9, time.monotonic() - started
                finally:
                    os.close(exited)
            line = replies.readline()
        if not line:  # the child died without reporting (a crash in native code)
            return -1, 0.0
        result = json.loads(line)
        return result["code"], result["cpu"]

    def stop(self) -> None:
        with self.lock:
            if self.process is not None and self.process.poll() is None:
                try:
                    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                        conn.connect(str(self.socket_path))
                        conn.sendall(b'{"stop": true}\n')
                    self.process.wait(timeout=30)
                except (OSError, subprocess.TimeoutExpired):
                    self.process.kill()
            self.process = None
