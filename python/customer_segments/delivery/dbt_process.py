"""dbt as the publisher's child: what may be published, and running `dbt build` so that it stops with us.

A publish is a whole build of the project or nothing: selection and target options are refused before
dbt runs, and the run results must show every model, seed and test of the project run and passed. dbt
runs in its own process group with a umask that keeps the working file the owner's; SIGINT or SIGTERM
reaching the publisher is forwarded to it, and the kernel stops it (parent-death signal) if the
publisher is killed, so no build goes on writing after the publish lock is released.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import yaml

from customer_segments.delivery.file_replacement import PublishError, Relation
from customer_segments.settings import BY_NAME

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


def _option_value(dbt_args: Sequence[str], option: str) -> str | None:
    """The value of the last ``option x`` or ``option=x`` in ``dbt_args`` (None when absent)."""
    value: str | None = None
    for i, arg in enumerate(dbt_args):
        if arg == option and i + 1 < len(dbt_args):
            value = dbt_args[i + 1]
        elif arg.startswith(option + "="):
            value = arg.split("=", 1)[1]
    return value


def planned_input(dbt_args: Sequence[str], project_dir: Path, environ: Mapping[str, str] | None = None) -> str:
    """The absolute input path ``dbt build`` with ``dbt_args`` will read: var transactions_path of ``--vars``
    (YAML, as dbt reads it), else env SEGMENTS_DATA, else the var's default; relative to the project root,
    as build_info.input_path records it."""
    given = yaml.safe_load(_option_value(dbt_args, "--vars") or "{}")
    path = given.get("transactions_path") if isinstance(given, dict) else None
    if path in (None, ""):
        path = (environ if environ is not None else os.environ).get("SEGMENTS_DATA") or BY_NAME["transactions_path"].default
    return os.path.abspath(Path(project_dir) / str(path))


def dbt_target_path(dbt_args: Sequence[str], project_dir: Path, environ: dict[str, str] | None = None) -> Path:
    """The directory dbt writes manifest.json and run_results.json to: ``--target-path``, env
    ``DBT_TARGET_PATH`` or ``target`` (dbt_project.yml), relative to the project directory."""
    value = _option_value(dbt_args, "--target-path")
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


# ---------- dbt as a child process

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


def _dbt_child_setup() -> None:
    """Runs in the dbt child before it starts: files it creates are the owner's only (the working file
    holds every customer's data), and it is sent SIGTERM if the publisher dies, even by SIGKILL (Linux),
    so that no build goes on writing after the lock is released."""
    os.umask(0o077)
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM))


@contextmanager
def signals_interrupt() -> Iterator[None]:
    """Within the block SIGINT and SIGTERM raise :class:`Interrupted`; the previous handlers come back after."""
    previous = {signum: signal.signal(signum, _raise_interrupted) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def find_dbt() -> str:
    """The dbt executable next to this Python (the project's virtualenv), else the one on PATH."""
    dbt = shutil.which("dbt", path=str(Path(sys.executable).parent)) or shutil.which("dbt")
    if dbt is None:
        raise PublishError("dbt executable not found next to this Python or on PATH")
    return dbt


def start_dbt_build(dbt: str, dbt_args: Sequence[str], project_dir: Path, working: Path) -> subprocess.Popen:
    """Start ``dbt build`` writing ``working``, in its own process group, its output on ours."""
    return subprocess.Popen([dbt, "build", *dbt_args], cwd=project_dir, env={**os.environ, "SEGMENTS_DB": str(working)},
                            start_new_session=True, preexec_fn=_dbt_child_setup)


def wait_for_dbt(process: subprocess.Popen) -> int:
    """dbt's exit code; on :class:`Interrupted`, the signal is forwarded, dbt waited for, and it is raised again."""
    try:
        return process.wait()
    except Interrupted as interrupted:
        _stop(process, interrupted.signum)
        raise
