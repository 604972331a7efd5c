"""Running a typer app as a command: domain errors become one line on stderr and exit status 1."""

from __future__ import annotations

import sys

import typer

from node.errors import SwarmtrustError

ERROR_EXIT = 1


def run_app(app: typer.Typer, prog_name: str) -> None:
    try:
        app(prog_name=prog_name)
    except SwarmtrustError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(ERROR_EXIT)


NOT_BUILT_EXIT = 2


def unbuilt_command(app: typer.Typer, name: str, full_name: str, what: str, *, issue: int) -> None:
    """Register ``name`` on ``app`` as a command of the contract that is not built yet.

    It accepts any arguments, prints on stderr that it is not built, and exits with status 2: it never
    pretends to work.
    """

    def command() -> None:
        typer.echo(
            f"swarmtrust {full_name}: not built yet ({what}; planned in issue #{issue}). Nothing was done.",
            err=True,
        )
        raise typer.Exit(NOT_BUILT_EXIT)

    app.command(
        name=name,
        help=f"[not built yet] {what[0].upper()}{what[1:]}.",
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    )(command)
