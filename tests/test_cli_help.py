"""Every command's ``--help`` reads at 80 columns: no line wider than the terminal, no option name cut short."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from swarmtrust.cli import app


def commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command under ``group`` (typer's own click commands: read by duck typing)."""
    yield path, group
    for name, command in sorted(getattr(group, "commands", {}).items()):
        yield from commands(command, (*path, name))


ALL = list(commands(typer.main.get_command(app)))


def test_the_walk_finds_the_commands_users_run() -> None:
    names = {" ".join(path) for path, _ in ALL}
    assert {"node start", "verifier start", "api serve", "generate", "ledger audit", "demo"} <= names


@pytest.mark.parametrize(("path", "command"), ALL, ids=[" ".join(path) or "swarmtrust" for path, _ in ALL])
def test_help_fits_80_columns_with_every_option_whole(path: tuple[str, ...], command: Any) -> None:
    shown = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert shown.exit_code == 0, shown.output
    wide = [line for line in shown.output.splitlines() if len(line) > 80]
    assert wide == []
    assert "…" not in shown.output
    for parameter in command.params:
        if parameter.param_type_name == "option" and not parameter.hidden:
            for name in parameter.opts:
                assert name in shown.output, f"{name} missing from the help of {' '.join(path)}"
