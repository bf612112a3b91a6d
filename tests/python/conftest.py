"""Shared fixtures: real `dbt build` runs on real DuckDB files, in temporary directories.

A test that runs dbt (through run_dbt or a build fixture) carries the `dbt` marker; run_dbt refuses to run
for any other test, so `pytest -m "not dbt"` (`make test-fast`) runs no dbt at all.

Builds in the background: a build fixture whose work is a function registered with `background_build`
(the session's generated and real builds, and the modules' own builds) is started, two at a time, in
worker threads as soon as the session's first test is set up: the session's builds first, then the
modules', each in the order the selected tests first need them; the fixture then waits for its result
(or builds it then, when it was not started). Each build is still a separate dbt process in its own
directory, checked by the same assertions; only the waiting overlaps: most of a small build is dbt
starting up and parsing the project on one core, and the tests between two builds (and the dbt runs
inside tests) use the other. Only the builds that the selected tests with the `dbt` marker need are
started, so `pytest -m "not dbt"` starts none.

The dbt runs are children of one fork server (dbt_fork_server.py), which imports dbt once for the
session.

Shards: `make test` runs the suite as SHARDS pytest processes side by side (run_shards.py), each given
its share of the test files (env SEGMENTS_TEST_SHARD, "i/n": files dealt by their weight, heaviest
first, to the lightest shard) and one background worker. The session's builds are made once for all
shards in a directory they share (env SEGMENTS_TEST_SHARED), under a file lock: each shard starts with
a different one, and a shard that finds a build locked by another goes on with its own builds and waits
for that one only when a test needs it.
"""

from __future__ import annotations

import fcntl
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from dbt_fork_server import ForkServer
from synthetic_shop.generate import write_dataset

ROOT = Path(__file__).resolve().parents[2]
REAL_DATA = Path(os.environ.get("SEGMENTS_REAL_DATA", ROOT.parent / "shared" / "data" / "online_retail.parquet"))
DBT = Path(sys.executable).parent / "dbt"
#: The generated data set the end-to-end tests build on (same as `make data`, smaller for speed).
GENERATED_CUSTOMERS = 3000
GENERATED_SEED = 42
#: Whether the test being set up or run carries the `dbt` marker (set by pytest_runtest_setup below).
_test_may_run_dbt = False
#: This process's shard and the number of shards ("i/n", env SEGMENTS_TEST_SHARD; unset, one shard).
SHARD, SHARDS = (int(part) for part in os.environ.get("SEGMENTS_TEST_SHARD", "1/1").split("/"))
#: The directory the shards share the session's builds in (env SEGMENTS_TEST_SHARED; unset, none).
SHARED_DIR = os.environ.get("SEGMENTS_TEST_SHARED")
#: The cores one shard may keep busy (the tests that run a process pool size it so).
SHARD_CPUS = max(1, (os.cpu_count() or 1) // SHARDS)
#: Builds run at once in the background (the machine has 2 cores; see the module docstring).
BACKGROUND_WORKERS = 2 if SHARDS == 1 else 1


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    # tryfirst: before the test's fixtures (the session builds among them) are set up.
    global _test_may_run_dbt
    _test_may_run_dbt = item.get_closest_marker("dbt") is not None


# ---------------------------------------------------------------- shards

#: Seconds a test file took in a whole run of `make test` (two shards; waiting for its builds included):
#: the weights the files are dealt to shards by. A file not listed weighs DEFAULT_FILE_SECONDS.
FILE_SECONDS = {
    "test_predictions_e2e.py": 203, "test_k_stable.py": 197, "test_campaigns.py": 152, "test_core_selection.py": 95,
    "test_order_exports_build.py": 81, "test_settings.py": 75, "test_determinism.py": 74, "test_report.py": 68,
    "test_build_dates.py": 65, "test_pipeline_e2e.py": 52, "test_publish.py": 52, "test_segment_history.py": 51,
    "test_segment_ids_real.py": 46, "test_segmentation_e2e.py": 44, "test_inspect_build.py": 28,
    "test_redelivery_build.py": 26, "test_docs_metrics.py": 26, "test_plausibility_build.py": 24,
    "test_new_customer_build.py": 20, "test_real_predictions.py": 19, "test_kmeans_fast.py": 17,
    "test_value_reading.py": 16, "test_exports.py": 15, "test_netting_properties.py": 10,
    "test_small_shops_build.py": 10, "test_generate.py": 8, "test_first_purchase.py": 8,
}
DEFAULT_FILE_SECONDS = 2.0


def shard_of_files(files: list[str], shards: int) -> dict[str, int]:
    """Each file's shard (1..shards): the heaviest file first, each to the shard with the least so far."""
    load = [0.0] * shards
    shard_of = {}
    for file in sorted(files, key=lambda f: (-FILE_SECONDS.get(Path(f).name, DEFAULT_FILE_SECONDS), f)):
        lightest = load.index(min(load))
        load[lightest] += FILE_SECONDS.get(Path(file).name, DEFAULT_FILE_SECONDS)
        shard_of[file] = lightest + 1
    return shard_of


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SHARDS == 1:
        return
    shard_of = shard_of_files(sorted({item.nodeid.split("::")[0] for item in items}), SHARDS)
    others = [item for item in items if shard_of[item.nodeid.split("::")[0]] != SHARD]
    if others:
        config.hook.pytest_deselected(items=others)
        items[:] = [item for item in items if shard_of[item.nodeid.split("::")[0]] == SHARD]


#: What _shared returns when another shard holds the lock and the caller would not wait.
ELSEWHERE = object()


class _SharedTemp:
    """mktemp, as pytest's TempPathFactory has it, under a directory the shards share."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def mktemp(self, basename: str, numbered: bool = True) -> Path:
        return Path(tempfile.mkdtemp(prefix=basename, dir=self.root))


def _shared(key: str, make: Callable, factory, wait: bool = True):
    """``make(factory)`` once for every shard: with SHARED_DIR, made in a directory of its own there under
    a file lock and pickled, and read back by the other shards; or ELSEWHERE when another shard holds
    the lock and ``wait`` is false. A make that fails leaves nothing, and the next caller makes it."""
    if SHARED_DIR is None:
        return make(factory)
    root = Path(SHARED_DIR) / key
    root.mkdir(parents=True, exist_ok=True)
    with (root / "lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            return ELSEWHERE
        result_file = root / "result.pickle"
        if result_file.exists():
            return pickle.loads(result_file.read_bytes())
        result = make(_SharedTemp(root))
        (root / "result.pickle.part").write_bytes(pickle.dumps(result))
        (root / "result.pickle.part").rename(result_file)
        return result


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


#: The DuckDB file name a run may start from the session's parsed project with (see run_dbt).
PARSED_DB_NAME = "segments.duckdb"


def run_dbt(command: list[str], db_path: Path, work_dir: Path, dbt_vars: dict | None = None,
            env: dict[str, str] | None = None, write_json: bool = False,
            fresh_process: bool = False) -> subprocess.CompletedProcess:
    """Run the real dbt CLI on the project, writing the DuckDB file, target/ and logs/ under work_dir
    (``env``: env vars set for the run).

    The run is a child forked from the session's dbt fork server (dbt_fork_server.py: dbt and its
    libraries imported once, about 6 CPU seconds a run), or with ``fresh_process`` a process of its own
    started from the `dbt` console script, for a test that compares what two processes could make differ
    (their hash seeds).

    dbt writes target/manifest.json and run_results.json only with ``write_json`` (`--no-write-json`
    otherwise: serialising the manifest is about 2 of a small build's 11 CPU seconds, and most tests
    read the DuckDB file and dbt's output, not those files).

    A run into a file named PARSED_DB_NAME whose only var is transactions_path starts from the session's
    parsed project (dbt's own partial parsing, about 5 of a small build's 14 CPU seconds): dbt reparses
    from scratch when vars, the profile or the project differ, so the run gets the input as env
    SEGMENTS_DATA (the var's documented default, the same value in build_settings) and the file by a
    name relative to its directory, where dbt then runs. dbt checks the saved state itself and parses
    in full when anything differs."""
    if not (_test_may_run_dbt or getattr(_background_thread, "builds", False)):
        raise RuntimeError("this test runs dbt: mark it (or its module) with pytest.mark.dbt")
    env = {**os.environ, "SEGMENTS_DB": str(db_path), "DO_NOT_TRACK": "1", **(env or {})}
    dbt_vars, cwd = dict(dbt_vars or {}), ROOT
    db_path.parent.mkdir(parents=True, exist_ok=True)
    if (db_path.name == PARSED_DB_NAME and set(dbt_vars) <= {"transactions_path"}
            and isinstance(dbt_vars.get("transactions_path", ""), str)):
        parsed = parsed_project()
        if "transactions_path" in dbt_vars:
            env["SEGMENTS_DATA"] = dbt_vars.pop("transactions_path")
        env["SEGMENTS_DB"], cwd = PARSED_DB_NAME, db_path.parent
        saved = work_dir / "target" / parsed.name
        if not saved.exists():
            saved.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(parsed, saved)
    args = [str(DBT), *command, "--project-dir", str(ROOT), "--profiles-dir", str(ROOT),
            "--target-path", str(work_dir / "target"), "--log-path", str(work_dir / "logs")]
    if not write_json:
        args.append("--no-write-json")
    if dbt_vars:
        args += ["--vars", json.dumps(dbt_vars)]
    return _timed_run(args, cwd=cwd, env=env, fresh_process=fresh_process)


#: A file to which every dbt run of the session appends a JSON line of its wall and CPU seconds (env
#: SEGMENTS_TEST_DBT_LOG; unset, nothing is written): where the suite's time goes, for keeping it in budget.
DBT_RUN_LOG = os.environ.get("SEGMENTS_TEST_DBT_LOG")
#: When the session started (the log's "start" and "stop" seconds count from it).
_SESSION_START = time.monotonic()


#: Seconds after which a dbt run is killed.
DBT_TIMEOUT = 900


def _timed_run(args: list[str], cwd: Path, env: dict[str, str], fresh_process: bool) -> subprocess.CompletedProcess:
    """``dbt *args[1:]`` capturing text output (killed after DBT_TIMEOUT s), in a child of the fork
    server or (``fresh_process``, or outside a session) a process of its own, logging the run's wall and
    CPU seconds to DBT_RUN_LOG when set. The CPU is the child's own, not the session's children's, which
    the background builds' threads share."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dbt-run") as outputs:
        out, err = Path(outputs) / "stdout", Path(outputs) / "stderr"
        if _fork_server is not None and not fresh_process:
            returncode, cpu = _fork_server.run(args[1:], cwd, env, out, err, timeout=DBT_TIMEOUT)
        else:
            with out.open("w") as out_file, err.open("w") as err_file:
                proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=out_file, stderr=err_file,
                                        stdin=subprocess.DEVNULL)
                timer = threading.Timer(DBT_TIMEOUT, proc.kill)
                timer.start()
                try:
                    _, status, usage = os.wait4(proc.pid, 0)
                finally:
                    timer.cancel()
            returncode, cpu = os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime
        stdout, stderr = out.read_text(errors="replace"), err.read_text(errors="replace")
    if returncode == -9:
        raise subprocess.TimeoutExpired(args, DBT_TIMEOUT, stdout, stderr)
    if DBT_RUN_LOG:
        where = os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0] or threading.current_thread().name
        with open(DBT_RUN_LOG, "a") as log:
            log.write(json.dumps({"shard": SHARD, "test": where, "start": round(started - _SESSION_START, 1), "cwd": str(cwd),
                                  "db": env.get("SEGMENTS_DB"),
                                  "args": args[1:4] + (args[-1:] if "--vars" in args else []),
                                  "wall": round(time.monotonic() - started, 1),
                                  "fork": _fork_server is not None and not fresh_process,
                                  "cpu": round(cpu, 1)}) + "\n")
    return subprocess.CompletedProcess(args, returncode, stdout, stderr)


_parsed_lock = threading.Lock()
_parsed: list[Path] = []


def parsed_project() -> Path:
    """dbt's saved parse state (target/partial_parse.msgpack) of the project, made once per session by
    `dbt parse` with no vars, the environment of the tests and a DuckDB file named PARSED_DB_NAME."""
    with _parsed_lock:
        if not _parsed:
            work = Path(_builds.factory.mktemp("dbt-parse")) if _builds else Path(tempfile.mkdtemp(prefix="dbt-parse"))
            env = {**os.environ, "SEGMENTS_DB": PARSED_DB_NAME, "DO_NOT_TRACK": "1"}
            env.pop("SEGMENTS_DATA", None)
            result = _timed_run([str(DBT), "parse", "--project-dir", str(ROOT), "--profiles-dir", str(ROOT),
                                 "--target-path", str(work / "target"), "--log-path", str(work / "logs")],
                                cwd=work, env=env, fresh_process=False)
            assert result.returncode == 0, result.stdout[-3000:]
            _parsed.append(work / "target" / "partial_parse.msgpack")
        return _parsed[0]


def dbt_build(work_dir: Path, data_path: Path, dbt_vars: dict | None = None, db_name: str = "segments.duckdb",
              write_json: bool = False, fresh_process: bool = False) -> Build:
    work_dir.mkdir(parents=True, exist_ok=True)
    db_path = work_dir / db_name
    result = run_dbt(["build"], db_path, work_dir, {"transactions_path": str(data_path), **(dbt_vars or {})},
                     write_json=write_json, fresh_process=fresh_process)
    return Build(db_path=db_path, data_path=data_path, returncode=result.returncode, output=result.stdout + result.stderr)


# ---------------------------------------------------------------- builds in the background

#: Set in the threads that run background builds: only builds a selected dbt test needs run there.
_background_thread = threading.local()


@dataclass(frozen=True)
class BackgroundBuild:
    """A build function ``func(tmp_path_factory)`` and the fixtures (of its module, or of every module for
    conftest's) that return its result."""

    func: Callable
    fixtures: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.func.__module__}.{self.func.__qualname__}"


#: module name -> its background builds, in the order they were registered.
_BACKGROUND: dict[str, list[BackgroundBuild]] = {}


def background_build(*fixtures: str) -> Callable[[Callable], Callable]:
    """Register ``func(tmp_path_factory)`` as a build the session starts in the background when a selected
    test of its module uses one of ``fixtures``; the fixture returns ``built(func, tmp_path_factory)``."""
    def register(func: Callable) -> Callable:
        _BACKGROUND.setdefault(func.__module__, []).append(BackgroundBuild(func, fixtures))
        return func
    return register


class _Builds:
    """The background builds of one session: a pool of BACKGROUND_WORKERS threads and a future per build."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self.factory = factory
        self.lock = threading.Lock()
        self.futures: dict[str, Future] = {}
        self.pool = ThreadPoolExecutor(max_workers=BACKGROUND_WORKERS, thread_name_prefix="dbt-build")

    def _call(self, func: Callable, wait: bool):
        """func's result; the session's builds (conftest's) through _shared, made once for all shards."""
        if func.__module__ == __name__:
            return _shared(BackgroundBuild(func, ()).key, func, self.factory, wait)
        return func(self.factory)

    def _run(self, func: Callable):
        _background_thread.builds = True
        return self._call(func, wait=False)

    def start(self, build: BackgroundBuild) -> None:
        with self.lock:
            if build.key not in self.futures:
                self.futures[build.key] = self.pool.submit(self._run, build.func)

    def result(self, func: Callable):
        key = BackgroundBuild(func, ()).key
        with self.lock:
            future = self.futures.get(key)
            # Not started (or still queued): build it here, now, rather than wait behind the queue.
            inline = future is None or future.cancel()
            if inline:
                future = self.futures[key] = Future()
                future.set_running_or_notify_cancel()
        if inline:
            try:
                future.set_result(self._call(func, wait=True))
            except BaseException as error:  # a failed assertion or a skip, raised to the fixture below
                future.set_exception(error)
        result = future.result()
        # Another shard was making it when the background worker came to it: wait for that shard's.
        return self._call(func, wait=True) if result is ELSEWHERE else result

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


_builds: _Builds | None = None
#: The session's dbt fork server (run_dbt), started with the session when a selected test runs dbt.
_fork_server: ForkServer | None = None


@pytest.fixture(scope="session", autouse=True)
def _background_builds(request, tmp_path_factory):
    """Start the background builds the selected dbt tests need: the session's, then the modules', each in
    the order the tests first need them."""
    global _builds, _fork_server
    base = tmp_path_factory.getbasetemp()  # made here, once, before any thread makes directories under it
    _builds = _Builds(tmp_path_factory)
    dbt_items = [item for item in request.session.items if item.get_closest_marker("dbt") is not None]
    if dbt_items:
        _fork_server = ForkServer(sys.executable, str(DBT), base / "dbt-fork.sock")
        _builds.pool.submit(_fork_server.start)  # its imports overlap the first tests
    # The session's builds first (many modules' tests wait for them: the real build, started in the order
    # of need, was once started only after eight modules' builds, and its first test sat waiting), then
    # each module's own, in the order the tests first need them.
    for session_builds in (True, False):
        needed = [build for item in dbt_items
                  for build in _BACKGROUND.get(__name__ if session_builds else item.module.__name__, ())
                  if set(build.fixtures) & set(item.fixturenames)]
        needed = list(dict.fromkeys(needed))
        if session_builds:  # each shard starts with another of the session's builds (see the module docstring)
            needed = needed[(SHARD - 1) % len(needed):] + needed[:(SHARD - 1) % len(needed)] if needed else needed
        for build in needed:
            _builds.start(build)
    yield
    _builds.close()
    _builds = None
    if _fork_server is not None:
        _fork_server.stop()
        _fork_server = None


def built(func: Callable, tmp_path_factory: pytest.TempPathFactory):
    """The result of the background build ``func``: waited for when it was started, else built now."""
    if _builds is None:
        return func(tmp_path_factory)
    return _builds.result(func)


_generated_lock = threading.Lock()
_generated_paths: dict[str, Path] = {}


def generated_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The generated data set's files (written once per session, from any thread)."""
    with _generated_lock:
        if not _generated_paths:
            _generated_paths.update(_shared("generated_paths", lambda factory: write_dataset(
                factory.mktemp("generated"), n_customers=GENERATED_CUSTOMERS, seed=GENERATED_SEED), tmp_path_factory))
        return dict(_generated_paths)


def real_data_path() -> Path:
    if not REAL_DATA.exists():
        pytest.skip(f"real data set not found at {REAL_DATA}")
    return REAL_DATA


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def generated_data(tmp_path_factory) -> dict[str, Path]:
    return generated_paths(tmp_path_factory)


@background_build("generated_build")
def build_generated(tmp_path_factory) -> Build:
    # With dbt's JSON: test_publish reads its run_results.json as publish reads a build's.
    build = dbt_build(tmp_path_factory.mktemp("build"), generated_paths(tmp_path_factory)["invoice_lines"],
                      write_json=True)
    assert build.returncode == 0, build.output[-5000:]
    return build


@pytest.fixture(scope="session")
def generated_build(tmp_path_factory, generated_data) -> Build:
    return built(build_generated, tmp_path_factory)


@pytest.fixture()
def copy_of_build(generated_build, tmp_path) -> Build:
    """A private copy of the generated build's DuckDB file, safe to tamper with."""
    db_path = tmp_path / "copy" / PARSED_DB_NAME
    db_path.parent.mkdir()
    shutil.copyfile(generated_build.db_path, db_path)
    return Build(db_path, generated_build.data_path, generated_build.returncode, generated_build.output)


@pytest.fixture(scope="session")
def real_data() -> Path:
    return real_data_path()


@background_build("real_build")
def build_real(tmp_path_factory) -> Build:
    build = dbt_build(tmp_path_factory.mktemp("real"), real_data_path())
    assert build.returncode == 0, build.output[-5000:]
    return build


@pytest.fixture(scope="session")
def real_build(tmp_path_factory, real_data) -> Build:
    return built(build_real, tmp_path_factory)


@background_build("published_build")
def publish_generated(tmp_path_factory) -> Build:
    """The generated build published as readers get it (file_replacement.publish), in its own directory."""
    from customer_segments.delivery.file_replacement import publish

    generated = built(build_generated, tmp_path_factory)
    work = tmp_path_factory.mktemp("publish")
    working = work / "working.duckdb"
    shutil.copyfile(generated.db_path, working)
    published = publish(working, work / "served" / "customer_segments.duckdb")
    return Build(published, generated.data_path, generated.returncode, generated.output)


@pytest.fixture(scope="session")
def published_build(tmp_path_factory, generated_build) -> Build:
    """The generated build published as readers get it (file_replacement.publish), in its own directory."""
    return built(publish_generated, tmp_path_factory)


# ---------------------------------------------------------------- time per test file

#: Seconds spent per test file (setup, call and teardown of its tests; waiting for a background build counts
#: where a test waited), printed at the end of the run.
_file_seconds: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::", 1)[0]
    _file_seconds[path] = _file_seconds.get(path, 0.0) + report.duration
    if DBT_RUN_LOG and report.duration > 1:  # the tests' own time line, beside the dbt runs'
        with open(DBT_RUN_LOG, "a") as log:
            log.write(json.dumps({"shard": SHARD, "phase": report.when, "test": report.nodeid,
                                  "duration": round(report.duration, 1),
                                  "stop": round(time.monotonic() - _SESSION_START, 1)}) + "\n")


def pytest_terminal_summary(terminalreporter) -> None:
    if not _file_seconds:
        return
    terminalreporter.section("seconds per test file")
    for path, seconds in sorted(_file_seconds.items(), key=lambda item: -item[1]):
        terminalreporter.write_line(f"{seconds:8.1f}  {path}")
    terminalreporter.write_line(f"{sum(_file_seconds.values()):8.1f}  in all")
