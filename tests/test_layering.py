"""The packages' layering, read from the source's imports (every ``import`` statement, also inside functions):

- ``protocol``, the wire kernel every role shares, imports nothing else of the project, nor torch or a network
  stack (a ledger installs it without them);
- ``ledger`` imports only ``protocol`` (and its own ``migrations``): never the server, client, verifier or API;
- ``node`` and ``verifier`` never import ``ledger`` or ``api``: they reach the ledger over REST or the DHT.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = frozenset({"protocol", "node", "ledger", "verifier", "api", "migrations", "swarmtrust", "bench", "tests"})
HEAVY = frozenset({"torch", "transformers", "hivemind", "httpx", "fastapi", "sqlalchemy"})  # not NumPy or SciPy
FORBIDDEN = {
    "protocol": (PROJECT - {"protocol"}) | HEAVY,
    "ledger": PROJECT - {"protocol", "ledger", "migrations"},  # its schema's migrations are its own
    "node": frozenset({"ledger", "api"}),
    "verifier": frozenset({"ledger", "api"}),
}


def imported_roots(path: Path) -> Iterator[tuple[int, str]]:
    """(line, top-level name) of every absolute import in the file."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def violations(package: str, forbidden: frozenset[str]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for line, name in imported_roots(path)
        if name in forbidden
    ]


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_only_what_its_layer_may(package: str) -> None:
    assert (ROOT / package / "__init__.py").is_file()
    assert violations(package, FORBIDDEN[package]) == []


def test_the_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    """The rule reads nested and ``from`` imports, so a lazy import cannot slip past it."""
    source = tmp_path / "module.py"
    source.write_text("import os\n\ndef late():\n    from ledger.store import Ledger\n    import api.app as app\n")
    assert sorted(name for _, name in imported_roots(source)) == ["api", "ledger", "os"]


@pytest.mark.processes  # a fresh interpreter per module, to see what importing it loads
@pytest.mark.parametrize("module", ["ledger.reputation", "ledger.consensus", "protocol.receipts", "protocol.signing"])
def test_pure_modules_load_without_the_sql_stack_or_torch(module: str) -> None:
    """Importing a package's pure module runs its package's ``__init__``: it must not pull the heavy stacks in."""
    probe = f"import sys, {module}; print(sorted(m for m in ('sqlalchemy', 'torch', 'fastapi') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


PACKAGES = sorted(
    path.parent.relative_to(ROOT)
    for path in ROOT.glob("*/**/__init__.py")
    if path.parts[len(ROOT.parts)] in PROJECT - {"tests", "bench", "migrations"}
)


@pytest.mark.parametrize("package", PACKAGES, ids=str)
def test_a_package_docstring_maps_every_module(package: Path) -> None:
    """Each package's opening docstring names each of its modules and sub-packages (as ``name``), so that
    reading ``__init__.py`` is a complete map of the package."""
    folder = ROOT / package
    docstring = ast.get_docstring(ast.parse((folder / "__init__.py").read_text())) or ""
    members = [p.stem for p in folder.glob("*.py") if p.stem not in ("__init__", "__main__")]
    members += [p.name for p in folder.iterdir() if (p / "__init__.py").is_file()]
    assert sorted(m for m in members if f"``{m}``" not in docstring) == []
