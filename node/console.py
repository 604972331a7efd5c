"""Running a typer app as a command: domain errors become one line on stderr and exit status 1."""

from __future__ import annotations

import sys

import typer

from protocol.errors import SwarmtrustError

ERROR_EXIT = 1


def run_app(app: typer.Typer, prog_name: str) -> None:
    try:
        app(prog_name=prog_name)
    except SwarmtrustError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(ERROR_EXIT)
