"""The shape the style guide asks for, checked: thin dbt Python models, modules a reader can hold in
their head, one properties YAML per model, development tools outside the package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "python" / "customer_segments"
#: "No module passes about 400 lines."
MAX_MODULE_LINES = 400
#: A dbt Python model reads refs, parses settings and calls one package function.
MAX_MODEL_LINES = 25
WINGS = {"ingest", "products", "segmentation", "prediction", "campaigns", "delivery"}


def python_models() -> list[Path]:
    return sorted((ROOT / "models").rglob("*.py"))


def test_every_module_of_the_package_is_short_enough():
    long = {str(path.relative_to(ROOT)): n for path in PACKAGE.rglob("*.py")
            if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_the_package_has_wings_that_follow_the_dag_and_no_tools():
    top_level = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__"}
    folders = {path.name for path in PACKAGE.iterdir() if path.is_dir() and (path / "__init__.py").exists()}
    # Leaves every wing uses, importing nothing of the project: the vars and the build notes.
    assert top_level == {"settings", "notes"}, f"only the settings and notes leaves sit at the top of the package: {top_level}"
    assert folders == WINGS
    assert not any(name in {"generate", "benchmark", "pandas_reference"}
                   for name in (path.stem for path in PACKAGE.rglob("*.py")))


def test_every_dbt_python_model_is_thin():
    assert python_models()
    for path in python_models():
        source = path.read_text()
        tree = ast.parse(source)
        functions = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
        imports = [node for node in tree.body if isinstance(node, ast.ImportFrom | ast.Import)]
        assert len(source.splitlines()) <= MAX_MODEL_LINES, f"{path.name} is over {MAX_MODEL_LINES} lines"
        assert functions == ["model"], f"{path.name} defines {functions}: logic belongs in the package"
        for node in imports:
            module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            # pandas only to frame rows of the settings leaf, which imports nothing but the standard library.
            assert module.startswith("customer_segments.") or module == "pandas", f"{path.name} imports {module}"


def test_every_model_has_its_own_properties_yaml():
    for model in sorted(p for p in (ROOT / "models").rglob("*") if p.suffix in {".sql", ".py"}):
        own = model.with_suffix(".yml")
        assert own.exists(), f"{model.relative_to(ROOT)} has no {own.name} beside it"
        assert re.search(rf"^\s*- name: {model.stem}\s*$", own.read_text(), re.M), f"{own.name} does not describe {model.stem}"
