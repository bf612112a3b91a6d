"""Build into a working DuckDB file, then publish a fresh copy of it atomically to the file readers use.

DuckDB allows one writer or many readers per file. A BI tool holding the served file open would make
`dbt build` fail to take its lock, and a reader opening mid-build would see half a build. So dbt
writes to a working file (``SEGMENTS_DB``) and, only when every model, seed and test of the project
ran and passed, a new file replaces the served file (``SEGMENTS_PUBLISHED``) with one ``os.replace``:
a rename within one file system, atomic on POSIX.

The new file is written table by table from the working file (``CREATE TABLE ... AS SELECT``), not
copied byte for byte: it holds only the relations of the current build, and none of the free blocks
in which a working file reused across builds keeps earlier builds' data. It keeps the permission bits
and owner of the file it replaces. Readers already connected keep the old file's inode, a consistent
snapshot, until every connection of their process to that file is closed (docs/publishing.md).

Usage::

    python -m customer_segments.delivery.publish [--no-wait] [any dbt build arguments, e.g. --vars '{...}']
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from customer_segments.settings import BY_NAME, SettingsError, check_environment, sql_identifier, sql_literal

#: Where dbt writes (the profile reads the same variable); relative to the project root.
DEFAULT_WORKING = Path(str(BY_NAME["SEGMENTS_DB"].default))
#: The file BI tools, the report and the exports read; relative to the project root.
DEFAULT_PUBLISHED = Path(str(BY_NAME["SEGMENTS_PUBLISHED"].default))
#: Permission bits of a first publish (no file to take them from), further restricted by the umask:
#: owner read-write, group read, others nothing. Customer data is never world-readable by default.
DEFAULT_MODE = 0o640
#: dbt build options that would build, or check, only part of the project, or build somewhere else
#: than the working file: a publish is a whole build of this project or nothing.
REFUSED_DBT_OPTIONS = (
    "--select", "-s", "--models", "--model", "-m", "--exclude", "--selector", "--resource-types",
    "--resource-type", "--exclude-resource-types", "--exclude-resource-type", "--indirect-selection",
    "--defer", "--defer-state", "--state", "--favor-state", "--deprecated-favor-state", "--empty",
    "--sample", "--event-time-start", "--event-time-end", "--target", "-t", "--profile",
    "--profiles-dir", "--no-write-json",
)
#: What run_results.json says of a node that ran and passed (a test that warns still passed).
PASSED = {"model": {"success"}, "seed": {"success"}, "snapshot": {"success"},
          "test": {"pass", "warn"}, "unit_test": {"pass", "warn"}}
#: How long dbt gets to stop after the forwarded signal before it is killed.
DBT_STOP_SECONDS = 30


class PublishError(RuntimeError):
    """The build failed or the working file cannot be published; the served file is untouched."""


@dataclass(frozen=True)
class Relation:
    """A table or view of the build, as the dbt manifest names it."""

    schema: str
    name: str
    is_view: bool


@dataclass(frozen=True)
class Published:
    """What a publish did."""

    path: Path
    size_bytes: int
    tables: tuple[str, ...]
    views: tuple[str, ...]
    mode: int
    uid: int
    gid: int
    owner_note: str


def working_path(environ: dict[str, str] | None = None) -> Path:
    """The working file dbt writes: env ``SEGMENTS_DB`` or :data:`DEFAULT_WORKING`."""
    return Path((environ if environ is not None else os.environ).get("SEGMENTS_DB", DEFAULT_WORKING))


def published_path(environ: dict[str, str] | None = None) -> Path:
    """The served file: env ``SEGMENTS_PUBLISHED`` or :data:`DEFAULT_PUBLISHED`."""
    return Path((environ if environ is not None else os.environ).get("SEGMENTS_PUBLISHED", DEFAULT_PUBLISHED))


def storage_version(environ: dict[str, str] | None = None) -> str:
    """The storage format to write: env ``SEGMENTS_STORAGE_VERSION``, checked as the profile checks it."""
    return str(check_environment(environ)["SEGMENTS_STORAGE_VERSION"])


def connect_published(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a published file, with a clear error when it is not there."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: published database not found; run `python -m customer_segments.delivery.publish`")
    return duckdb.connect(str(path), read_only=True)


def run_reader_cli(description: str, default_out: Path, action: Callable[[Path, Path], str],
                   argv: list[str] | None = None) -> int:
    """The command line shared by the readers of the published file (report, exports).

    ``action(db_path, out_path)`` does the work and returns what to print; its FileNotFoundError or
    ValueError becomes a one-line error and exit code 2.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--db", type=Path, default=None, help=f"default: $SEGMENTS_PUBLISHED or {DEFAULT_PUBLISHED}")
    parser.add_argument("--out", type=Path, default=default_out, help=f"default: {default_out}")
    args = parser.parse_args(argv)
    try:
        print(action(args.db or published_path(), args.out))
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


# ---------- what may be published

def refuse_partial_build(dbt_args: Sequence[str]) -> None:
    """Raise PublishError when ``dbt_args`` select part of the project or another target.

    Both ``--select x`` and ``--select=x`` forms are refused, and short options glued to their value (``-sx``).
    """
    for arg in dbt_args:
        option = arg.split("=", 1)[0]
        glued_short = len(arg) > 2 and arg[0] == "-" and arg[1] != "-" and arg[:2] in REFUSED_DBT_OPTIONS
        if option in REFUSED_DBT_OPTIONS or glued_short:
            raise PublishError(
                f"dbt option {option if not glued_short else arg[:2]} refused: only a build of every model, seed "
                "and test of the project is published (run plain `dbt build` with it to work on part of the project)")


def dbt_target_path(dbt_args: Sequence[str], project_dir: Path, environ: dict[str, str] | None = None) -> Path:
    """The directory dbt writes manifest.json and run_results.json to: ``--target-path``, env
    ``DBT_TARGET_PATH`` or ``target`` (dbt_project.yml), relative to the project directory."""
    value: str | None = None
    for i, arg in enumerate(dbt_args):
        if arg == "--target-path" and i + 1 < len(dbt_args):
            value = dbt_args[i + 1]
        elif arg.startswith("--target-path="):
            value = arg.split("=", 1)[1]
    if value is None:
        value = (environ if environ is not None else os.environ).get("DBT_TARGET_PATH", "target")
    return Path(project_dir) / value


def completed_relations(target_path: Path, working: Path, since: float = 0.0) -> list[Relation]:
    """The tables and views of a build in which every model, seed and test of the project ran and passed.

    Parameters
    ----------
    target_path : Path
        dbt's target directory holding the build's ``manifest.json`` and ``run_results.json``.
    working : Path
        The working file: every model and seed must have been built into it (its catalog name).
    since : float
        Epoch seconds the build started; older results are those of another run.

    Returns
    -------
    list of Relation
        The project's models and seeds in manifest order (ephemeral models have no relation).

    Raises
    ------
    PublishError
        Results missing, stale, of another invocation, of a partial or deferred build, with a node
        that did not pass, or built into another database.
    """
    manifest_file, results_file = Path(target_path) / "manifest.json", Path(target_path) / "run_results.json"
    if not results_file.is_file() or results_file.stat().st_mtime < since:
        raise PublishError(f"{results_file}: no results of this build; nothing published")
    manifest = json.loads(manifest_file.read_text())
    results = json.loads(results_file.read_text())
    if manifest["metadata"].get("invocation_id") != results["metadata"].get("invocation_id"):
        raise PublishError(f"{target_path}: manifest.json and run_results.json are of different dbt runs")
    args = results.get("args", {})
    partial = [name for name in ("select", "exclude", "selector", "resource_types", "exclude_resource_types",
                                 "defer", "favor_state", "empty", "sample") if args.get(name)]
    if partial:
        raise PublishError(f"the build was run with {', '.join(partial)}: only a whole build is published")
    project = manifest["metadata"].get("project_name")
    expected = {uid: node for uid, node in {**manifest["nodes"], **manifest.get("unit_tests", {})}.items()
                if node.get("resource_type") in PASSED and node.get("package_name") == project}
    status = {result["unique_id"]: result["status"] for result in results["results"]}
    not_passed = sorted(f"{uid} ({status.get(uid, 'not run')})" for uid, node in expected.items()
                        if status.get(uid) not in PASSED[node["resource_type"]])
    if not_passed:
        shown = ", ".join(not_passed[:3]) + (f" and {len(not_passed) - 3} more" if len(not_passed) > 3 else "")
        raise PublishError(f"{len(not_passed)} of {len(expected)} models, seeds and tests did not run and pass: "
                           f"{shown}; nothing published")
    relations = []
    for node in expected.values():
        materialized = node.get("config", {}).get("materialized")
        if node["resource_type"] not in ("model", "seed", "snapshot") or materialized == "ephemeral":
            continue
        if node["database"] != dbt_database_name(working):
            raise PublishError(f"{node['unique_id']} was built into database {node['database']!r}, "
                               f"not the working file {working}; nothing published")
        relations.append(Relation(node["schema"], node.get("alias") or node["name"], materialized == "view"))
    return relations


def dbt_database_name(path: Path) -> str:
    """The database name dbt-duckdb gives the file it writes: the file name up to its first dot
    (`customer_segments.build.duckdb` is `customer_segments`), as its credentials infer it."""
    return Path(path).name.lstrip(".").split(".")[0]


def working_relations(working: Path) -> list[Relation]:
    """Every user table and view of a working file, for publishing one without its dbt artifacts."""
    with duckdb.connect(str(working), read_only=True) as con:
        rows = con.execute(
            "select schema_name, table_name, false from duckdb_tables() where not internal and not temporary "
            "union all select schema_name, view_name, true from duckdb_views() where not internal and not temporary "
            "order by 3, 1, 2").fetchall()
    return [Relation(schema, name, is_view) for schema, name, is_view in rows]


# ---------- lock, checks on the served file

def lock_path(published: Path) -> Path:
    """The lock file every publisher of ``published`` takes: beside it, never removed."""
    return Path(published).with_name(Path(published).name + ".lock")


@contextmanager
def publish_lock(published: Path, wait: bool = True) -> Iterator[None]:
    """Hold the exclusive lock of ``published`` (``fcntl.flock`` on :func:`lock_path`).

    A second publisher waits, saying which process it waits for, or with ``wait=False`` raises
    PublishError. The kernel releases the lock when the holder exits, however it exits.
    """
    path = lock_path(published)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except PermissionError:   # a lock file of another user: reading it is enough to lock it
        fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            if not wait:
                raise PublishError(f"another publish of {published} is running (pid {holder}, lock {path}); "
                                   "nothing published") from None
            print(f"waiting for another publish of {published} (pid {holder}, lock {path})", file=sys.stderr,
                  flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass   # read-only lock file: the pid is only shown to a waiting publisher
        yield
    finally:
        os.close(fd)


def served_file(published: Path) -> Path:
    """The file that readers of ``published`` open: a symlink's target. Replacing the link itself would
    leave readers of the target on the old build, and the lock would be taken on another name."""
    return Path(os.path.realpath(Path(published).absolute()))


def _dbt_child_setup() -> None:
    """Runs in the dbt child before it starts: files it creates are the owner's only (the working file
    holds every customer's data), and it is sent SIGTERM if the publisher dies, even by SIGKILL (Linux),
    so that no build goes on writing after the lock is released."""
    os.umask(0o077)
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM))


def _refuse_same_file(working: Path, published: Path) -> None:
    same = working.resolve() == published.resolve() or (
        working.exists() and published.exists() and os.path.samefile(working, published))
    if same:
        raise PublishError(f"SEGMENTS_DB and SEGMENTS_PUBLISHED are the same file ({published.resolve()}): "
                           "dbt must write a working file that readers never open")


def _hold_against_writers(published: Path) -> duckdb.DuckDBPyConnection | None:
    """A read-only connection to the served file, or PublishError naming a process that holds it read-write.

    While this connection is open its shared lock keeps any process from opening the old file read-write,
    so none can write a log beside the new file after the rename.
    """
    if not published.exists():
        return None
    try:
        return duckdb.connect(str(published), read_only=True)
    except duckdb.Error as error:
        held = re.search(r"Conflicting lock is held in (.*?) \(PID (\d+)\)", str(error))
        if held:
            raise PublishError(f"{published} is open read-write by {held.group(1)} (PID {held.group(2)}); readers "
                               "must open it read-only. Close that process, then publish again") from None
        raise PublishError(f"{published}: cannot open the served file: {error}") from None


def _remove_leftovers(published: Path) -> None:
    # Under the lock no other publisher runs: a temporary directory here is one a killed publisher left.
    for leftover in published.parent.glob(f".{published.name}.publishing.*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------- the new file

def _write_fresh_copy(working: Path, fresh: Path, relations: Sequence[Relation], version: str) -> None:
    """Write ``relations`` of ``working`` into the new file ``fresh`` and check it reads the same rows."""
    config = {"storage_compatibility_version": version, "preserve_insertion_order": True,
              "autoinstall_known_extensions": False, "autoload_known_extensions": False,
              "memory_limit": str(check_environment()["SEGMENTS_MEMORY_LIMIT"])}
    with duckdb.connect(str(fresh), config=config) as con:
        # A read-only attach: folds in the working file's log, if any, without writing to it.
        con.execute(f"attach {sql_literal(str(working))} as build_source (read_only)")
        views = {}
        for relation in relations:
            con.execute(f"create schema if not exists {sql_identifier(relation.schema)}")
            source = f"build_source.{sql_identifier(relation.schema)}.{sql_identifier(relation.name)}"
            if relation.is_view:
                found = con.execute("select sql from duckdb_views() where database_name = 'build_source' "
                                    "and schema_name = ? and view_name = ?",
                                    [relation.schema, relation.name]).fetchone()
                if found is None:
                    raise PublishError(f"view {relation.schema}.{relation.name} not found in {working}")
                views[relation] = found[0]
            else:
                con.execute(f"create table {sql_identifier(relation.schema)}.{sql_identifier(relation.name)} as "
                            f"select * from {source}")
        # A view's SQL names its relations by schema and name (no catalog), so it reads the new file's
        # tables; views on views are created once what they read exists.
        pending = dict(views)
        while pending:
            created = []
            for relation, sql in pending.items():
                con.execute(f"set schema = {sql_literal(relation.schema)}")
                try:
                    con.execute(sql)
                    created.append(relation)
                except duckdb.CatalogException:
                    continue
            if not created:
                names = ", ".join(f"{r.schema}.{r.name}" for r in pending)
                raise PublishError(f"views {names} read relations that are not published")
            for relation in created:
                del pending[relation]
        for relation in relations:
            name = f"{sql_identifier(relation.schema)}.{sql_identifier(relation.name)}"
            new, old = con.execute(f"select (select count(*) from {name}), "
                                   f"(select count(*) from build_source.{name})").fetchone()
            if new != old:
                raise PublishError(f"{relation.name}: {new} rows written, {old} in {working}")
        con.execute("detach build_source")
        con.execute("checkpoint")
    # Refuse to serve a file that does not open on its own.
    with duckdb.connect(str(fresh), read_only=True) as con:
        for relation in relations:
            con.execute(f"select count(*) from {sql_identifier(relation.schema)}.{sql_identifier(relation.name)}").fetchone()
    _fsync(fresh)


def _take_mode_and_owner(fresh: Path, published: Path) -> tuple[int, int, int, str]:
    """Give ``fresh`` the permission bits and owner of ``published``, or the default mode for a first publish.

    When the owner cannot be kept (a publisher that is not root replacing another user's file) the
    group is kept if the publisher may, otherwise the group bits are cleared so that no other group
    gains access. Returns (mode, uid, gid, note).
    """
    if not published.exists():
        umask = os.umask(0)
        os.umask(umask)
        mode = DEFAULT_MODE & ~umask
        os.chmod(fresh, mode)
        info = fresh.stat()
        return mode, info.st_uid, info.st_gid, f"first publish: mode {mode:04o}"
    old = published.stat()
    mode, note = stat.S_IMODE(old.st_mode), "mode and owner kept"
    try:
        os.chown(fresh, old.st_uid, old.st_gid)
    except PermissionError:
        try:
            os.chown(fresh, -1, old.st_gid)
            note = f"mode and group kept; owner is now uid {os.getuid()} (was {old.st_uid}: not permitted)"
        except PermissionError:
            mode &= ~0o070
            note = (f"owner and group not permitted (were {old.st_uid}:{old.st_gid}): group permissions "
                    "cleared")
    os.chmod(fresh, mode)
    info = fresh.stat()
    return mode, info.st_uid, info.st_gid, note


def _publish_locked(working: Path, published: Path, relations: Sequence[Relation]) -> Published:
    _remove_leftovers(published)
    if Path(f"{published}.wal").exists():
        raise PublishError(
            f"{published}.wal exists: a process opened the published file read-write. Readers must open it "
            "read-only; stop that process and remove the .wal file before publishing.")
    version = storage_version()
    # A private directory (mode 0700) beside the served file: the new file and DuckDB's own temporary
    # files are never readable by others, and os.replace stays within one file system.
    staging = Path(tempfile.mkdtemp(prefix=f".{published.name}.publishing.", dir=published.parent))
    try:
        fresh = staging / published.name
        try:
            _write_fresh_copy(working, fresh, relations, version)
        except duckdb.Error as error:
            raise PublishError(f"writing the new file from {working} failed: {error}") from None
        mode, uid, gid, note = _take_mode_and_owner(fresh, published)
        holder = _hold_against_writers(published)
        try:
            os.replace(fresh, published)
            _fsync(published.parent)
        finally:
            if holder is not None:
                holder.close()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Published(
        path=published, size_bytes=published.stat().st_size,
        tables=tuple(r.name for r in relations if not r.is_view), views=tuple(r.name for r in relations if r.is_view),
        mode=mode, uid=uid, gid=gid, owner_note=note)


def publish_build(working: Path, published: Path, relations: Sequence[Relation] | None = None,
                  wait: bool = True) -> Published:
    """Atomically replace ``published`` with a fresh file holding ``relations`` of ``working``.

    Parameters
    ----------
    working : Path
        A DuckDB file no other process is writing (dbt has exited).
    published : Path
        The served file; its directory is created if needed.
    relations : sequence of Relation, optional
        What to publish, as :func:`completed_relations` checked it; default: every table and view of
        ``working`` (for a working file known to hold one whole build and nothing else).
    wait : bool
        Wait for another publisher of ``published`` (else PublishError).

    Raises
    ------
    PublishError
        ``working`` missing or the same file as ``published``; another publisher (``wait=False``); a
        ``.wal`` beside the served file; a process holding the served file read-write; a new file that
        does not read the same rows. The served file is then untouched and no temporary file is left.
    """
    working, published = Path(working).absolute(), served_file(published)
    _refuse_same_file(working, published)
    if not working.is_file():
        raise PublishError(f"{working}: working database not found; run the build first")
    published.parent.mkdir(parents=True, exist_ok=True)
    with publish_lock(published, wait):
        return _publish_locked(working, published, relations if relations is not None else working_relations(working))


def publish(working: Path, published: Path) -> Path:
    """:func:`publish_build` of every relation of ``working``; returns ``published``."""
    return publish_build(working, published).path


# ---------- build, then publish

class Interrupted(BaseException):
    """SIGINT or SIGTERM reached the publisher (a BaseException, so that no ``except Exception`` swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_interrupted(signum: int, frame: object) -> None:
    raise Interrupted(signum)


def _stop(process: subprocess.Popen, signum: int) -> None:
    """Forward ``signum`` to dbt's process group, wait for it, kill the group if it does not stop."""
    try:
        os.killpg(process.pid, signum)
        process.wait(timeout=DBT_STOP_SECONDS)
    except (subprocess.TimeoutExpired, Interrupted):
        pass
    except ProcessLookupError:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def _describe(result: Published, working: Path) -> str:
    return (f"published {working} -> {result.path}: {result.size_bytes:,} bytes, {len(result.tables)} tables, "
            f"{len(result.views)} views, mode {result.mode:04o}, owner {result.uid}:{result.gid} "
            f"({result.owner_note})\ntables: {', '.join(result.tables)}\nviews: {', '.join(result.views)}")


def build_and_publish(dbt_args: list[str], working: Path, published: Path, project_dir: Path,
                      wait: bool = True) -> int:
    """Run ``dbt build`` on ``working``; publish to ``published`` only if every node ran and passed.

    The publish lock is held from before the build to the end, so that publishes of one file run one
    after the other. dbt runs in its own process group: SIGINT or SIGTERM is forwarded to it, dbt is
    waited for, temporary files are removed and the exit code is 128 + the signal number. Returns
    dbt's exit code, 2 for a refusal, 0 when published. dbt's output goes to this process's stdout/stderr.
    """
    working, published = Path(working).absolute(), served_file(published)
    refuse_partial_build(dbt_args)
    _refuse_same_file(working, published)
    storage_version()
    dbt = shutil.which("dbt", path=str(Path(sys.executable).parent)) or shutil.which("dbt")
    if dbt is None:
        raise PublishError("dbt executable not found next to this Python or on PATH")
    target_path = dbt_target_path(dbt_args, project_dir)
    working.parent.mkdir(parents=True, exist_ok=True)
    published.parent.mkdir(parents=True, exist_ok=True)
    previous = {signum: signal.signal(signum, _raise_interrupted) for signum in (signal.SIGINT, signal.SIGTERM)}
    served_inode: int | None = -1   # the served file's inode once the lock is held (None: no file yet)
    done: Published | None = None
    process: subprocess.Popen | None = None
    try:
        with publish_lock(published, wait):
            served_inode = published.stat().st_ino if published.exists() else None
            started = time.time()
            if working.exists():
                working.chmod(0o600)  # as _dbt_child_setup makes a new one: readers use the served file
            process = subprocess.Popen([dbt, "build", *dbt_args], cwd=project_dir,
                                       env={**os.environ, "SEGMENTS_DB": str(working)}, start_new_session=True,
                                       preexec_fn=_dbt_child_setup)
            try:
                returncode = process.wait()
            except Interrupted as interrupted:
                _stop(process, interrupted.signum)
                raise
            if returncode != 0:
                print(f"dbt build failed (exit {returncode}): {published} left as it was", file=sys.stderr)
                return returncode
            relations = completed_relations(target_path, working, since=started)
            done = _publish_locked(working, published, relations)
    except Interrupted as interrupted:
        # A signal right after the rename still finds the new file served.
        replaced = served_inode != -1 and published.exists() and published.stat().st_ino != served_inode
        state = "published" if replaced else "left as it was"
        stopped = "dbt stopped, " if process is not None else ""
        print(f"interrupted by {signal.Signals(interrupted.signum).name}: {stopped}{published} {state}",
              file=sys.stderr)
        return 128 + interrupted.signum
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print(_describe(done, working))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="dbt build into the working file (SEGMENTS_DB), then publish a fresh copy atomically to "
                    "SEGMENTS_PUBLISHED. Unknown arguments go to `dbt build`; selection options are refused.")
    parser.add_argument("--working", type=Path, default=None, help=f"default: $SEGMENTS_DB or {DEFAULT_WORKING}")
    parser.add_argument("--published", type=Path, default=None,
                        help=f"default: $SEGMENTS_PUBLISHED or {DEFAULT_PUBLISHED}")
    parser.add_argument("--project-dir", type=Path, default=Path.cwd(), help="dbt project root (default: cwd)")
    parser.add_argument("--no-wait", action="store_true",
                        help="exit with a message instead of waiting when another publish of the file runs")
    args, dbt_args = parser.parse_known_args(argv)
    try:
        check_environment()
        working = args.working or working_path()
        published = args.published or published_path()
        return build_and_publish(dbt_args, working, published, args.project_dir, wait=not args.no_wait)
    except (PublishError, OSError, SettingsError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
