"""Each role installs only its extra (pyproject.toml): the command line works without the others' packages, and
a command whose extra is missing says which one to install. A missing extra is simulated by refusing its
modules' imports in a fresh interpreter that runs the ``swarmtrust`` command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from swarmtrust.node.console import EXTRA_OF

pytestmark = pytest.mark.processes  # runs the command in fresh interpreters

ROOT = Path(__file__).resolve().parents[1]
RUN_WITHOUT = """
import importlib.abc, sys
blocked = set(sys.argv[1].split(","))
class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Missing())
sys.argv = ["swarmtrust", *sys.argv[2:]]
from swarmtrust.cli import main
main()
"""


def without(extra: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``swarmtrust ARGS`` on a machine that lacks ``extra``'s packages."""
    blocked = ",".join(module for module, owner in EXTRA_OF.items() if owner == extra)
    command = [sys.executable, "-c", RUN_WITHOUT, blocked, *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("extra", ["node", "ledger", "plots"])
def test_the_command_line_loads_without_any_one_extra(extra: str) -> None:
    for args in (["--help"], ["ledger", "--help"], ["node", "--help"], ["verifier", "--help"], ["api", "--help"]):
        done = without(extra, *args)
        assert done.returncode == 0, (args, done.stderr[-500:])


def test_a_ledger_machine_needs_no_torch(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    assert without("node", "ledger", "upgrade", "--db", url).returncode == 0
    audited = without("node", "ledger", "audit", "--db", url)
    assert audited.returncode == 0 and "clean" in audited.stdout, audited.stderr[-500:]


def test_a_node_machine_needs_no_sql_stack(tmp_path: Path) -> None:
    made = without("ledger", "node", "keygen", "--out", str(tmp_path / "node.key"))
    assert made.returncode == 0, made.stderr[-500:]
    assert (tmp_path / "node.key").is_file()


def test_a_command_without_its_extra_says_which_to_install(tmp_path: Path) -> None:
    done = without("ledger", "ledger", "upgrade", "--db", f"sqlite:///{tmp_path / 'ledger.db'}")
    assert done.returncode == 1
    assert "pip install 'swarmtrust[ledger]'" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "ledger.db").exists(), "nothing was written"
