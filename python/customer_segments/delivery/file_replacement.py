"""Replace the published file atomically with a fresh file holding one build, under a lock.

The new file is written table by table from the working file (``CREATE TABLE ... AS SELECT``), not
copied byte for byte: it holds only the relations of the current build, and none of the free blocks
in which a working file reused across builds keeps earlier builds' data. It replaces the served file
with one ``os.replace`` (a rename within one file system, atomic on POSIX) and keeps the permission
bits and owner of the file it replaces. Readers already connected keep the old file's inode, a
consistent snapshot, until every connection of their process to that file is closed
(docs/publishing.md). One publisher of a file at a time: ``fcntl.flock`` on a lock file beside it.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from customer_segments.delivery.published import storage_version
from customer_segments.settings import check_environment, sql_identifier, sql_literal

#: Permission bits of a first publish (no file to take them from), further restricted by the umask:
#: owner read-write, group read, others nothing. Customer data is never world-readable by default.
DEFAULT_MODE = 0o640


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


def refuse_same_file(working: Path, published: Path) -> None:
    """PublishError when ``working`` and ``published`` are one file: readers would open what dbt writes."""
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


def publish_locked(working: Path, published: Path, relations: Sequence[Relation]) -> Published:
    """Replace ``published`` with a fresh file of ``relations`` of ``working``; the caller holds
    :func:`publish_lock` of ``published`` (see :func:`publish_build`)."""
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
        What to publish, as :func:`customer_segments.delivery.dbt_process.completed_relations` checked
        it; default: every table and view of ``working`` (for a working file known to hold one whole
        build and nothing else).
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
    refuse_same_file(working, published)
    if not working.is_file():
        raise PublishError(f"{working}: working database not found; run the build first")
    published.parent.mkdir(parents=True, exist_ok=True)
    with publish_lock(published, wait):
        return publish_locked(working, published, relations if relations is not None else working_relations(working))


def publish(working: Path, published: Path) -> Path:
    """:func:`publish_build` of every relation of ``working``; returns ``published``."""
    return publish_build(working, published).path

