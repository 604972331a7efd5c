"""The packages' layering, read from the source's imports (every ``import`` statement, also inside functions):

- ``protocol``, the wire kernel every role shares, imports nothing else of the project, nor torch or a network
  stack (a ledger installs it without them);
- ``ledger`` imports only ``protocol`` (and its own ``migrations``): never the server, client, verifier or API;
- ``node`` and ``verifier`` never import ``ledger`` or ``api``: they reach the ledger over REST or the DHT.
"""

from __future__ import annotations

import ast
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
