"""The lint and type gate: ruff over the tree, mypy (strict) over the package, as pyproject.toml sets them.

These tests only run the two tools (installed by the ``test`` extra), so the README's one
test command checks style and types too.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def _run(*tool: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *tool], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing() -> None:
    done = _run("ruff", "check", "--no-cache", "--output-format", "concise", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_finds_nothing() -> None:
    done = _run("mypy")
    assert done.returncode == 0, done.stdout + done.stderr


def test_modules_import_only_modules_before_them_in_the_layer_list() -> None:
    """The order in blurwatch/__init__.py's docstring: the core never imports the edge, nothing imports back."""
    package = ROOT / "daemon" / "blurwatch"
    listed = re.findall(r"^  (?:core|edge):\s+(.+)$", (package / "__init__.py").read_text(), re.M)
    order = [name.strip() for line in listed for name in line.split(",")]
    modules = {path.stem for path in package.glob("*.py")} - {"__init__", "__main__"} | {"commands"}
    assert sorted(order) == sorted(modules), "every module is in the list once"
    for path in [*package.glob("*.py"), *package.glob("commands/*.py")]:
        name = "commands" if path.parent.name == "commands" else path.stem
        if name in ("__init__", "__main__"):
            continue
        for imported in _blurwatch_imports(path) - {name}:
            assert order.index(imported) < order.index(name), f"{path} imports {imported}, after it in the list"


def _blurwatch_imports(path: Path) -> set[str]:
    """The blurwatch modules a file imports (``commands`` for any of its modules)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("blurwatch"):
            parts = node.module.split(".")
            if len(parts) > 1:
                found.add(parts[1])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("blurwatch."))
    return found - {"__version__"}
