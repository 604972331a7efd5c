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
PACKAGE = ROOT / "swarmtrust"
LAYERS = frozenset({"protocol", "node", "ledger", "verifier", "api", "migrations"})  # swarmtrust's sub-packages
PROJECT = LAYERS | {"swarmtrust", "bench", "tests"}  # "swarmtrust": the top level (command line, demo, simulation)
HEAVY = frozenset({"torch", "transformers", "hivemind", "httpx", "fastapi", "sqlalchemy"})  # not NumPy or SciPy
FORBIDDEN = {
    "protocol": (PROJECT - {"protocol"}) | HEAVY,
    "ledger": PROJECT - {"protocol", "ledger", "migrations"},  # its schema's migrations are its own
    "node": frozenset({"ledger", "api"}),
    "verifier": frozenset({"ledger", "api"}),
}


def layer_of(module: str) -> str:
    """The layer an absolute module name belongs to: a sub-package of ``swarmtrust``, the top level
    ``swarmtrust``, ``bench``, ``tests``, or the root name of a third-party module."""
    parts = module.split(".")
    if parts[0] == "swarmtrust":
        return parts[1] if len(parts) > 1 and parts[1] in LAYERS else "swarmtrust"
    return parts[0]


def imported_layers(source: str, path: Path) -> Iterator[tuple[int, str]]:
    """(line, layer) of every import in ``source`` (the text of ``path``), relative imports resolved against the
    file's own package."""
    package = list(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, layer_of(alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            if module == "swarmtrust":  # `from swarmtrust import ledger`: the imported names may be layers
                yield from ((node.lineno, layer_of(f"swarmtrust.{alias.name}")) for alias in node.names)
            else:
                yield node.lineno, layer_of(module)


def violations(layer: str, forbidden: frozenset[str]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sorted((PACKAGE / layer).rglob("*.py"))
        for line, name in imported_layers(path.read_text(), path)
        if name in forbidden
    ]


def python_files() -> list[Path]:
    return sorted(path for folder in ("swarmtrust", "tests", "bench") for path in (ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_package_imports_only_what_its_layer_may(layer: str) -> None:
    assert (PACKAGE / layer / "__init__.py").is_file()
    assert violations(layer, FORBIDDEN[layer]) == []


def test_the_project_is_imported_through_its_namespace() -> None:
    """Every module is ``swarmtrust.<layer>``: a bare ``import ledger`` would load a second copy of a module
    (its classes distinct from the first's) or fail outside a checkout."""
    bare = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in python_files()
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if (isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] in LAYERS)
        or (isinstance(node, ast.Import) and any(a.name.split(".")[0] in LAYERS for a in node.names))
    ]
    assert bare == []


def test_the_check_sees_imports_inside_functions_and_relative_ones() -> None:
    """The rule reads nested, ``from`` and relative imports, so a lazy import cannot slip past it."""
    source = (
        "import os\n\ndef late():\n    from swarmtrust.ledger.store import Ledger\n"
        "    import swarmtrust.api.app as app\n    from ..protocol import keys\n    from swarmtrust import cli\n"
    )
    found = sorted(name for _, name in imported_layers(source, PACKAGE / "node" / "sample.py"))
    assert found == ["api", "ledger", "os", "protocol", "swarmtrust"]


@pytest.mark.processes  # a fresh interpreter per module, to see what importing it loads
@pytest.mark.parametrize(
    "module",
    [
        f"swarmtrust.{name}"
        for name in ("ledger.reputation", "ledger.consensus", "protocol.receipts", "protocol.signing")
    ],
)
def test_pure_modules_load_without_the_sql_stack_or_torch(module: str) -> None:
    """Importing a package's pure module runs its package's ``__init__``: it must not pull the heavy stacks in."""
    probe = f"import sys, {module}; print(sorted(m for m in ('sqlalchemy', 'torch', 'fastapi') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]"


PACKAGES = sorted(
    path.parent.relative_to(ROOT) for path in PACKAGE.glob("**/__init__.py") if "migrations" not in path.parts
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
